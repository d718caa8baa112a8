"""In Chromium: every page, the player and Swagger UI work under the Content-Security-Policy
(no violation reported), and an inline script is really blocked by it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.authn import log_in
from tests.browser.player_media import PlayerMedia, serve_copy

pytestmark = pytest.mark.slow

WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[PlayerMedia]:
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # one build for all workers
    with serve_copy(shared, tmp_path_factory.mktemp("csp")) as served:
        yield served


def open_watched(browser: Any, url: str) -> Any:
    page = browser.new_page()
    page.add_init_script(WATCH_VIOLATIONS)
    page.goto(url)
    return page


def test_pages_and_the_player_run_without_a_violation(browser: Any, media: PlayerMedia) -> None:
    base = media.server.url
    page = open_watched(browser, base + "/login")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__csp") == []
    log_in(page, base)
    for path in ("/", "/upload", "/admin"):
        page = open_watched(browser, base + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__csp") == [], path
        if path == "/":  # the sort menu submits itself without an inline handler
            with page.expect_navigation():
                page.select_option("select[name=sort]", "oldest")
            assert "sort=oldest" in page.url
        page.close()
    page = open_watched(browser, f"{base}/v/{media.video_id}")
    page.wait_for_function(
        """() => { const v = document.querySelector('video');
                   if (v && v.paused) { v.muted = true; v.play(); }
                   return v && v.currentTime > 1; }""",
        timeout=30_000,
    )
    assert page.evaluate("window.__csp") == []


def test_swagger_ui_runs_and_injected_inline_script_does_not(
    browser: Any, media: PlayerMedia
) -> None:
    page = open_watched(browser, media.server.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.evaluate("window.__csp") == []
    # what an XSS would do: add an inline script to a page; the policy must block it
    page = open_watched(browser, media.server.url + "/")
    page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__ran = true'; document.body.append(s); }"""
    )
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
    assert page.evaluate("window.__csp")[0].startswith("script-src")
