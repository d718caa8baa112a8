"""The permission matrix: route × who asks × the video's privacy, with the exact status
codes, through the app's test client on a real SQLite file.

Who asks: nobody (anonymous), a viewer, the uploader who owns the videos, another
uploader, an admin; each known one with its own API token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from quart import Quart

from streamforge.db.models import JobState, Privacy, Role
from streamforge.runtime import Runtime
from tests.authn import bearer_client, make_account
from tests.web.helpers import add_ready_video
from tests.web.test_admin import add_job

WHO = ("anonymous", "viewer", "owner", "other", "admin")
ROLES = {"viewer": Role.VIEWER, "owner": Role.UPLOADER, "other": Role.UPLOADER, "admin": Role.ADMIN}
PRIVACIES = (Privacy.PUBLIC, Privacy.UNLISTED, Privacy.PRIVATE)


@dataclass
class World:
    app: Quart
    rt: Runtime
    clients: dict[str, Any]
    owner_id: str

    async def video(self, privacy: Privacy, name: str) -> str:
        return await add_ready_video(
            self.rt,
            f"{name}{privacy.value[:3]}".ljust(11, "0")[:11],
            privacy=privacy,
            owner_id=self.owner_id,
        )


@pytest.fixture
async def world(app: Quart, rt: Runtime) -> World:
    clients: dict[str, Any] = {"anonymous": app.test_client()}
    owner_id = ""
    for who, role in ROLES.items():
        account, token = await make_account(rt.db, who, role)
        clients[who] = bearer_client(app, token)
        if who == "owner":
            owner_id = account.id
    return World(app, rt, clients, owner_id)


def table(public: list[int], unlisted: list[int], private: list[int]) -> dict[Privacy, list[int]]:
    """Expected codes per privacy, in the order of ``WHO``."""
    return {Privacy.PUBLIC: public, Privacy.UNLISTED: unlisted, Privacy.PRIVATE: private}


async def matrix(world: World, expected: dict[Privacy, list[int]], call: Any) -> None:
    found: dict[Privacy, list[int]] = {}
    for privacy in PRIVACIES:
        found[privacy] = []
        for who in WHO:
            video_id = await world.video(privacy, who[:4])
            response = await call(world.clients[who], video_id)
            found[privacy].append(response.status_code)
    assert found == expected


WATCH = table(
    public=[200, 200, 200, 200, 200],
    unlisted=[200, 200, 200, 200, 200],  # by its link
    private=[404, 404, 200, 404, 200],  # not even its existence is told
)


async def test_the_video_json(world: World) -> None:
    await matrix(world, WATCH, lambda c, v: c.get(f"/api/v1/videos/{v}"))


async def test_the_video_page(world: World) -> None:
    await matrix(world, WATCH, lambda c, v: c.get(f"/v/{v}"))


@pytest.mark.parametrize(
    "rel", ["hls/master.m3u8", "hls/360p/seg_00000.m4s", "thumbs/thumbnails.vtt", "poster.jpg"]
)
async def test_media_without_a_link_token(world: World, rel: str) -> None:
    # an unlisted video's id is its link: its files open like its page; a private
    # video's files need a link token or an account that may watch it
    expected = table(
        public=[200, 200, 200, 200, 200],
        unlisted=[200, 200, 200, 200, 200],
        private=[404, 404, 200, 404, 200],
    )
    await matrix(world, expected, lambda c, v: c.get(f"/media/{v}/{rel}"))


async def test_media_by_the_link_in_the_json(world: World) -> None:
    """Whoever may see the JSON gets URLs that open the files, even without an account."""
    anonymous = world.clients["anonymous"]
    for privacy in PRIVACIES:
        video_id = await world.video(privacy, "link")
        body = await (await world.clients["owner"].get(f"/api/v1/videos/{video_id}")).get_json()
        for url in (body["hls_url"], body["poster_url"], body["renditions"][0]["playlist_url"]):
            assert (await anonymous.get(url)).status_code == 200, (privacy, url)
        if privacy == Privacy.PUBLIC:
            assert "/~" not in body["hls_url"]  # public files need no token
        else:
            assert body["hls_url"].startswith(f"/media/{video_id}/~")


async def test_a_link_token_opens_one_video_and_dies_with_a_privacy_change(world: World) -> None:
    owner, anonymous = world.clients["owner"], world.clients["anonymous"]
    first = await world.video(Privacy.UNLISTED, "aaaa")
    second = await world.video(Privacy.UNLISTED, "bbbb")
    url = (await (await owner.get(f"/api/v1/videos/{first}")).get_json())["hls_url"]
    token = url.split("/")[3]
    assert (await anonymous.get(url)).status_code == 200
    # the token of video A does not open video B
    assert (await anonymous.get(f"/media/{second}/{token}/hls/master.m3u8")).status_code == 404
    # a privacy change (even back and forth) kills every link given out before it
    for privacy in ("private", "unlisted"):
        patched = await owner.patch(f"/api/v1/videos/{first}", json={"privacy": privacy})
        assert patched.status_code == 200
    assert (await anonymous.get(url)).status_code == 404
    fresh = (await (await owner.get(f"/api/v1/videos/{first}")).get_json())["hls_url"]
    assert fresh != url
    assert (await anonymous.get(fresh)).status_code == 200
    # a forged or tampered token opens nothing
    expires, _, signature = token[1:].partition(".")
    for bad in (f"~{int(expires) + 60}.{signature}", "~1.abc", "~", f"~{expires}."):
        assert (await anonymous.get(f"/media/{first}/{bad}/hls/master.m3u8")).status_code == 404


async def test_private_media_is_never_cached_for_others(world: World) -> None:
    for privacy, expected in ((Privacy.PUBLIC, "public"), (Privacy.PRIVATE, "private")):
        video_id = await world.video(privacy, "cach")
        response = await world.clients["owner"].get(f"/media/{video_id}/hls/360p/seg_00000.m4s")
        assert response.headers["Cache-Control"].startswith(expected)


async def test_editing(world: World) -> None:
    expected = table(
        public=[401, 403, 200, 403, 200],
        unlisted=[401, 403, 200, 403, 200],
        private=[404, 404, 200, 404, 200],
    )
    await matrix(
        world, expected, lambda c, v: c.patch(f"/api/v1/videos/{v}", json={"title": "New title"})
    )


async def test_deleting(world: World) -> None:
    expected = table(
        public=[401, 403, 200, 403, 200],
        unlisted=[401, 403, 200, 403, 200],
        private=[404, 404, 200, 404, 200],
    )
    await matrix(world, expected, lambda c, v: c.delete(f"/api/v1/videos/{v}"))


async def test_setting_a_poster(world: World) -> None:
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (64, 36), "red").save(png, "PNG")
    expected = table(
        public=[401, 403, 200, 403, 200],
        unlisted=[401, 403, 200, 403, 200],
        private=[404, 404, 200, 404, 200],
    )
    await matrix(
        world,
        expected,
        lambda c, v: c.put(
            f"/api/v1/videos/{v}/poster",
            data=png.getvalue(),
            headers={"Content-Type": "image/png"},
        ),
    )


async def test_listing_shows_public_videos_and_mine_shows_your_own(world: World) -> None:
    ids = {p: await world.video(p, "list") for p in PRIVACIES}
    for who in WHO:
        listed = await (await world.clients[who].get("/api/v1/videos")).get_json()
        assert [v["id"] for v in listed["items"]] == [ids[Privacy.PUBLIC]], who
        searched = await (await world.clients[who].get("/api/v1/videos?q=ready")).get_json()
        assert [v["id"] for v in searched["items"]] == [ids[Privacy.PUBLIC]], who
    mine = await (await world.clients["owner"].get("/api/v1/videos?mine=true")).get_json()
    assert sorted(v["id"] for v in mine["items"]) == sorted(ids.values())
    other = await (await world.clients["other"].get("/api/v1/videos?mine=true")).get_json()
    assert other["items"] == []
    assert (await world.clients["anonymous"].get("/api/v1/videos?mine=true")).status_code == 401


async def routes_by_role(world: World, call: Any) -> list[int]:
    return [(await call(world.clients[who])).status_code for who in WHO]


async def test_uploading_needs_an_uploader(world: World) -> None:
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "10"}
    codes = await routes_by_role(world, lambda c: c.post("/api/v1/uploads", headers=tus))
    assert codes == [401, 403, 201, 201, 201]
    page = await routes_by_role(world, lambda c: c.get("/upload"))
    assert page == [303, 403, 200, 200, 200]


async def test_an_upload_belongs_to_who_started_it(world: World) -> None:
    tus = {"Tus-Resumable": "1.0.0"}
    created = await world.clients["owner"].post(
        "/api/v1/uploads", headers={**tus, "Upload-Length": "10"}
    )
    path = created.headers["Location"]
    codes = await routes_by_role(world, lambda c: c.head(path, headers=tus))
    assert codes == [401, 403, 200, 404, 200]
    patch = {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    sneaky = await world.clients["other"].patch(path, headers=patch, data=b"x" * 10)
    assert sneaky.status_code == 404
    assert (await world.clients["other"].delete(path, headers=tus)).status_code == 404


async def test_the_admin_area_needs_an_admin(world: World) -> None:
    assert await routes_by_role(world, lambda c: c.get("/admin")) == [303, 403, 403, 403, 200]
    job_id = await add_job(world.rt, "adminjob001", JobState.FAILED, attempts=3)
    retry = await routes_by_role(world, lambda c: c.post(f"/api/v1/jobs/{job_id}/retry"))
    assert retry == [401, 403, 403, 403, 200]


async def test_the_account_page_and_your_own_tokens_need_an_account(world: World) -> None:
    assert await routes_by_role(world, lambda c: c.get("/account")) == [303, 200, 200, 200, 200]
    assert await routes_by_role(world, lambda c: c.get("/api/v1/me")) == [401, 200, 200, 200, 200]
    mine = await routes_by_role(world, lambda c: c.get("/api/v1/me/tokens"))
    assert mine == [401, 200, 200, 200, 200]
    made = await routes_by_role(world, lambda c: c.post("/api/v1/me/tokens", json={}))
    assert made == [401, 201, 201, 201, 201]
    form = await routes_by_role(world, lambda c: c.post("/account/tokens", form={}))
    assert form == [401, 201, 201, 201, 201]
    # someone else's token is not there for you (the admin's too: revoke with the CLI)
    owner_tokens = await (await world.clients["owner"].get("/api/v1/me/tokens")).get_json()
    theirs = owner_tokens["items"][-1]["id"]  # (not the one its client sends)
    revoke = await routes_by_role(world, lambda c: c.delete(f"/api/v1/me/tokens/{theirs}"))
    assert revoke == [401, 404, 204, 404, 404]
    # a password is changed from a logged-in browser only, never with a token
    password = await routes_by_role(world, lambda c: c.post("/account/password", form={}))
    assert password == [401, 403, 403, 403, 403]


async def test_invites_need_an_admin_and_registration_is_closed_by_default(world: World) -> None:
    listed = await routes_by_role(world, lambda c: c.get("/api/v1/invites"))
    assert listed == [401, 403, 403, 403, 200]
    made = await routes_by_role(world, lambda c: c.post("/api/v1/invites", json={}))
    assert made == [401, 403, 403, 403, 201]
    form = await routes_by_role(world, lambda c: c.post("/account/invites", form={}))
    assert form == [401, 403, 403, 403, 201]
    invite_id = (await made_invite(world))["id"]
    revoke = await routes_by_role(world, lambda c: c.delete(f"/api/v1/invites/{invite_id}"))
    assert revoke == [401, 403, 403, 403, 204]
    # [auth] registration = "closed": a 404 for everyone (open and invite: test_registration)
    assert await routes_by_role(world, lambda c: c.get("/register")) == [404] * 5
    assert await routes_by_role(world, lambda c: c.post("/register", form={})) == [404] * 5


async def made_invite(world: World) -> dict[str, Any]:
    response = await world.clients["admin"].post("/api/v1/invites", json={"role": "viewer"})
    body: dict[str, Any] = await response.get_json()
    return body


async def test_anonymous_pages_that_need_an_account_go_to_the_login(world: World) -> None:
    response = await world.clients["anonymous"].get("/admin?state=failed")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=%2Fadmin%3Fstate%3Dfailed"


async def test_a_members_only_library(tmp_path: Any) -> None:
    from streamforge.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, STREAMFORGE_AUTH__PUBLIC_LIBRARY="false")
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        rt = app.extensions["streamforge"].runtime
        _, token = await make_account(rt.db, "viewer", Role.VIEWER)
        video_id = await add_ready_video(rt, "membersonly")
        anonymous, member = app.test_client(), bearer_client(app, token)
        for path in ("/api/v1/videos", f"/api/v1/videos/{video_id}"):
            assert (await anonymous.get(path)).status_code == 401, path
            assert (await member.get(path)).status_code == 200, path
        assert (await anonymous.get("/")).status_code == 303
        assert (await anonymous.get(f"/media/{video_id}/hls/master.m3u8")).status_code == 404
        body = await (await member.get(f"/api/v1/videos/{video_id}")).get_json()
        assert "/~" in body["hls_url"]  # even a public video's files need a link here
        assert (await anonymous.get(body["hls_url"])).status_code == 200
