"""Stored and reflected XSS, in real Chromium, in both shipped themes.

Videos whose title, description, original file name and failure message are payloads —
``<script>``, ``"><img onerror>``, ``</title>``, ``</textarea>``, ``javascript:`` links,
template syntax (``{{7*191919}}``), a break-out aimed at JSON inside HTML and one aimed at m3u8
attributes (``",URI="…``) — shown on the library, search results, the video page (and
its edit form), the admin page, the upload page (a file whose *name* is a payload), the
404 page and the login form (reflected), and in live updates over the WebSocket.

A payload that ran would set ``window.__xss``; one that became HTML would make the
browser fetch a ``xss-sentinel`` URL (watched with ``page.on("request")``) even where the
Content-Security-Policy stopped its script, which would also show as a violation. Neither
may happen, and every payload must be shown as the literal text it is.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streamforge.db.models import JobState, Privacy, VideoStatus
from tests.authn import log_in
from tests.e2e.cli import Server, running_server, write_config
from tests.web.helpers import add_ready_video, add_video

pytestmark = pytest.mark.slow

THEMES = ("default", "cinema")
READY, FAILED, EDITED = "xssready001", "xssfailed01", "xssedited01"
TITLE = (
    '<script>window.__xss="title"</script>"><img src=/xss-sentinel/t onerror="window.__xss=1">'
    "</title><b>{{7*191919}}</b>'-window.__xss=2-'"
)
DESCRIPTION = (
    '</textarea><script>window.__xss="desc"</script>'
    '<a href="javascript:window.__xss=3">javascript:window.__xss=3</a>\n'
    '</script><script>window.__xss="json"</script>{"x": "\\u003c/script\\u003e"} \u2028\u2029\n'
    '",URI="/xss-sentinel/key.m3u8"\n#EXT-X-KEY:METHOD=AES-128,URI="/xss-sentinel/k"\n'
    "${7*191919} {{7*191919}} {% raw %} <%= 7*191919 %> #{7*191919}"
)
EVALUATED = str(7 * 191919)
FILENAME = '"><img src=/xss-sentinel/f onerror=window.__xss=4>{{7*191919}}.mp4'
ERROR = '<img src=/xss-sentinel/e onerror="window.__xss=5"><script>window.__xss=6</script>'
LIVE_ERROR = '<img src=/xss-sentinel/live onerror="window.__xss=7"> LIVE-MARK {{7*191919}}'
LIVE_TITLE = '<svg onload="window.__xss=8"><img src=/xss-sentinel/lt> LIVE-TITLE'
EDIT_TITLE = "</title><img src=/xss-sentinel/edit onerror=window.__xss=9>{{7*191919}}"
QUERY = '"><script>window.__xss="q"</script><img src=xss-sentinel-q>'
UPLOAD_NAME = '"><img src=xss-sentinel-up onerror=window.__xss=10>{{7*191919}}.mp4'
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""
WAIT = 60_000
#: Elements a payload would have made, had it become HTML.
INJECTED = "img[src*='xss-sentinel'], [onload], [onerror], script:not([src]):not([type])"


async def fill(config: Path) -> None:
    """The payload videos and a failed job, straight into the data before ``serve``."""
    from streamforge.config import load_settings
    from streamforge.jobs import store
    from streamforge.runtime import Runtime

    rt = await Runtime.create(load_settings(config)).open()
    try:
        for video_id in (READY, EDITED):
            await add_ready_video(
                rt, video_id, title=TITLE, description=DESCRIPTION, source_filename=FILENAME
            )
        await add_video(
            rt,
            FAILED,
            VideoStatus.FAILED,
            title=TITLE,
            description=DESCRIPTION,
            error=ERROR,
            source_filename=FILENAME,
            privacy=Privacy.PUBLIC,
        )
        async with rt.db.session() as s:
            job = await store.create_job(s, FAILED, max_attempts=1)
            job.state, job.attempts, job.last_error = JobState.FAILED, 1, ERROR
    finally:
        await rt.close()


def fill_before_serving(config: Path) -> None:
    # a thread of its own: Playwright may already run an event loop on this one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fill(config)).result()


@dataclass
class Site:
    theme: str
    server: Server
    folder: Path

    def url(self, path: str) -> str:
        return self.server.url + path

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.url(path),
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={**self.server.auth, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Site]]:
    with ExitStack() as stack:
        found = {}
        for theme in THEMES:
            folder = tmp_path_factory.mktemp(f"xss-{theme}")
            config = write_config(folder, f'[themes]\nactive = "{theme}"\n')
            fill_before_serving(config)
            found[theme] = Site(theme, stack.enter_context(running_server(config)), folder)
        yield found


@dataclass
class Watched:
    """A page with its sentinel requests (besides its own navigations) recorded."""

    page: Any
    sentinels: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.page.evaluate("window.__xss") is None, self.page.url
        assert self.page.evaluate("window.__csp") == [], self.page.url
        assert self.sentinels == [], self.page.url
        # no template was evaluated (7*191919: a product no path or id on the page holds)
        assert EVALUATED not in self.page.evaluate("document.body.innerText"), self.page.url


def watch(browser: Any, url: str | None = None) -> Watched:
    page = browser.new_page()
    watched = Watched(page)
    page.add_init_script(WATCH)

    def on_request(request: Any) -> None:
        if "xss-sentinel" in request.url and not request.is_navigation_request():
            watched.sentinels.append(request.url)

    page.on("request", on_request)
    if url is not None:
        page.goto(url)
        page.wait_for_load_state("networkidle")
    return watched


def texts(page: Any, selector: str) -> list[str]:
    found: list[str] = page.locator(selector).all_text_contents()
    return found


@pytest.mark.parametrize("theme", THEMES)
def test_stored_payloads_are_text_on_every_page(
    browser: Any, sites: dict[str, Site], theme: str
) -> None:
    site = sites[theme]
    log_in(browser.new_page(), site.url(""))

    library = watch(browser, site.url("/"))
    assert texts(library.page, f"[data-video-id={READY}] .title") == [TITLE]
    assert texts(library.page, f"[data-video-id={FAILED}] .error") == [ERROR]
    library.assert_clean()

    found = watch(browser, site.url("/?q=window"))  # search results: the payload titles
    assert sorted(texts(found.page, ".card .title")) == [TITLE] * 3
    found.assert_clean()

    video = watch(browser, site.url(f"/v/{READY}"))
    page = video.page
    assert page.title() == f"{TITLE} – StreamForge"
    assert texts(page, ".watch h1") == [TITLE]
    assert texts(page, ".watch .description") == [DESCRIPTION]
    assert page.input_value("[data-video-actions] input[name=title]") == TITLE
    assert page.input_value("[data-video-actions] textarea[name=description]") == DESCRIPTION
    assert page.locator("a[href^='javascript:']").count() == 0
    assert page.locator(INJECTED + ", .watch h1 *, .watch .description *").count() == 0
    video.assert_clean()

    failed = watch(browser, site.url(f"/v/{FAILED}"))
    assert texts(failed.page, ".not-ready .error") == [
        f"This video could not be processed: {ERROR}"
    ]
    failed.assert_clean()

    admin = watch(browser, site.url("/admin"))
    row = admin.page.locator(".job").filter(has=admin.page.locator(f"a[href='/v/{FAILED}']"))
    assert texts(admin.page, f".job a[href='/v/{FAILED}']") == [TITLE]
    assert row.locator("td.error").text_content() == ERROR
    admin.assert_clean()


@pytest.mark.parametrize("theme", THEMES)
def test_reflected_payloads_are_text(browser: Any, sites: dict[str, Site], theme: str) -> None:
    site = sites[theme]
    from urllib.parse import quote

    search = watch(browser, site.url("/?q=" + quote(QUERY)))
    assert search.page.input_value("input[name=q]") == QUERY
    assert search.page.title() == f"{QUERY} – StreamForge"
    assert search.page.locator(".library h1").text_content().startswith(f"Results for “{QUERY}”")
    search.assert_clean()

    missing = watch(browser, site.url("/v/" + quote(QUERY.replace("/", ""), safe="")))
    assert "xss-sentinel-q" in missing.page.locator(".error-page").text_content()
    missing.assert_clean()

    login = watch(browser, site.url("/login?next=" + quote("/" + QUERY)))
    # kept as text, or replaced by "/" (the login form only goes back to plain local paths)
    assert login.page.locator("input[name=next]").input_value() in ("/" + QUERY, "/")
    login.assert_clean()


@pytest.mark.parametrize("theme", THEMES)
def test_payloads_through_the_edit_form_and_the_live_updates(
    browser: Any, sites: dict[str, Site], theme: str
) -> None:
    site = sites[theme]
    log_in(browser.new_page(), site.url(""))

    # the edit form: video-actions.js writes the saved title back into the page
    edit = watch(browser, site.url(f"/v/{EDITED}"))
    page = edit.page
    page.click("[data-video-actions] summary")
    page.fill("[data-video-actions] input[name=title]", EDIT_TITLE)
    page.click("[data-video-actions] button[type=submit]")
    page.wait_for_function(
        "(t) => document.querySelector('.watch h1').textContent === t", arg=EDIT_TITLE
    )
    assert page.title() == f"{EDIT_TITLE} – StreamForge"
    edit.assert_clean()

    # live: status.js shows a failure's message as it arrives over the WebSocket
    library = watch(browser)
    with library.page.expect_websocket():
        library.page.goto(site.url("/"))
    video = watch(browser)
    with video.page.expect_websocket():
        video.page.goto(site.url(f"/v/{FAILED}"))
    with sqlite3.connect(site.folder / "data" / "streamforge.db", timeout=30) as db:
        db.execute("UPDATE videos SET error = ? WHERE id = ?", (LIVE_ERROR, FAILED))
    # the title change is announced as a video.state event carrying the new error
    assert site.api("PATCH", f"/api/v1/videos/{FAILED}", {"title": LIVE_TITLE})["title"] == (
        LIVE_TITLE
    )
    for watched, selector, shown in (
        (library, f"[data-video-id={FAILED}] .error", LIVE_ERROR),
        (video, ".not-ready .error", f"This video could not be processed: {LIVE_ERROR}"),
    ):
        watched.page.wait_for_function(
            "([s, t]) => document.querySelector(s)?.textContent === t",
            arg=[selector, shown],
            timeout=WAIT,
        )
        assert watched.page.locator(INJECTED).count() == 0
        watched.assert_clean()


@pytest.mark.parametrize("theme", THEMES)
def test_a_file_named_as_a_payload_on_the_upload_page(
    browser: Any, sites: dict[str, Site], theme: str
) -> None:
    site = sites[theme]
    log_in(browser.new_page(), site.url(""))
    upload = watch(browser, site.url("/upload"))
    page = upload.page
    page.set_input_files(
        ".uploader input[type=file]",
        files=[{"name": UPLOAD_NAME, "mimeType": "video/mp4", "buffer": b"\0" * 4096}],
    )
    assert texts(page, ".uploads .name") == [UPLOAD_NAME]
    link = page.locator(".uploads .result a")
    link.wait_for(timeout=WAIT)
    video_id = link.get_attribute("href").rsplit("/", 1)[1]
    upload.assert_clean()
    # stored as data: the title and the original file name come back exactly as sent
    video = site.api("GET", f"/api/v1/videos/{video_id}")
    assert video["title"] == UPLOAD_NAME.removesuffix(".mp4")
    assert video["source_filename"] == UPLOAD_NAME
    shown = watch(browser, site.url(f"/v/{video_id}"))
    assert texts(shown.page, ".watch h1") == [video["title"]]
    shown.assert_clean()


def test_the_api_and_the_playlists_carry_the_payloads_as_data(sites: dict[str, Site]) -> None:
    site = sites["default"]
    video = site.api("GET", f"/api/v1/videos/{READY}")
    assert video["title"] == TITLE
    assert video["description"] == DESCRIPTION
    assert video["source_filename"] == FILENAME
    status, raw, headers = site.server.get(f"/api/v1/videos/{READY}")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(raw)["title"] == TITLE
    # titles never reach a playlist, a manifest or a thumbnail track
    for url in (video["hls_url"], video["manifest_url"], video["thumbnails_url"]):
        status, body, _ = site.server.get(url)
        assert status == 200, url
        for fragment in (b"xss", b"URI=", b"<script", b"{{"):
            assert fragment not in body, (url, fragment)
    for rendition in video["renditions"]:
        status, body, _ = site.server.get(rendition["playlist_url"])
        assert b"xss" not in body
