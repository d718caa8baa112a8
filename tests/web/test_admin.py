"""The admin page and the job retry API, through the app on real SQLite files."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select, update
from streamforge_x264 import X264Encoder

from streamforge.db.models import Job, JobAttempt, JobState, Role, Video, VideoStatus
from streamforge.db.session import Database
from streamforge.events import Event
from streamforge.jobs import store
from streamforge.jobs.service import queue_job
from streamforge.library import admin, encoding, videos
from streamforge.plugins import Registry
from streamforge.runtime import Runtime
from streamforge.web.state import AppState
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings
from tests.web.helpers import add_video

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def add_job(
    rt: Runtime, video_id: str, state: JobState, *, minutes: int = 0, **fields: Any
) -> str:
    await add_video(rt, video_id, VideoStatus.FAILED, title=f"Title of {video_id}")
    async with rt.db.session() as s:
        job = await store.create_job(s, video_id, max_attempts=3)
        job_id = job.id
        values = {"state": state, "created_at": T0 + timedelta(minutes=minutes), **fields}
        await s.execute(update(Job).where(Job.id == job_id).values(**values))
    return job_id


async def test_admin_lists_jobs_newest_first(client: Client, rt: Runtime) -> None:
    failed = await add_job(
        rt, "vfail", JobState.FAILED, minutes=2, attempts=3, last_error="not a supported video"
    )
    done = await add_job(rt, "vdone", JobState.SUCCEEDED, minutes=1, attempts=1)
    queued = await add_job(rt, "vwait", JobState.QUEUED, minutes=3)
    response = await client.get("/admin")
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert re.findall(r'<tr class="job state-(\w+)" data-job-id="([^"]+)"', html) == [
        ("queued", queued),
        ("failed", failed),
        ("succeeded", done),
    ]
    row = html[html.index(f'data-job-id="{failed}"') :]
    row = row[: row.index("</tr>")]
    assert '<a href="/v/vfail">Title of vfail</a>' in row
    assert "<td>3 / 3</td>" in row
    assert "not a supported video" in row
    assert '<time datetime="2026-03-01T12:02:00+00:00">2026-03-01 12:02:00</time>' in row
    assert f'data-retry-job="{failed}"' in row
    assert html.count("data-retry-job=") == 1  # only failed jobs can be retried
    assert '<a href="/admin?state=failed">failed <span class="count">1</span></a>' in html
    assert "/static/js/admin.js?v=" in html

    only_failed = await (await client.get("/admin?state=failed")).get_data(as_text=True)
    assert re.findall(r'data-job-id="([^"]+)"', only_failed) == [failed]
    assert (await client.get("/admin?state=bogus")).status_code == 400


async def test_admin_shows_plugins_encoders_and_services(client: Client, rt: Runtime) -> None:
    html = await (await client.get("/admin")).get_data(as_text=True)
    for name, hooks in rt.registry.describe():
        assert f'<tr data-plugin="{name}"><td>{name}</td><td>{", ".join(hooks)}</td></tr>' in html
    assert '<tr class="encoder works" data-encoder="x264">' in html
    for name in rt.registry.encoders:
        assert f'data-encoder="{name}"' in html
    assert f"<code>{rt.db.safe_url}</code>" in html
    assert "<dt>Broker</dt><dd>in-process (embedded mode, 1 worker thread)</dd>" in html
    assert "<dt>Storage</dt><dd>local</dd>" in html
    assert '<a href="/admin">Admin</a>' in await (await client.get("/")).get_data(as_text=True)


async def test_system_description_hides_secrets_and_probes_encoders_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_BROKER__URL="redis://:s3cret@db.example:6379/0")
    registry = Registry.build(settings)  # connects to nothing
    database = Database("sqlite+aiosqlite:///" + str(tmp_path / "x.db"))
    probes: list[str] = []

    def available(self: X264Encoder) -> bool:
        probes.append(self.name)
        return True

    monkeypatch.setattr(X264Encoder, "available", available)
    monkeypatch.setattr(encoding, "_checked", {})
    try:
        first = await admin.describe_system(registry, database)
        again = await admin.describe_system(registry, database)
    finally:
        await database.close()
    assert first.broker == "redis://:***@db.example:6379/0"
    assert "s3cret" not in repr(first)
    assert probes == ["x264"]  # cached for the process: the second page view probes nothing
    assert again.encoders == first.encoders


async def test_job_listing_pages_with_cursors(rt: Runtime) -> None:
    ids = [await add_job(rt, f"v{n}", JobState.SUCCEEDED, minutes=n) for n in range(5)]
    newest_first = list(reversed(ids))
    async with rt.db.read() as s:
        first = await admin.list_jobs(s, limit=2)
        second = await admin.list_jobs(s, limit=2, cursor=first.older_cursor)
        last = await admin.list_jobs(s, limit=2, cursor=second.older_cursor)
        back = await admin.list_jobs(s, limit=2, cursor=second.newer_cursor)
    assert [j.id for j in first.rows + second.rows + last.rows] == newest_first
    assert first.newer_cursor is None
    assert last.older_cursor is None
    assert [j.id for j in back.rows] == newest_first[:2]
    assert first.counts == {JobState.SUCCEEDED: 5}


async def subscribe(rt: Runtime, into: asyncio.Queue[Event], video_id: str) -> asyncio.Task[None]:
    async def collect() -> None:
        async for event in rt.events.subscribe():
            if event["video_id"] == video_id:
                into.put_nowait(event)

    task = asyncio.create_task(collect())
    await asyncio.sleep(0)  # let it register with the bus before anything is published
    return task


async def test_retry_queues_a_failed_job_with_fresh_attempts(
    app: Quart, client: Client, rt: Runtime
) -> None:
    job_id = await add_job(rt, "vfail", JobState.FAILED, attempts=3, last_error="boom")
    async with rt.db.session() as s:
        await s.execute(update(Video).where(Video.id == "vfail").values(error="boom"))
    events: asyncio.Queue[Event] = asyncio.Queue()
    listener = await subscribe(rt, events, "vfail")
    response = await client.post(f"/api/v1/jobs/{job_id}/retry")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["id"] == job_id
    assert body["state"] == "queued"
    assert (body["attempts"], body["max_attempts"]) == (3, 3 + rt.settings.jobs.max_attempts)
    queued = await asyncio.wait_for(events.get(), 5)
    listener.cancel()
    assert (queued["type"], queued["reason"]) == ("video.queued", "requeued")
    assert queued["video"]["status"] == "queued"
    async with rt.db.read() as s:
        job = await s.get(Job, job_id)
        video = await s.get(Video, "vfail")
        assert job is not None
        assert video is not None
        assert job.enqueued_at is not None  # handed to the job host, not left to the reconciler
        assert (video.status, video.error, video.progress) == (VideoStatus.QUEUED, None, 0.0)
    host = app.extensions["streamforge"].jobs
    assert job_id in host.pending

    again = await client.post(f"/api/v1/jobs/{job_id}/retry")
    assert again.status_code == 400
    assert (await again.get_json())["error"]["message"] == (
        f"job {job_id} is queued; only a failed job can be retried"
    )
    missing = await client.post("/api/v1/jobs/nope/retry")
    assert missing.status_code == 404
    assert (await missing.get_json())["error"]["message"] == "no job 'nope'"
    spec = await (await client.get("/openapi.json")).get_json()
    retry = spec["paths"]["/api/v1/jobs/{job_id}/retry"]["post"]
    assert retry["summary"].startswith("Retry a failed job")


@pytest.fixture
async def working_app(tmp_path: Path) -> AsyncIterator[Quart]:
    """The app with its in-process workers running, one attempt per job."""
    from streamforge.app import create_app

    settings = make_settings(
        tmp_path, STREAMFORGE_JOBS__MAX_ATTEMPTS="1", STREAMFORGE_JOBS__RETRY_BACKOFF="0"
    )
    app = create_app(settings, run_jobs=True)
    async with app.test_app():
        yield app


async def test_a_retried_job_runs_again_and_its_history_grows(
    working_app: Quart, tmp_path: Path
) -> None:
    state: AppState = working_app.extensions["streamforge"]
    rt, host = state.runtime, state.jobs
    assert rt is not None
    assert host is not None
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))  # not a video: every attempt fails
    imported = await videos.import_file(rt.db, rt.storage, rt.settings, junk)
    events: asyncio.Queue[Event] = asyncio.Queue()
    listener = await subscribe(rt, events, imported.video_id)

    async def failure() -> Event:
        while (event := await asyncio.wait_for(events.get(), 120))["type"] != "video.failed":
            pass
        return event

    await queue_job(host, rt, imported.job_id)
    first = await failure()
    assert (first["attempt"], first["final"]) == (1, True)
    _, token = await make_account(rt.db)
    response = await bearer_client(working_app, token).post(f"/api/v1/jobs/{imported.job_id}/retry")
    assert response.status_code == 200
    retried = await response.get_json()
    assert (retried["state"], retried["attempts"], retried["max_attempts"]) == ("queued", 1, 2)
    assert [a["number"] for a in retried["history"]] == [1]
    second = await failure()
    listener.cancel()
    assert (second["attempt"], second["final"]) == (2, True)
    async with rt.db.read() as s:
        job = await s.get(Job, imported.job_id)
        assert job is not None
        assert (job.state, job.attempts, job.max_attempts) == (JobState.FAILED, 2, 2)
        history = (
            await s.execute(
                select(JobAttempt.number, JobAttempt.outcome)
                .where(JobAttempt.job_id == job.id)
                .order_by(JobAttempt.number)
            )
        ).all()
        assert [tuple(row) for row in history] == [(1, "failed"), (2, "failed")]
        video = await s.get(Video, imported.video_id)
        assert video is not None
        assert video.status == VideoStatus.FAILED
        assert video.error is not None
        assert video.error.startswith("not a supported video file")


async def test_those_who_may_not_administer_get_a_403(app: Quart, rt: Runtime) -> None:
    job_id = await add_job(rt, "vfail", JobState.FAILED, attempts=3)
    _, token = await make_account(rt.db, "uploader", Role.UPLOADER)
    client = bearer_client(app, token)
    page = await client.get("/admin")
    assert page.status_code == 403
    assert "only an administrator may use the admin area" in await page.get_data(as_text=True)
    retry = await client.post(f"/api/v1/jobs/{job_id}/retry")
    assert retry.status_code == 403
    assert (await retry.get_json())["error"]["code"] == "forbidden"
    async with rt.db.read() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        assert job.state == JobState.FAILED  # refused before anything changed


async def test_a_bad_job_cursor_is_a_themed_400(client: Client, rt: Runtime) -> None:
    await add_job(rt, "v1", JobState.SUCCEEDED)
    response = await client.get("/admin?cursor=garbage")
    assert response.status_code == 400
    assert "cursor is not a cursor of the &#39;jobs&#39; sort" in await response.get_data(
        as_text=True
    )
