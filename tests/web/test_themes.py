"""Themes through the real app: the shipped cinema theme renders every page on top of the
default one; the site override folder wins over both, for templates and static files;
static URLs follow the content of the file that wins. (Bad theme folders:
test_themes_errors.py.)"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from streamforge.app import create_app
from streamforge.config import Settings
from streamforge.db.models import VideoStatus
from streamforge.runtime import Runtime
from streamforge.web.themes import ThemeSet, builtin_themes_dir
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings
from tests.web.helpers import add_ready_video, add_video

THEMES = builtin_themes_dir()
CINEMA_CSS = re.compile(r'<link rel="stylesheet" href="/static/cinema\.css\?v=([0-9a-f]{12})">')
DEFAULT_CSS = re.compile(r'<link rel="stylesheet" href="/static/style\.css\?v=([0-9a-f]{12})">')


def cinema_settings(tmp_path: Path, **env: str) -> Settings:
    return make_settings(tmp_path, STREAMFORGE_THEMES__ACTIVE="cinema", **env)


@pytest.fixture
async def cinema_app(tmp_path: Path) -> AsyncIterator[Quart]:
    app = create_app(cinema_settings(tmp_path), run_jobs=False)
    async with app.test_app():
        yield app


@pytest.fixture
async def cinema(cinema_app: Quart) -> Client:
    """An administrator's client: every page, the admin area and the edit form included."""
    _, token = await make_account(cinema_app.extensions["streamforge"].runtime.db)
    return bearer_client(cinema_app, token)


@pytest.fixture
async def cinema_rt(cinema_app: Quart) -> Runtime:
    runtime: Runtime = cinema_app.extensions["streamforge"].runtime
    await add_ready_video(runtime, title="Night train")
    await add_video(runtime, "procvid0001", VideoStatus.PROCESSING, progress=42.0)
    await add_video(runtime, "queuvid0001", VideoStatus.QUEUED)
    await add_video(runtime, "failvid0001", VideoStatus.FAILED, error="decoder crashed")
    return runtime


async def page(client: Client, path: str, status: int = 200) -> str:
    response = await client.get(path)
    html = await response.get_data(as_text=True)
    assert response.status_code == status, html
    return html


def assert_cinema(html: str) -> None:
    """Cinema's base.html: the default stylesheet, then cinema's, and its header."""
    default_css, cinema_css = DEFAULT_CSS.search(html), CINEMA_CSS.search(html)
    assert default_css, html
    assert cinema_css, html
    assert default_css.start() < cinema_css.start()  # cinema's rules come last and win
    assert 'class="brand-mark"' in html
    assert "cinema theme</footer>" in html


# Each page, the markers of the default blocks cinema does not override.
PAGES = {
    "/": ['class="library-bar"', 'name="sort"', "js/status.js"],
    "/?q=train": ["Results for “train”", "Night train"],
    "/upload": ["data-uploader", 'data-endpoint="/api/v1/uploads"', "js/uploader.js"],
    "/admin": ['class="admin-jobs"', 'class="encoders"', "js/admin.js"],
    "/login": ['class="account-form"', 'action="/login"'],
}


@pytest.mark.parametrize("path", list(PAGES))
async def test_cinema_renders_each_page_over_the_default_blocks(
    cinema: Client, cinema_rt: Runtime, path: str
) -> None:
    html = await page(cinema, path)
    assert_cinema(html)
    for marker in PAGES[path]:
        assert marker in html, marker


async def test_cinema_library_shows_poster_cards_in_every_state(
    cinema: Client, cinema_rt: Runtime
) -> None:
    html = await page(cinema, "/")
    cards = re.findall(r'<article class="card poster-card status-(\w+)"', html)
    assert sorted(cards) == ["failed", "processing", "queued", "ready"]
    assert "42%" in html
    assert "decoder crashed" in html
    # the title sits in the caption on the picture, the default card has no caption
    assert re.search(r'<div class="caption">\s*<h2 class="title">Night train</h2>', html)


@pytest.mark.parametrize(
    ("video_id", "markers"),
    [
        ("readyvid001", ["data-sf-player", "player.css", "js/player/index.js"]),
        ("procvid0001", ['class="not-ready status-processing"', "42%"]),
        ("queuvid0001", ['class="not-ready status-queued"', "<progress"]),
        ("failvid0001", ["could not be processed: decoder crashed"]),
    ],
)
async def test_cinema_video_page_puts_the_player_on_a_stage_in_every_state(
    cinema: Client, cinema_rt: Runtime, video_id: str, markers: list[str]
) -> None:
    html = await page(cinema, f"/v/{video_id}")
    assert_cinema(html)
    assert '<body class="watching">' in html
    # the `player` block's default content (super()) now sits inside the stage
    stage = re.search(r'<div class="stage">\s*<div class="player">(.*?)</article>', html, re.S)
    assert stage, html
    for marker in markers:
        assert marker in html, marker
    assert "data-video-actions" in html  # _video_actions.html, included by default's page


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/v/nope", 404, "no video"),
        ("/?cursor=garbage", 400, "cursor"),
        ("/admin?state=bogus", 400, "state must be one of"),
        ("/no/such/page", 404, "<h1>404</h1>"),
    ],
)
async def test_cinema_error_pages(cinema: Client, path: str, status: int, text: str) -> None:
    html = await page(cinema, path, status)
    assert_cinema(html)
    assert '<section class="error-page">' in html
    assert text in html


