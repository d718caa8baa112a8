"""The notification outbox and its dispatcher: once per event, leases, retries, isolation."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import update
from sqlalchemy.engine import Connection

from streamforge.db.models import Base, Notification, OutboxState, VideoStatus
from streamforge.db.session import Database
from streamforge.events import make_event, stable_event_id
from streamforge.jobs import store
from streamforge.jobs.runner import run_transcode
from streamforge.library import outbox, videos
from streamforge.library.delivery import Dispatcher, Outcome
from streamforge.library.notify import announce
from tests.notifiers.conftest import open_runtime, outbox_rows, webhook_env
from tests.notifiers.receiver import Receiver, Reply
from tests.notifiers.recording import RecordingNotifier

RECORDING = {
    "STREAMFORGE_NOTIFIERS__ENABLED": '["recording"]',
    "STREAMFORGE_JOBS__MAX_ATTEMPTS": "1",
}


@pytest.fixture(autouse=True)
def recording_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMFORGE_PLUGINS", "tests.notifiers.recording")


async def test_migration_creates_the_table_the_model_describes(database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()

    def diff(conn: Connection) -> list[object]:
        found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        return [d for d in found if "notification_outbox" in repr(d)]

    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.close()


async def test_same_event_announced_twice_is_delivered_once(
    tmp_path: Path, receiver: Receiver, database_url: str
) -> None:
    env = webhook_env(receiver.url, allow_private="true")
    async with open_runtime(tmp_path, STREAMFORGE_DATABASE__URL=database_url, **env) as rt:
        event = make_event("video.deleted", "vid00000001", event_id="e" * 32)
        await announce(rt, event)
        await announce(rt, dict(event))  # a re-sent message announcing it again
        assert await outbox.enqueue(rt.db, event, ["webhook"]) == 0
        assert await Dispatcher(rt).run_once() == 1
        await announce(rt, event)  # even after it went out
        assert await Dispatcher(rt).run_once() == 0
        assert len(receiver.requests) == 1
        assert len(await outbox_rows(rt)) == 1


def test_lifecycle_events_of_one_thing_have_one_id() -> None:
    ready = stable_event_id("video.ready", "job1")
    assert ready == stable_event_id("video.ready", "job1")
    assert ready != stable_event_id("video.ready", "job2")
    assert len(ready) == 32
    assert int(ready, 16) >= 0
    first = make_event("video.ready", "v", event_id=ready)
    again = make_event("video.ready", "v", event_id=ready)
    assert first["id"] == again["id"]
    assert make_event("video.progress", "v")["id"] != make_event("video.progress", "v")["id"]


async def test_only_one_of_several_dispatchers_claims_a_delivery(
    tmp_path: Path, database_url: str
) -> None:
    async with open_runtime(tmp_path, STREAMFORGE_DATABASE__URL=database_url, **RECORDING) as rt:
        await announce(rt, make_event("video.ready", "vid00000001"))
        # separate engines, as separate processes would have
        dbs = [Database(rt.settings.database_url) for _ in range(4)]
        try:
            claims = await asyncio.gather(*(outbox.claim_next(db, "recording", 60) for db in dbs))
        finally:
            for db in dbs:
                await db.close()
        assert sum(c is not None for c in claims) == 1


async def test_delivery_claimed_by_a_crashed_process_is_retried_after_its_lease(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = webhook_env(receiver.url, allow_private="true")
    # timeout 0.25 s: a claim is held for twice that
    async with open_runtime(
        tmp_path,
        STREAMFORGE_NOTIFIERS__TIMEOUT="0.25",
        STREAMFORGE_NOTIFIERS__POLL_INTERVAL="60",
        **env,
    ) as rt:
        settled: asyncio.Queue[Outcome] = asyncio.Queue()
        dispatcher = Dispatcher(rt, on_settled=lambda _, outcome: settled.put_nowait(outcome))
        await announce(rt, make_event("video.ready", "vid00000001"))
        claimed_at = time.monotonic()
        crashed = await outbox.claim_next(rt.db, "webhook", dispatcher.lease_seconds)
        assert crashed is not None  # ...and its process dies here, before delivering
        assert await dispatcher.run_once() == 0  # held by the claim: not delivered twice
        dispatcher.start()
        try:
            # woken when the claim expires, not by the 60 s poll
            assert await asyncio.wait_for(settled.get(), 10) == "delivered"
        finally:
            await dispatcher.stop(within=5)
        assert time.monotonic() - claimed_at >= dispatcher.lease_seconds * 0.9
        [row] = await outbox_rows(rt)
        assert (row.state, row.attempts) == (OutboxState.DELIVERED, 2)
        assert len(receiver.requests) == 1
        # the crashed claim, were its process only slow, cannot record anything now
        assert not await outbox.delivered(rt.db, crashed)
        assert not await outbox.failed(rt.db, crashed, "late", retry_in=None)


async def test_crash_on_the_last_attempt_is_recorded_as_failed(
    tmp_path: Path, database_url: str
) -> None:
    env = {**RECORDING, "STREAMFORGE_DATABASE__URL": database_url}
    async with open_runtime(tmp_path, STREAMFORGE_NOTIFIERS__MAX_ATTEMPTS="1", **env) as rt:
        await announce(rt, make_event("video.ready", "vid00000001"))
        assert await outbox.claim_next(rt.db, "recording", 0) is not None  # lease over at once
        assert await Dispatcher(rt).run_once() == 0
        [row] = await outbox_rows(rt)
        assert (row.state, row.attempts) == (OutboxState.FAILED, 1)
        assert row.last_error == outbox.ABANDONED.format(n=1)
        assert rt.notifiers[0].calls == []


async def test_dispatcher_wakes_for_a_new_event_and_retries_on_schedule(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.reply(Reply(200), Reply(500))
    env = webhook_env(receiver.url, allow_private="true")
    async with open_runtime(
        tmp_path,
        STREAMFORGE_NOTIFIERS__POLL_INTERVAL="60",
        STREAMFORGE_NOTIFIERS__RETRY_BACKOFF="0.2",
        **env,
    ) as rt:
        settled: asyncio.Queue[Outcome] = asyncio.Queue()
        dispatcher = Dispatcher(rt, on_settled=lambda _, outcome: settled.put_nowait(outcome))
        dispatcher.start()
        try:
            await announce(rt, make_event("video.ready", "vid00000001"))
            assert await asyncio.wait_for(settled.get(), 10) == "delivered"
            # the dispatcher now waits for the 60 s poll; a new event wakes it at once
            await announce(rt, make_event("video.ready", "vid00000002"))
            assert await asyncio.wait_for(settled.get(), 10) == "retrying"  # the 500
            retried_at = time.monotonic()
            assert await asyncio.wait_for(settled.get(), 10) == "delivered"
            assert time.monotonic() - retried_at >= 0.2 * 0.9  # after the backoff
        finally:
            await dispatcher.stop(within=5)
        _, failed, retry = receiver.requests
        assert failed.body == retry.body
        assert b"vid00000002" in retry.body


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ({"STREAMFORGE_NOTIFIERS__RECORDING__REFUSE": "true"}, "this can never work"),
        ({"STREAMFORGE_NOTIFIERS__RECORDING__CRASH": "true"}, "KeyError: 'bug in a plugin'"),
        ({"STREAMFORGE_NOTIFIERS__RECORDING__HANG": "true"}, "timed out after 0.1 s"),
    ],
)
async def test_each_failure_is_recorded_with_its_reason(
    tmp_path: Path, keys: dict[str, str], error: str
) -> None:
    env = {**RECORDING, **keys, "STREAMFORGE_NOTIFIERS__TIMEOUT": "0.1"}
    async with open_runtime(tmp_path, STREAMFORGE_NOTIFIERS__MAX_ATTEMPTS="2", **env) as rt:
        await announce(rt, make_event("video.failed", "vid00000001", final=True))
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.FAILED
        assert row.last_error == error
        assert row.attempts == (1 if "REFUSE" in str(keys) else 2)


async def test_only_chosen_events_are_queued(tmp_path: Path) -> None:
    env = {**RECORDING, "STREAMFORGE_NOTIFIERS__RECORDING__EVENTS": '["video.deleted"]'}
    async with open_runtime(tmp_path, **env) as rt:
        await announce(rt, make_event("video.ready", "vid00000001"))
        await announce(rt, make_event("video.deleted", "vid00000001"))
        assert [r.event_type for r in await outbox_rows(rt)] == ["video.deleted"]


async def test_a_failing_notifier_does_not_touch_the_job(tmp_path: Path) -> None:
    from tests.mediagen import make_clip

    env = {
        **RECORDING,
        "STREAMFORGE_NOTIFIERS__RECORDING__CRASH": "true",
        "STREAMFORGE_TRANSCODE__LADDER": (
            '[{name = "144p", height = 144, video_bitrate = 200000, audio_bitrate = 64000}]'
        ),
        "STREAMFORGE_ENCODERS__X264__PRESET": "ultrafast",
        "STREAMFORGE_NOTIFIERS__RETRY_BACKOFF": "60",
    }
    async with open_runtime(tmp_path, **env) as rt:
        clip = make_clip(tmp_path / "c.mp4", width=256, height=144, seconds=1.0)
        imported = await videos.import_file(rt.db, rt.storage, rt.settings, clip)
        await run_transcode(rt, imported.job_id, store.worker_identity(), lambda *a: None)
        notifier = rt.notifiers[0]
        assert isinstance(notifier, RecordingNotifier)
        assert notifier.calls == []  # not called on the job's path...
        [row] = await outbox_rows(rt)
        assert row.event_type == "video.ready"
        assert row.event_id == stable_event_id("video.ready", imported.job_id)
        await Dispatcher(rt).run_once()  # ...but later, where its failure is only recorded
        assert len(notifier.calls) == 1
        async with rt.db.session() as s:
            video = await videos.get_video(s, imported.video_id)
            assert video.status == VideoStatus.READY
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.PENDING
        assert row.last_error is not None


async def test_finished_deliveries_are_pruned_after_keep_days(
    tmp_path: Path, database_url: str
) -> None:
    env = {**RECORDING, "STREAMFORGE_NOTIFIERS__KEEP_DAYS": "7"}
    env["STREAMFORGE_DATABASE__URL"] = database_url
    async with open_runtime(tmp_path, STREAMFORGE_NOTIFIERS__MAX_ATTEMPTS="1", **env) as rt:
        for video_id in ("old", "recent", "waiting"):
            await announce(rt, make_event("video.ready", video_id))
        dispatcher = Dispatcher(rt)
        await dispatcher.run_once()  # delivers all three
        old, recent, waiting = await outbox_rows(rt)
        async with rt.db.session() as s:
            aged = outbox.now() - timedelta(days=8)
            await s.execute(
                update(Notification).where(Notification.id == old.id).values(finished_at=aged)
            )
            await s.execute(
                update(Notification)
                .where(Notification.id == waiting.id)
                .values(state=OutboxState.PENDING, finished_at=aged)
            )
        assert await dispatcher.prune() == 1
        assert [r.id for r in await outbox_rows(rt)] == [recent.id, waiting.id]


async def test_stopping_lets_the_delivery_under_way_finish_and_be_recorded(
    tmp_path: Path,
) -> None:
    env = {**RECORDING, "STREAMFORGE_NOTIFIERS__RECORDING__DELAY": "0.3"}
    async with open_runtime(tmp_path, **env) as rt:
        dispatcher = Dispatcher(rt)
        dispatcher.start()
        await announce(rt, make_event("video.ready", "vid00000001"))
        await announce(rt, make_event("video.ready", "vid00000002"))
        notifier = rt.notifiers[0]
        assert isinstance(notifier, RecordingNotifier)
        await asyncio.wait_for(notifier.called.wait(), 10)
        await dispatcher.stop(within=5)
        first, second = await outbox_rows(rt)
        # the first was under way: it went out and is recorded (not sent again later)
        assert (first.state, first.attempts) == (OutboxState.DELIVERED, 1)
        # the second was not started: left for the next dispatcher
        assert (second.state, second.attempts) == (OutboxState.PENDING, 0)
        assert len(notifier.calls) == 1


async def test_stopping_cuts_off_a_hung_delivery(tmp_path: Path) -> None:
    env = {**RECORDING, "STREAMFORGE_NOTIFIERS__RECORDING__HANG": "true"}
    async with open_runtime(tmp_path, **env) as rt:
        dispatcher = Dispatcher(rt)
        dispatcher.start()
        await announce(rt, make_event("video.ready", "vid00000001"))
        notifier = rt.notifiers[0]
        assert isinstance(notifier, RecordingNotifier)
        await asyncio.wait_for(notifier.called.wait(), 10)
        started = time.monotonic()
        await dispatcher.stop(within=0.2)
        assert time.monotonic() - started < 2
        [row] = await outbox_rows(rt)
        # claimed and never settled: due again for anyone once the claim runs out
        assert (row.state, row.attempts) == (OutboxState.PENDING, 1)
        assert row.next_attempt_at > outbox.now()
