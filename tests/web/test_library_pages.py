"""The library page and ``GET /api/v1/videos`` with cursors; the video page's edit form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from quart import Quart
from quart.typing import TestClientProtocol as Client

from streamforge.db.models import Privacy, Role, Video, VideoStatus
from streamforge.library import listing
from streamforge.runtime import Runtime
from streamforge.web.pages import PAGE_SIZE
from tests.authn import bearer_client, make_account
from tests.web.helpers import add_ready_video, add_video

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def add_many(rt: Runtime, count: int) -> list[str]:
    """``count`` public videos, ids in newest-first order."""
    async with rt.db.session() as s:
        for n in range(count):
            s.add(
                Video(
                    id=f"lib{n:04d}",
                    title=f"Video {n:04d}",
                    status=VideoStatus.READY,
                    created_at=T0 + timedelta(seconds=n),
                )
            )
    return [f"lib{n:04d}" for n in reversed(range(count))]


def card_ids(html: str) -> list[str]:
    return re.findall(r'<article class="card[^"]*" data-video-id="([^"]+)"', html)


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return unescape(found.group(1)) if found else None


async def test_next_and_previous_links_walk_the_whole_library(client: Client, rt: Runtime) -> None:
    newest_first = await add_many(rt, PAGE_SIZE * 2 + 5)
    html = await (await client.get("/")).get_data(as_text=True)
    assert f"{PAGE_SIZE * 2 + 5} videos" in html
    assert link(html, "prev") is None
    pages = [card_ids(html)]
    while (next_url := link(html, "next")) is not None:
        assert next_url.startswith("?q=&sort=newest&cursor=")
        html = await (await client.get("/" + next_url)).get_data(as_text=True)
        pages.append(card_ids(html))
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 5]
    assert [i for p in pages for i in p] == newest_first
    prev_url = link(html, "prev")
    assert prev_url is not None
    assert link(html, "first") == "?q=&sort=newest"
    html = await (await client.get("/" + prev_url)).get_data(as_text=True)
    assert card_ids(html) == pages[1]


async def test_search_and_sort_carry_over_to_the_next_page(client: Client, rt: Runtime) -> None:
    await add_many(rt, PAGE_SIZE + 3)
    await add_video(rt, "other", VideoStatus.READY, title="Something else")
    html = await (await client.get("/?q=video&sort=title")).get_data(as_text=True)
    assert f"{PAGE_SIZE + 3} videos" in html
    next_url = link(html, "next")
    assert next_url is not None
    assert next_url.startswith("?q=video&sort=title&cursor=")
    html = await (await client.get("/" + next_url)).get_data(as_text=True)
    assert card_ids(html) == ["lib0024", "lib0025", "lib0026"]


async def test_old_page_links_still_work(client: Client, rt: Runtime) -> None:
    newest_first = await add_many(rt, PAGE_SIZE + 2)
    html = await (await client.get("/?page=2")).get_data(as_text=True)
    assert card_ids(html) == newest_first[PAGE_SIZE:]
    assert link(html, "prev") is not None
    assert link(html, "next") is None


async def test_a_bad_cursor_is_a_themed_400(client: Client) -> None:
    response = await client.get("/?cursor=garbage")
    assert response.status_code == 400
    html = await response.get_data(as_text=True)
    assert "<h1>400</h1>" in html
    assert "cursor is not a cursor of the &#39;newest&#39; sort" in html


async def test_search_without_results_says_so(client: Client, rt: Runtime) -> None:
    await add_video(rt, "v1", VideoStatus.READY, title="Kayak")
    html = await (await client.get("/?q=zeppelin")).get_data(as_text=True)
    assert "No video matches “zeppelin”." in html
    assert "No videos yet" not in html


async def test_cards_show_poster_title_duration_and_status(client: Client, rt: Runtime) -> None:
    await add_ready_video(rt, title="Sunset")
    await add_video(rt, "procvid0001", VideoStatus.PROCESSING, progress=61.0)
    html = await (await client.get("/")).get_data(as_text=True)
    ready = html[html.index('data-video-id="readyvid001"') :]
    assert '<img src="/media/readyvid001/poster.jpg"' in ready
    assert '<span class="duration">0:03</span>' in ready
    assert '<h2 class="title">Sunset</h2>' in ready
    busy = html[html.index('data-video-id="procvid0001"') :]
    assert '<span class="progress-text">61%</span>' in busy
    assert '<progress max="100" value="61.0"' in busy
    assert "/static/js/status.js?v=" in html


async def test_api_pages_with_cursors_and_stays_compatible(client: Client, rt: Runtime) -> None:
    newest_first = await add_many(rt, 7)
    await add_video(rt, "hidden", VideoStatus.READY, privacy=Privacy.UNLISTED)
    first = await (await client.get("/api/v1/videos?limit=3")).get_json()
    assert set(first) == {"items", "total", "limit", "offset", "next_cursor", "prev_cursor"}
    assert (first["total"], first["limit"], first["offset"]) == (7, 3, 0)
    assert first["prev_cursor"] is None
    seen = [v["id"] for v in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        body = await (await client.get(f"/api/v1/videos?limit=3&cursor={cursor}")).get_json()
        seen += [v["id"] for v in body["items"]]
        cursor = body["next_cursor"]
    assert seen == newest_first
    by_offset = await (await client.get("/api/v1/videos?limit=3&offset=3")).get_json()
    assert [v["id"] for v in by_offset["items"]] == newest_first[3:6]
    both = await client.get(f"/api/v1/videos?offset=3&cursor={first['next_cursor']}")
    assert both.status_code == 400
    assert (await both.get_json())["error"]["message"] == "give either cursor or offset, not both"
    wrong_sort = await client.get(f"/api/v1/videos?sort=title&cursor={first['next_cursor']}")
    assert wrong_sort.status_code == 400
    spec = await (await client.get("/openapi.json")).get_json()
    params = {p["name"] for p in spec["paths"]["/api/v1/videos"]["get"]["parameters"]}
    assert {"q", "status", "sort", "limit", "offset", "cursor"} <= params


async def test_video_page_has_the_edit_form_and_delete(client: Client, rt: Runtime) -> None:
    await add_video(
        rt, "vid1", VideoStatus.READY, title="Old <title>", description="", privacy=Privacy.UNLISTED
    )
    html = await (await client.get("/v/vid1")).get_data(as_text=True)
    actions = html[html.index('<section class="video-actions"') :]
    actions = actions[: actions.index("</section>")]
    assert 'data-video-actions="vid1"' in actions
    # js/status.js takes every [data-video-id] for a card to keep live
    assert "data-video-id" not in actions
    assert " hidden>" in actions  # shown by the script: without it the page is read-only
    assert 'value="Old &lt;title&gt;"' in actions
    assert '<option value="unlisted" selected>' in actions
    assert '<option value="public">' in actions
    assert "data-delete-video" in actions
    assert "/static/js/video-actions.js?v=" in html


async def test_an_unknown_sort_is_refused_naming_the_choices(client: Client) -> None:
    page = await client.get("/?sort=views")
    assert page.status_code == 400
    assert "sort must be one of newest, oldest, title" in await page.get_data(as_text=True)
    api = await client.get("/api/v1/videos?sort=views")
    assert api.status_code == 400
    [problem] = (await api.get_json())["error"]["details"]
    assert problem == {"field": "sort", "message": "Input should be 'newest', 'oldest' or 'title'"}
    spec = await (await client.get("/openapi.json")).get_json()
    [sort] = [
        p for p in spec["paths"]["/api/v1/videos"]["get"]["parameters"] if p["name"] == "sort"
    ]
    assert sort["schema"]["enum"] == list(listing.ORDERS)


async def test_an_edit_out_of_bounds_is_refused_and_changes_nothing(
    client: Client, rt: Runtime
) -> None:
    await add_video(rt, "v1", VideoStatus.READY, title="Kept")
    long_title = await client.patch("/api/v1/videos/v1", json={"title": "x" * 201})
    assert long_title.status_code == 400
    [problem] = (await long_title.get_json())["error"]["details"]
    assert problem["field"] == "title"
    assert "at most 200 characters" in problem["message"]
    long_text = await client.patch("/api/v1/videos/v1", json={"description": "y" * 10_001})
    assert long_text.status_code == 400
    assert (await long_text.get_json())["error"]["details"][0]["field"] == "description"
    missing = await client.patch("/api/v1/videos/nope", json={"title": "New"})
    assert missing.status_code == 404
    body = await (await client.get("/api/v1/videos/v1")).get_json()
    assert (body["title"], body["description"]) == ("Kept", "")
    exactly = await client.patch("/api/v1/videos/v1", json={"title": "z" * 200})
    assert (await exactly.get_json())["title"] == "z" * 200


async def test_those_who_may_not_edit_get_no_form_and_a_403(
    app: Quart, client: Client, rt: Runtime
) -> None:
    owner, _ = await make_account(rt.db, "owner", Role.UPLOADER)
    _, token = await make_account(rt.db, "other", Role.UPLOADER)
    await add_video(rt, "v1", VideoStatus.READY, title="Theirs", owner_id=owner.id)
    assert "data-video-actions" in await (await client.get("/v/v1")).get_data(as_text=True)
    other = bearer_client(app, token)
    html = await (await other.get("/v/v1")).get_data(as_text=True)
    assert "<h1>Theirs</h1>" in html
    assert "data-video-actions" not in html
    assert "video-actions.js" not in html
    for response in (
        await other.patch("/api/v1/videos/v1", json={"title": "Mine"}),
        await other.delete("/api/v1/videos/v1"),
    ):
        assert response.status_code == 403
        assert await response.get_json() == {
            "error": {
                "status": 403,
                "code": "forbidden",
                "message": "only its owner or an admin may change video 'v1'",
            }
        }
    assert (await (await client.get("/api/v1/videos/v1")).get_json())["title"] == "Theirs"


async def test_video_page_shows_title_description_and_date(client: Client, rt: Runtime) -> None:
    await add_video(
        rt,
        "vid2",
        VideoStatus.READY,
        title="Harbour",
        description="Boats <b>leaving</b>",
        created_at=T0 + timedelta(days=40, hours=5),
    )
    html = await (await client.get("/v/vid2")).get_data(as_text=True)
    assert "<h1>Harbour</h1>" in html
    assert '<div class="description">Boats &lt;b&gt;leaving&lt;/b&gt;</div>' in html
    assert '<time datetime="2026-02-10T05:00:00+00:00">2026-02-10</time>' in html
