"""CORS on /api/*: preflights, exposed headers, and tus discovery that works without it."""

from __future__ import annotations

from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from streamforge.config import load_settings
from streamforge.errors import ConfigError
from tests.uploads.helpers import PREFIX, TUS, app_with

APP = "https://app.example"
PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "upload-offset,tus-resumable,content-type",
}


async def test_preflight_from_an_allowed_origin(tmp_path: Path) -> None:
    env = {"STREAMFORGE_SERVER__CORS_ORIGINS": f'["{APP}/"]'}
    async with app_with(tmp_path, **env) as (_, client):
        response = await client.options(f"{PREFIX}/someid", headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "Origin" in response.headers["Vary"]
    methods = response.headers["Access-Control-Allow-Methods"]
    assert {"POST", "PATCH", "HEAD", "DELETE", "OPTIONS"} <= set(methods.split(", "))
    allowed = response.headers["Access-Control-Allow-Headers"].split(", ")
    for header in [
        "Upload-Offset",
        "Upload-Length",
        "Upload-Metadata",
        "Upload-Checksum",
        "Tus-Resumable",
        "Upload-Concat",
        "Content-Type",
        "Authorization",
    ]:
        assert header in allowed


async def test_responses_expose_the_tus_headers(tmp_path: Path) -> None:
    env = {"STREAMFORGE_SERVER__CORS_ORIGINS": f'["{APP}"]'}
    async with app_with(tmp_path, **env) as (_, client):
        created = await client.post(PREFIX, headers={**TUS, "Upload-Length": "10", "Origin": APP})
        error = await client.head(f"{PREFIX}/missing", headers={**TUS, "Origin": APP})
        other = await client.post(
            PREFIX, headers={**TUS, "Upload-Length": "10", "Origin": "https://evil.example"}
        )
        health = await client.get("/api/v1/health", headers={"Origin": APP})
    assert created.headers["Access-Control-Allow-Origin"] == APP
    exposed = created.headers["Access-Control-Expose-Headers"].split(", ")
    for header in [
        "Location",
        "Upload-Offset",
        "Upload-Length",
        "Upload-Expires",
        "Tus-Version",
        "Tus-Resumable",
        "Tus-Max-Size",
        "Tus-Extension",
        "StreamForge-Video-Id",
    ]:
        assert header in exposed
    assert error.status_code == 404
    assert error.headers["Access-Control-Allow-Origin"] == APP
    assert "Access-Control-Allow-Origin" not in other.headers
    assert health.headers["Access-Control-Allow-Origin"] == APP


async def test_any_origin(tmp_path: Path) -> None:
    async with app_with(tmp_path, STREAMFORGE_SERVER__CORS_ORIGINS='["*"]') as (_, client):
        response = await client.options(PREFIX, headers=PREFLIGHT)
        pages = await client.get("/", headers={"Origin": APP})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in pages.headers  # only /api/*


async def test_off_by_default_and_tus_options_still_works(client: Client) -> None:
    preflight = await client.options(PREFIX, headers=PREFLIGHT)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    # without CORS, the same OPTIONS is plain tus discovery
    assert preflight.status_code == 204
    assert preflight.headers["Tus-Version"] == "1.0.0"
    assert "Tus-Max-Size" in preflight.headers


async def test_tus_options_without_preflight_headers_reaches_tus(tmp_path: Path) -> None:
    async with app_with(tmp_path, STREAMFORGE_SERVER__CORS_ORIGINS='["*"]') as (_, client):
        response = await client.options(PREFIX, headers={"Origin": APP})
    assert response.status_code == 204
    assert response.headers["Tus-Extension"].startswith("creation")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("origin", ["app.example", "https://app.example/path", "ftp://x"])
def test_bad_origin_is_a_config_error(origin: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={"STREAMFORGE_SERVER__CORS_ORIGINS": f'["{origin}"]'})
    assert "STREAMFORGE_SERVER__CORS_ORIGINS: [server] cors_origins:" in str(info.value)
    assert "is not an origin" in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_size", "0"), ("expire_hours", "-1"), ("purge_interval", "0")],
)
def test_bad_uploads_values_are_config_errors(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={f"STREAMFORGE_UPLOADS__{key.upper()}": value})
    assert f"[uploads] {key}" in str(info.value)
