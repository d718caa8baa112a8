"""Security headers, through the app's test client."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from quart.typing import TestClientProtocol as Client

from streamforge.app import create_app
from streamforge.db.models import VideoStatus
from streamforge.runtime import Runtime
from tests.conftest import make_settings
from tests.web.helpers import add_video


def directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for part in policy.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


async def test_pages_allow_no_inline_script_and_no_framing(client: Client, rt: Runtime) -> None:
    await add_video(rt, "headers0001", VideoStatus.READY)
    for path in ("/", "/upload", "/v/headers0001", "/setup", "/no-such-page"):
        response = await client.get(path)
        assert response.mimetype == "text/html", path
        policy = directives(response.headers["Content-Security-Policy"])
        # the one inline script allowed: the player's import map (by hash, video page only)
        maps = re.findall(
            rb'<script type="importmap">(.*?)</script>', await response.get_data(), re.S
        )
        assert len(maps) == (1 if path.startswith("/v/") else 0), path
        allowed = [
            "'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'" for m in maps
        ]
        assert policy["script-src"] == ["'self'", *allowed], path
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_the_api_docs_page_allows_exactly_its_own_inline_script(client: Client) -> None:
    response = await client.get("/docs")
    body = await response.get_data()
    scripts = re.findall(rb"<script>(.*?)</script>", body, re.S)
    assert scripts, "Swagger UI's page has its inline start-up script"
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s).digest()).decode() + "'" for s in scripts
    }
    policy = directives(response.headers["Content-Security-Policy"])
    assert set(policy["script-src"]) == {"'self'", *hashes}


async def test_json_and_media_get_nosniff_and_no_referrer(client: Client) -> None:
    for path in ("/api/v1/health", "/api/v1/videos", "/media/nothing0001/hls/master.m3u8"):
        response = await client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert "Content-Security-Policy" not in response.headers


async def test_an_import_map_the_app_did_not_write_is_not_allowed(tmp_path: Path) -> None:
    # as if escaping had failed: a page carries an import map the app did not make
    site = tmp_path / "site" / "templates"
    site.mkdir(parents=True)
    (site / "library.html").write_text(
        '{% extends "default/library.html" %}{% block content %}'
        '<script type="importmap">{"imports": {"/x.js": "/evil.js"}}</script>{% endblock %}'
    )
    settings = make_settings(tmp_path, STREAMFORGE_THEMES__OVERRIDE_DIR=str(tmp_path / "site"))
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        response = await app.test_client().get("/")
        assert b'"/evil.js"' in await response.get_data()
        policy = directives(response.headers["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"]