async def test_the_default_theme_does_not_load_cinema(client: Client, rt: Runtime) -> None:
    video_id = await add_ready_video(rt)
    for path in ("/", f"/v/{video_id}"):
        html = await page(client, path)
        assert DEFAULT_CSS.search(html)
        assert "cinema.css" not in html
        assert "brand-mark" not in html
    assert (await client.get("/static/cinema.css")).status_code == 404


async def test_cinema_static_files_and_their_hashes(cinema: Client) -> None:
    html = await page(cinema, "/")
    cinema_css, default_css = CINEMA_CSS.search(html), DEFAULT_CSS.search(html)
    assert cinema_css
    assert default_css
    for rel, match in (("cinema", cinema_css), ("default", default_css)):
        file = THEMES / rel / "static" / ("cinema.css" if rel == "cinema" else "style.css")
        assert match.group(1) == hashlib.sha256(file.read_bytes()).hexdigest()[:12]
    response = await cinema.get(f"/static/cinema.css?v={cinema_css.group(1)}")
    assert response.status_code == 200
    assert "immutable" in response.headers["Cache-Control"]
    assert await response.get_data() == (THEMES / "cinema/static/cinema.css").read_bytes()


# ------------------------------------------------------------------ the site override folder


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def override(tmp_path: Path) -> Path:
    """A site folder overriding a template that both themes have, and one only default has,
    each extending the version it replaces."""
    site = tmp_path / "site"
    write(
        site / "templates/video.html",
        '{% extends "cinema/video.html" %}{% block title %}SITE {{ super() }}{% endblock %}',
    )
    write(
        site / "templates/upload.html",
        '{% extends "default/upload.html" %}'
        "{% block content %}<p class=site-note>Max 2 GB.</p>{{ super() }}{% endblock %}",
    )
    write(site / "static/style.css", "body { color: red }\n")
    write(site / "static/site-only.css", "p { margin: 0 }\n")
    return site


async def test_a_site_template_wins_over_both_themes(tmp_path: Path, override: Path) -> None:
    settings = cinema_settings(tmp_path, STREAMFORGE_THEMES__OVERRIDE_DIR=str(override))
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        rt = app.extensions["streamforge"].runtime
        client = bearer_client(app, (await make_account(rt.db))[1])
        video_id = await add_ready_video(rt, title="Dawn")
        html = await page(client, f"/v/{video_id}")
        assert "<title>SITE Dawn – StreamForge</title>" in html  # site's block
        assert '<div class="stage">' in html  # cinema's, through "cinema/video.html"
        assert_cinema(html)

        html = await page(client, "/upload")
        assert html.index("site-note") < html.index("data-uploader")
        assert_cinema(html)

        served = await client.get("/static/style.css")  # the site's, not default's
        assert await served.get_data(as_text=True) == "body { color: red }\n"
        site_hash = hashlib.sha256(b"body { color: red }\n").hexdigest()[:12]
        assert f'href="/static/style.css?v={site_hash}"' in html


def test_template_and_static_lookup_order(tmp_path: Path, override: Path) -> None:
    themes = ThemeSet(cinema_settings(tmp_path, STREAMFORGE_THEMES__OVERRIDE_DIR=str(override)))
    assert [t.name for t in themes.chain] == ["cinema", "default"]
    env = jinja2.Environment(loader=themes.loader(), autoescape=True)

    def source_of(name: str) -> Path:
        filename = env.get_template(name).filename
        assert filename
        return Path(filename)

    assert source_of("video.html") == override / "templates/video.html"  # site, cinema, default
    assert source_of("base.html") == THEMES / "cinema/templates/base.html"  # cinema, default
    assert source_of("library.html") == THEMES / "default/templates/library.html"
    assert source_of("cinema/video.html") == THEMES / "cinema/templates/video.html"
    assert source_of("default/base.html") == THEMES / "default/templates/base.html"

    assert themes.find_static("style.css") == (override / "static/style.css").resolve()
    assert themes.find_static("site-only.css") == (override / "static/site-only.css").resolve()
    assert themes.find_static("cinema.css") == THEMES / "cinema/static/cinema.css"
    assert themes.find_static("js/status.js") == THEMES / "default/static/js/status.js"
    assert themes.find_static("../theme.toml") is None


def test_a_static_hash_follows_the_content(tmp_path: Path) -> None:
    site = tmp_path / "site"
    css = write(site / "static/style.css", "body { color: red }\n")
    settings = cinema_settings(tmp_path, STREAMFORGE_THEMES__OVERRIDE_DIR=str(site))

    first = ThemeSet(settings).static_hash("style.css")
    assert first == hashlib.sha256(css.read_bytes()).hexdigest()[:12]
    css.write_text("body { color: blue }\n")
    second = ThemeSet(settings).static_hash("style.css")  # hashes are kept per process
    assert second != first
    css.unlink()  # the theme's file wins again: the URL changes back to the theme's hash
    shipped = (THEMES / "default/static/style.css").read_bytes()
    assert ThemeSet(settings).static_hash("style.css") == hashlib.sha256(shipped).hexdigest()[:12]
    assert ThemeSet(settings).static_hash("no/such.css") == "missing"
