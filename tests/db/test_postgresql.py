"""PostgreSQL as the database: the whole app on it (upload, transcode, watch), and what
differs from SQLite: overlapping write transactions, migrations started together, URLs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from streamforge.db.models import Job, JobState, Video, VideoStatus
from streamforge.db.session import Database, DatabaseError
from streamforge.errors import ConfigError
from streamforge.events import Event
from streamforge.jobs import store
from streamforge.jobs.host import RECONCILER_LOCK
from tests.conftest import make_settings
from tests.dbs import new_job
from tests.mediagen import make_clip
from tests.uploads.helpers import create, patch

ONE_RUNG = '[{name = "144p", height = 144, video_bitrate = 200000, audio_bitrate = 64000}]'


@pytest.fixture
async def db(postgresql_url: str) -> AsyncIterator[Database]:
    database = Database(postgresql_url)
    await database.migrate()
    yield database
    await database.close()


async def test_upload_transcode_and_watch_with_postgresql(
    tmp_path: Path, postgresql_url: str
) -> None:
    from streamforge.app import create_app
    from tests.authn import bearer_client, make_account

    settings = make_settings(
        tmp_path,
        STREAMFORGE_DATABASE__URL=postgresql_url.replace("postgresql+asyncpg://", "postgres://"),
        STREAMFORGE_TRANSCODE__LADDER=ONE_RUNG,
        STREAMFORGE_ENCODERS__X264__PRESET="ultrafast",
    )
    assert settings.database_url.startswith("postgresql+asyncpg://")
    clip = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=2.0).read_bytes()
    app = create_app(settings, run_jobs=True)  # in-process workers, reconciler, dispatcher
    async with app.test_app():
        rt = app.extensions["streamforge"].runtime
        _, token = await make_account(rt.db)
        client = bearer_client(app, token)
        ready: asyncio.Queue[Event] = asyncio.Queue()

        async def watch() -> None:
            async for event in rt.events.subscribe():
                if event["type"] in ("video.ready", "video.failed"):
                    ready.put_nowait(event)

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0)  # registered with the bus before anything is published
        try:
            path = await create(client, len(clip), filename="Harbour at dusk.mp4")
            done = await patch(client, path, 0, clip)
            assert done.status_code == 204, await done.get_data()
            video_id = done.headers["StreamForge-Video-Id"]
            event = await asyncio.wait_for(ready.get(), 120)
        finally:
            watcher.cancel()
        assert (event["type"], event["video_id"]) == ("video.ready", video_id)

        body = await (await client.get(f"/api/v1/videos/{video_id}")).get_json()
        assert body["status"] == "ready"
        assert [r["name"] for r in body["renditions"]] == ["144p"]
        listed = await (await client.get("/api/v1/videos?q=HARBOUR")).get_json()
        assert [v["id"] for v in listed["items"]] == [video_id]
        playlist = await client.get(body["hls_url"])
        assert playlist.status_code == 200
        assert b"#EXTM3U" in await playlist.get_data()

    # it all lives in PostgreSQL, not in a SQLite file
    assert not (settings.data_dir / "streamforge.db").exists()
    check = Database(postgresql_url)
    try:
        async with check.read() as s:
            job = (await s.execute(select(Job).where(Job.video_id == video_id))).scalar_one()
            assert (job.state, job.attempts) == (JobState.SUCCEEDED, 1)
            assert job.finished_at is not None
            assert job.finished_at.tzinfo is not None
    finally:
        await check.close()


async def _waiting_for_a_lock(db: Database) -> bool:
    async with db.read() as s:
        query = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool((await s.execute(query)).scalar_one())


async def test_a_job_settled_while_the_reaper_looks_stays_settled(db: Database) -> None:
    job_id = await new_job(db)
    claim = await store.claim(db, job_id, "slow-runner", 30)
    assert claim is not None
    async with db.session() as s:  # the runner stalled past its lease...
        past = store.now() - timedelta(seconds=1)
        await s.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=past))
    async with db.session() as s:  # ...and publishes just as a reconciler looks
        assert await store.succeed(s, claim)
        reaping = asyncio.create_task(store.reap_lost(db))
        # (no event says "blocked on a row lock": look until it is, or has finished)
        while not reaping.done() and not await _waiting_for_a_lock(db):
            await asyncio.wait({reaping}, timeout=0.02)
    assert await reaping == []
    async with db.read() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        assert job.state == JobState.SUCCEEDED


async def test_reconcilers_in_two_processes_send_one_message_per_job(db: Database) -> None:
    async with db.session() as s:
        for n in range(6):
            s.add(Video(id=f"v{n}", title="t", status=VideoStatus.QUEUED))
            await s.flush()
            await store.create_job(s, f"v{n}", max_attempts=3)
    others = [Database(db.url) for _ in range(3)]  # separate engines, as processes have
    try:
        await asyncio.gather(*(other.check() for other in others))  # connected: they overlap
        passes = await asyncio.gather(
            *(store.due_jobs(d, skip=set(), stale_after=600) for d in others)
        )
    finally:
        for other in others:
            await other.close()
    sent = [due.job_id for found in passes for due in found]
    assert len(sent) == len(set(sent)) == 6


async def test_servers_starting_together_migrate_once(postgresql_url: str) -> None:
    nodes = [Database(postgresql_url) for _ in range(3)]
    try:
        await asyncio.gather(*(node.migrate() for node in nodes))
        async with nodes[0].read() as s:
            [version] = (await s.execute(text("SELECT version_num FROM alembic_version"))).all()
            assert (await s.execute(select(func.count()).select_from(Video))).scalar_one() == 0
    finally:
        for node in nodes:
            await node.close()
    assert version[0] >= "0004"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u@127.0.0.1/x",
        "postgresql://u@127.0.0.1/x",
        "postgresql+asyncpg://u@127.0.0.1/x",
    ],
)
async def test_each_form_of_url_gets_the_asyncpg_driver(url: str) -> None:
    db = Database(url)
    try:
        assert db.url == "postgresql+asyncpg://u@127.0.0.1/x"
        assert db.engine.dialect.driver == "asyncpg"
        assert not db.is_sqlite
    finally:
        await db.close()


def test_a_bad_url_is_refused_without_its_password() -> None:
    with pytest.raises(ConfigError) as info:
        Database("mysql://sf:hunter2@db/sf")
    assert str(info.value).startswith("[database] url: must be a database URL: postgresql://")
    assert "hunter2" not in str(info.value)


async def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    db = Database("postgresql://sf:hunter2@127.0.0.1:1/sf")
    try:
        with pytest.raises(DatabaseError) as info:
            await db.check()
        with pytest.raises(DatabaseError, match="cannot migrate the database"):
            await db.migrate()
    finally:
        await db.close()
    assert "postgresql+asyncpg://sf:***@127.0.0.1:1/sf unreachable" in str(info.value)
    assert "hunter2" not in str(info.value)


async def test_one_reconciler_pass_at_a_time(db: Database) -> None:
    """Another process's pass under way: this one's lock attempt says no, at once, and
    yes once that pass ended (no lock outlives its block)."""
    other = Database(db.url)
    try:
        async with other.try_lock(RECONCILER_LOCK) as first:
            assert first
            async with db.try_lock(RECONCILER_LOCK) as second:
                assert not second
        async with db.try_lock(RECONCILER_LOCK) as third:
            assert third
    finally:
        await other.close()


async def test_the_pool_holds_at_most_pool_size_plus_overflow_connections(
    postgresql_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        STREAMFORGE_DATABASE__URL=postgresql_url,
        STREAMFORGE_DATABASE__POOL_SIZE="1",
        STREAMFORGE_DATABASE__MAX_OVERFLOW="1",
    )
    db = Database.of(settings)
    held: list[asyncio.Event] = []

    async def hold_a_connection(started: asyncio.Event) -> None:
        release = asyncio.Event()
        held.append(release)
        async with db.read() as s:
            await s.execute(text("SELECT 1"))
            started.set()
            await release.wait()

    try:
        starts = [asyncio.Event(), asyncio.Event(), asyncio.Event()]
        tasks = [asyncio.create_task(hold_a_connection(e)) for e in starts]
        await starts[0].wait()
        await starts[1].wait()
        done, _ = await asyncio.wait([asyncio.create_task(starts[2].wait())], timeout=0.5)
        assert not done  # the third waits for a connection: 1 + 1 are in use
        held[0].set()
        await asyncio.wait_for(starts[2].wait(), 10)  # and gets the one given back
        for release in held:
            release.set()
        await asyncio.gather(*tasks)
    finally:
        await db.close()


async def test_a_snapshot_read_is_repeatable_read(db: Database) -> None:
    async with db.read(snapshot=True) as s:
        level = (await s.execute(text("SHOW transaction_isolation"))).scalar_one()
        read_only = (await s.execute(text("SHOW transaction_read_only"))).scalar_one()
    assert (level, read_only) == ("repeatable read", "on")
    async with db.read() as s:
        assert (await s.execute(text("SHOW transaction_isolation"))).scalar_one() == (
            "read committed"
        )
