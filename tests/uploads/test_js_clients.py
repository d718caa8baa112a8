"""The real tus-js-client uploading to a real server: in Node, and in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import CHROMIUM
from tests.conftest import need_service
from tests.e2e.cli import Server, running_server, write_config
from tests.uploads.real import sha256, status_of, stored_source

pytestmark = pytest.mark.slow
JS = Path(__file__).resolve().parents[1] / "js"
TUS_BUNDLE = JS / "node_modules" / "tus-js-client" / "dist" / "tus.min.js"


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    need_service("node", exe is not None, "node is not installed")
    need_service(
        "tus-js-client", TUS_BUNDLE.exists(), "run `npm ci --prefix tests/js` (.ci/run does)"
    )
    assert exe is not None
    return exe


def node_upload(node: str, server: Server, path: Path, chunk: int, *extra: str) -> dict[str, Any]:
    endpoint = server.url + "/api/v1/uploads"
    result = subprocess.run(
        [node, str(JS / "tus_upload.mjs"), endpoint, str(path), str(chunk), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "STREAMFORGE_TOKEN": server.token},
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize(
    ("size", "chunk"), [(300_000, 64 * 1024), (3_500_000, 1024 * 1024), (2_000_000, 50_000_000)]
)
def test_node_client_uploads_intact(node: str, tmp_path: Path, size: int, chunk: int) -> None:
    source = tmp_path / "blob.mp4"
    source.write_bytes(os.urandom(size))
    with running_server(write_config(tmp_path)) as server:
        result = node_upload(node, server, source, chunk)
        status = status_of(server, result["url"])
        assert status["complete"] is True
        assert sha256(stored_source(tmp_path, status["video_id"])) == sha256(source)


def test_node_client_resumes_an_interrupted_upload(node: str, tmp_path: Path) -> None:
    source = tmp_path / "big.mp4"
    source.write_bytes(os.urandom(4_000_000))
    with running_server(write_config(tmp_path)) as server:
        first = node_upload(node, server, source, 500_000, "1500000")
        assert first["stopped"] is True
        assert status_of(server, first["url"])["complete"] is False
        done = node_upload(node, server, source, 500_000, "0", first["url"])
        assert done["url"] == first["url"]
        status = status_of(server, first["url"])
        assert sha256(stored_source(tmp_path, status["video_id"])) == sha256(source)


def test_browser_client_uploads_intact(node: str, browser: Any, tmp_path: Path) -> None:
    need_service("chromium", Path(CHROMIUM).exists(), "chromium is missing")
    size = 2_500_000
    with running_server(write_config(tmp_path)) as server:
        page = browser.new_page()
        # the pages' CSP runs scripts from the site only, not inline: serve the bundle as
        # if it were one of the site's files
        page.route(
            "**/tus-test-bundle.js",
            lambda route: route.fulfill(path=str(TUS_BUNDLE), content_type="text/javascript"),
        )
        page.goto(server.url + "/")
        page.add_script_tag(url="/tus-test-bundle.js")
        url = page.evaluate(
            """async ([size, token]) => {
                 const bytes = new Uint8Array(size);
                 for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
                 const file = new File([bytes], "browser.mp4", { type: "video/mp4" });
                 return await new Promise((resolve, reject) => {
                   const up = new tus.Upload(file, {
                     endpoint: "/api/v1/uploads", chunkSize: 700000,
                     headers: { Authorization: `Bearer ${token}` },
                     metadata: { filename: file.name },
                     onError: reject, onSuccess: () => resolve(up.url) });
                   up.start();
                 });
               }""",
            [size, server.token],
        )
        status = status_of(server, url)
        stored = stored_source(tmp_path, status["video_id"]).read_bytes()
        expected = bytes(((i * 2654435761) & 0xFFFFFFFF) >> 24 for i in range(size))
        assert stored == expected
