"""``GET /metrics`` (and a worker's own ``/metrics``): Prometheus text that parses, figures
that move when uploads, transcodes and sockets happen, and the access rules of
``[metrics]``. Counters belong to the process, so tests compare before and after."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart
from quart.typing import TestClientProtocol as Client

from streamforge.app import create_app
from streamforge.config import Settings
from streamforge.db.models import Privacy, VideoStatus
from streamforge.metrics import serve_worker_metrics
from streamforge.web.state import AppState
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings
from tests.e2e.cli import cli, free_port, write_config
from tests.mediagen import make_clip
from tests.uploads.helpers import create, patch
from tests.web.helpers import add_ready_video, add_video

STREAMFORGE = [sys.executable, "-m", "streamforge"]
ONE_RUNG = '[{name = "144p", height = 144, video_bitrate = 200000, audio_bitrate = 64000}]'

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels (parsing fails on malformed text)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(app: Quart, **headers: str) -> Samples:
    response = await app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 200, await response.get_data()
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return parse((await response.get_data()).decode())


@asynccontextmanager
async def serving(settings: Settings, *, run_jobs: bool = False) -> AsyncIterator[Quart]:
    app = create_app(settings, run_jobs=run_jobs)
    async with app.test_app():
        yield app
        await state_of(app).runtime.events.close()  # type: ignore[union-attr]


def state_of(app: Quart) -> AppState:
    state: AppState = app.extensions["streamforge"]
    return state


async def admin(app: Quart) -> Client:
    rt = state_of(app).runtime
    assert rt is not None
    _, token = await make_account(rt.db)
    return bearer_client(app, token)


@contextmanager
def namespace_of_own(url: str) -> Iterator[str]:
    """A broker namespace for one test; its Redis keys are deleted after it."""
    namespace = f"t{uuid.uuid4().hex[:12]}"
    try:
        yield namespace
    finally:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(f"{namespace}:*"))
        if keys:
            client.delete(*keys)


async def test_figures_move_after_an_upload_and_its_transcode(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        STREAMFORGE_TRANSCODE__LADDER=ONE_RUNG,
        STREAMFORGE_ENCODERS__X264__PRESET="ultrafast",
    )
    clip = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=2.0).read_bytes()
    async with serving(settings, run_jobs=True) as app:
        rt = state_of(app).runtime
        assert rt is not None
        client = await admin(app)
        before = await scrape(app)
        assert value(before, "streamforge_build_info", version="0.1.0") == 1
        assert value(before, "streamforge_source_up", source="database") == 1
        assert value(before, "streamforge_jobs", state="succeeded") == 0

        events = rt.events.subscribe()
        location = await create(client, len(clip))
        half = len(clip) // 2
        assert (await patch(client, location, 0, clip[:half])).status_code == 204
        assert (await patch(client, location, half, clip[half:])).status_code == 204
        upload = await (await client.get(location)).get_json()

        async def ready() -> None:
            async for event in events:
                if event["type"] == "video.ready" and event["video_id"] == upload["video_id"]:
                    return
                assert event["type"] != "video.failed", event

        await asyncio.wait_for(ready(), 240)
        after = await scrape(app)

    received = "streamforge_upload_received_bytes_total"
    assert value(after, received) - value(before, received) == len(clip)
    count = "streamforge_transcode_seconds_count"
    assert value(after, count, rung="144p") - value(before, count, rung="144p") == 1
    assert value(after, "streamforge_transcode_seconds_sum", rung="144p") > 0
    wall = "streamforge_transcode_wall_seconds_count"
    assert value(after, wall) - value(before, wall) == 1
    assert value(after, "streamforge_jobs", state="succeeded") == 1
    assert value(after, "streamforge_jobs", state="queued") == 0
    assert value(after, "streamforge_videos", status="ready") == 1
    assert value(after, "streamforge_queue_messages", queue="transcode") == 0
    patches = dict(method="PATCH", route="/api/v1/uploads/<upload_id>", status="204")
    requests = "streamforge_http_requests_total"
    assert value(after, requests, **patches) - value(before, requests, **patches) == 2


async def test_queue_depth_is_read_from_redis(tmp_path: Path, redis_url: str) -> None:
    with namespace_of_own(redis_url) as namespace:
        settings = make_settings(
            tmp_path, STREAMFORGE_BROKER__URL=redis_url, STREAMFORGE_BROKER__NAMESPACE=namespace
        )
        async with serving(settings) as app:
            host = state_of(app).jobs
            assert host is not None
            before = await scrape(app)
            host.enqueue("job-now")
            host.enqueue("job-later", 3600)  # a retry waiting for its backoff
            host.enqueue("job-now-too")
            after = await scrape(app)
    assert value(before, "streamforge_queue_messages", queue="transcode") == 0
    assert value(after, "streamforge_queue_messages", queue="transcode") == 2
    assert value(after, "streamforge_queue_messages", queue="transcode_delayed") == 1
    assert value(after, "streamforge_source_up", source="broker") == 1


async def test_websocket_clients_gauge(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path)) as app:
        rt = state_of(app).runtime
        assert rt is not None
        await add_video(rt, "queuedvid01", VideoStatus.QUEUED)
        gauge = "streamforge_websocket_clients"
        before = value(await scrape(app), gauge)
        async with app.test_client().websocket("/api/v1/events") as ws:
            first = json.loads(await ws.receive())  # the snapshot: the socket is up
            assert first["video_id"] == "queuedvid01"
            assert value(await scrape(app), gauge) == before + 1
        assert value(await scrape(app), gauge) == before


async def test_routes_are_counted_by_pattern_never_by_path(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path)) as app:
        rt = state_of(app).runtime
        assert rt is not None
        await add_ready_video(rt, "privvid0001", privacy=Privacy.PRIVATE)
        client = await admin(app)
        video = await (await client.get("/api/v1/videos/privvid0001")).get_json()
        link = video["hls_url"]
        token = link.split("/~", 1)[1].split("/", 1)[0]
        assert len(token) > 20
        anon = app.test_client()
        assert (await anon.get(link)).status_code == 200  # the link alone opens it
        response = await anon.get("/metrics")
        text = (await response.get_data()).decode()
    assert token not in text
    assert "privvid0001" not in text
    samples = parse(text)
    media = dict(method="GET", route="/media/<video_id>/<path:rel>", status="200")
    assert value(samples, "streamforge_http_requests_total", **media) >= 1


async def test_a_token_guards_the_metrics(tmp_path: Path) -> None:
    secret = "a-long-random-metrics-token"
    settings = make_settings(tmp_path, STREAMFORGE_METRICS__TOKEN=secret)
    async with serving(settings) as app:
        client = app.test_client()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": secret}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await refused.get_json())["error"]["code"] == "unauthorized"
        samples = await scrape(app, Authorization=f"Bearer {secret}")
    assert value(samples, "streamforge_source_up", source="database") == 1


async def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_METRICS__ENABLED="false")
    async with serving(settings) as app:
        assert (await app.test_client().get("/metrics")).status_code == 404
        # liveness and readiness do not depend on it
        assert (await app.test_client().get("/api/v1/ready")).status_code == 200


def fetch(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


async def test_worker_metrics_server_and_its_token() -> None:
    server = serve_worker_metrics("127.0.0.1", 0, "worker-token")
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        status, text = await asyncio.to_thread(fetch, base + "/metrics", "worker-token")
        assert status == 200
        assert value(parse(text), "streamforge_build_info", version="0.1.0") == 1
        assert (await asyncio.to_thread(fetch, base + "/metrics"))[0] == 401
        assert (await asyncio.to_thread(fetch, base + "/metrics", "nope"))[0] == 401
        assert (await asyncio.to_thread(fetch, base + "/other", "worker-token"))[0] == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_a_worker_process_reports_its_transcodes(tmp_path: Path, redis_url: str) -> None:
    """The scale-out mode: a real ``streamforge worker --metrics-port`` transcodes a video
    that ``streamforge add`` queued in Redis, and its own /metrics shows the transcode."""
    port = free_port()
    log = tmp_path / "worker.log"
    with namespace_of_own(redis_url) as namespace, log.open("w") as out:
        extra = f'[broker]\nurl = "{redis_url}"\nnamespace = "{namespace}"\n'
        config = write_config(tmp_path, extra)
        worker = subprocess.Popen(
            [*STREAMFORGE, "--config", str(config), "worker", "--metrics-port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            clip = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=2.0)
            added = cli(config, "add", str(clip), "--wait", timeout=240)
            assert added.returncode == 0, (added.stderr, log.read_text())
            status, text = fetch(f"http://127.0.0.1:{port}/metrics")
        finally:
            worker.terminate()
            worker.wait(60)
    assert status == 200, log.read_text()
    samples = parse(text)
    assert value(samples, "streamforge_transcode_seconds_count", rung="144p") == 1
    assert value(samples, "streamforge_transcode_wall_seconds_count") == 1
    assert value(samples, "process_resident_memory_bytes") > 0
