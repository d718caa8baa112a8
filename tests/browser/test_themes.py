"""Both shipped themes in real Chromium, over the player tests' transcoded video (three
renditions, so the quality menu has choices): every page works in the cinema theme, and
screenshots of the library, the playing video with its quality menu open and the uploader
are saved for people to look at (test-artifacts/, not committed). The cinema server also
has a site override folder whose video.html must win over both themes.

One ``streamforge serve`` per theme for the module, each on its own copy of the shared
build (tests/browser/player_media.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from tests.authn import log_in
from tests.browser.player_media import RUNG_360P, shared_build
from tests.chromium import screenshot
from tests.e2e.cli import Server, running_server, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow

THEMES = ("default", "cinema")
WAIT = 60_000  # ms, for a loaded 2-core machine
PLAYING = """() => { const v = document.querySelector('video');
  if (v && v.paused && v.readyState >= 2) { v.muted = true; v.play(); }
  return !!v && v.currentTime > 1 && !v.error; }"""
BODY_BACKGROUND = "getComputedStyle(document.body).backgroundColor"


@dataclass
class Site:
    theme: str
    server: Server
    video_id: str

    def url(self, path: str) -> str:
        return self.server.url + path


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[dict[str, Site]]:
    base = tmp_path_factory.getbasetemp()
    data, video_id = shared_build(base if worker_id == "master" else base.parent)
    with ExitStack() as stack:
        found: dict[str, Site] = {}
        for theme in THEMES:
            folder = tmp_path_factory.mktemp(f"theme-{theme}")
            shutil.copytree(data, folder / "data")
            themes = f'[themes]\nactive = "{theme}"\n'
            if theme == "cinema":
                themes += f'override_dir = "{site_override(folder / "site")}"\n'
            config = write_config(folder, themes + RUNG_360P)
            found[theme] = Site(theme, stack.enter_context(running_server(config)), video_id)
        yield found


def site_override(folder: Path) -> Path:
    """A site folder whose video.html wins over cinema's and default's, extending both."""
    template = folder / "templates/video.html"
    template.parent.mkdir(parents=True)
    template.write_text(
        '{% extends "cinema/video.html" %}'
        '{% block player_options %}{{ super() }} data-site-override="yes"{% endblock %}'
    )
    return folder


def rgb(css: str) -> tuple[int, ...]:
    """``"rgb(11, 12, 16)"`` -> ``(11, 12, 16)``."""
    return tuple(int(part) for part in css[css.index("(") + 1 : -1].split(",")[:3])


def brightness(png: Path) -> float:
    """Mean grey level of a screenshot, 0 (black) to 255 (white)."""
    with Image.open(png) as image:
        return float(ImageStat.Stat(image.convert("L")).mean[0])


def check_png(path: Path, min_width: int) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000, path  # a real page, not a blank image
    with Image.open(path) as image:
        assert image.width >= min_width, image.size
        assert image.height >= 300, image.size


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A new page at ``url`` and the list its uncaught script errors go to."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    return page, errors


def test_every_page_works_in_the_cinema_theme(browser: Any, sites: dict[str, Site]) -> None:
    site = sites["cinema"]
    log_in(browser.new_page(), site.url(""))
    for path in ("/", "/upload", "/admin", "/v/nope", f"/v/{site.video_id}"):
        page, errors = open_page(browser, site.url(path))
        sheets = page.evaluate("[...document.styleSheets].map((s) => s.href || '')")
        assert any("/static/cinema.css?v=" in s for s in sheets), (path, sheets)
        assert max(rgb(page.evaluate(BODY_BACKGROUND))) < 40, path  # dark
        if path.startswith("/v/") and path != "/v/nope":
            page.wait_for_function(PLAYING, timeout=WAIT)  # the default player, on the stage
            # the site's video.html, inside cinema's, inside default's: the block chain holds
            chained = ".stage [data-sf-player][data-autoplay][data-site-override=yes] video"
            assert page.locator(chained).count() == 1
            stage = page.evaluate(
                "(() => { const r = document.querySelector('.stage').getBoundingClientRect();"
                " return [r.left, r.width, innerWidth]; })()"
            )
            left, width, window = stage
            assert left == 0, stage  # edge to edge
            assert width >= window - 20, stage
        assert errors == [], (path, errors)
        page.close()


def test_screenshots_of_both_themes(
    browser: Any, sites: dict[str, Site], tmp_path: Path, record_property: Any
) -> None:
    clip = make_clip(tmp_path / "tiny upload.mp4", width=160, height=120, seconds=1.0)
    shots: dict[tuple[str, str], Path] = {}
    backgrounds: dict[str, tuple[int, ...]] = {}
    player_widths: dict[str, float] = {}
    for theme, site in sites.items():
        log_in(browser.new_page(), site.url(""))
        page, errors = open_page(browser, site.url("/"))
        page.locator(".card img").first.wait_for(timeout=WAIT)
        page.wait_for_function("() => document.querySelector('.card img').complete")
        backgrounds[theme] = rgb(page.evaluate(BODY_BACKGROUND))
        shots[theme, "library"] = screenshot(page, f"theme-{theme}-library")

        page.goto(site.url(f"/v/{site.video_id}"))
        page.wait_for_function(PLAYING, timeout=WAIT)
        page.click(".sf-quality-button")
        menu = page.locator(".sf-quality-menu")
        menu.wait_for(state="visible")
        assert menu.locator("[role=menuitemradio]").count() == 4  # Auto + three rungs
        player_widths[theme] = page.evaluate(
            "(document.querySelector('.stage') || document.querySelector('.player'))"
            ".getBoundingClientRect().width"
        )
        shots[theme, "video"] = screenshot(page, f"theme-{theme}-video-playing-quality-menu")

        page.goto(site.url("/upload"))
        page.set_input_files("input[type=file]", str(clip))
        page.locator(".upload.done .result a").wait_for(timeout=WAIT)
        shots[theme, "uploader"] = screenshot(page, f"theme-{theme}-uploader")
        assert errors == [], (theme, errors)
        page.close()

    for path in shots.values():
        check_png(path, 1280)
    assert backgrounds["default"] != backgrounds["cinema"]
    assert min(backgrounds["default"]) > 200
    assert max(backgrounds["cinema"]) < 40
    # the cinema look is visibly darker on every page, not only by its body colour
    for kind in ("library", "video", "uploader"):
        light, dark = brightness(shots["default", kind]), brightness(shots["cinema", kind])
        record_property(f"brightness_{kind}", f"default {light:.0f}, cinema {dark:.0f}")
        assert dark < light - 40, (kind, light, dark)
    # the hero player: cinema's black stage spans the window, default's column does not
    assert player_widths["cinema"] > player_widths["default"], player_widths
