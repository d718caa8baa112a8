"""Job state in the database: leases, fencing, retries, reaping lost runners."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from streamforge.db.models import Job, JobAttempt, JobState, Video, VideoStatus
from streamforge.db.session import Database
from streamforge.jobs import store
from tests.dbs import new_job


async def test_only_one_of_many_racing_claims_wins(db: Database) -> None:
    job_id = await new_job(db)
    claims = await asyncio.gather(*(store.claim(db, job_id, f"w{i}", 30) for i in range(8)))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1
    async with db.session() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        assert job.state == JobState.RUNNING
        assert job.attempts == 1
        video = await s.get(Video, "vid1")
        assert video is not None
        assert video.status == VideoStatus.PROCESSING


async def test_failure_requeues_with_backoff_then_fails_for_good(db: Database) -> None:
    job_id = await new_job(db, max_attempts=2)
    first = await store.claim(db, job_id, "w", 30)
    assert first is not None
    outcome = await store.fail(db, first, "bad frame", backoff=10)
    assert outcome is not None
    assert not outcome.final
    assert outcome.retry_at is not None
    # not due yet: the backoff holds it back
    assert await store.claim(db, job_id, "w", 30) is None
    async with db.session() as s:
        await s.execute(update(Job).where(Job.id == job_id).values(run_after=store.now()))
    second = await store.claim(db, job_id, "w", 30)
    assert second is not None
    assert second.attempt == 2
    final = await store.fail(db, second, "bad frame again", backoff=10)
    assert final is not None
    assert final.final
    async with db.session() as s:
        video = await s.get(Video, "vid1")
        assert video is not None
        assert video.status == VideoStatus.FAILED
        assert video.error == "bad frame again"
        attempts = (await s.execute(select(JobAttempt).order_by(JobAttempt.number))).scalars()
        assert [(a.number, a.outcome) for a in attempts] == [(1, "failed"), (2, "failed")]
    assert await store.claim(db, job_id, "w", 30) is None


async def test_a_stale_runner_cannot_publish(db: Database) -> None:
    job_id = await new_job(db)
    old = await store.claim(db, job_id, "old", 30)
    assert old is not None
    async with db.session() as s:  # the lease ran out
        await s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=store.now() - timedelta(seconds=1))
        )
    lost = await store.reap_lost(db)
    assert [(x.job_id, x.final) for x in lost] == [(job_id, False)]
    new = await store.claim(db, job_id, "new", 30)
    assert new is not None
    assert new.token != old.token
    assert not await store.renew(db, old, 30)
    async with db.session() as s:
        assert not await store.succeed(s, old)
    assert await store.fail(db, old, "late", backoff=0) is None
    async with db.session() as s:
        assert await store.succeed(s, new)
        attempts = (await s.execute(select(JobAttempt).order_by(JobAttempt.number))).scalars()
        assert [(a.number, a.outcome) for a in attempts] == [(1, "lost"), (2, "succeeded")]


async def test_live_lease_is_left_alone_and_dead_local_owner_is_reaped(db: Database) -> None:
    job_id = await new_job(db)
    claim = await store.claim(db, job_id, store.worker_identity(), 300)
    assert claim is not None
    assert await store.reap_lost(db) == []
    # a process on this host that no longer exists held the lease
    async with db.session() as s:
        await s.execute(
            update(Job).where(Job.id == job_id).values(lease_owner=f"{store.worker_identity()}x")
        )
    host = store.worker_identity().rsplit(":", 2)[0]
    async with db.session() as s:
        await s.execute(update(Job).where(Job.id == job_id).values(lease_owner=f"{host}:999999:1"))
    lost = await store.reap_lost(db)
    assert [x.job_id for x in lost] == [job_id]


async def test_lost_runs_count_as_attempts(db: Database) -> None:
    job_id = await new_job(db, max_attempts=2)
    for expected_final in (False, True):
        claim = await store.claim(db, job_id, "w", 30)
        assert claim is not None
        async with db.session() as s:
            await s.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(lease_expires_at=store.now() - timedelta(seconds=1))
            )
        lost = await store.reap_lost(db)
        assert [x.final for x in lost] == [expected_final]
    async with db.session() as s:
        video = await s.get(Video, "vid1")
        assert video is not None
        assert video.status == VideoStatus.FAILED
        assert video.error is not None
        assert video.error.startswith("gave up after 2 attempts; last: the worker running")


async def test_due_jobs_skips_pending_and_recent_messages(db: Database) -> None:
    job_id = await new_job(db)
    assert await store.due_jobs(db, skip={job_id}, stale_after=None) == []
    [due] = await store.due_jobs(db, skip=set(), stale_after=None)
    assert (due.job_id, due.video_id, due.unclaimed_for) == (job_id, "vid1", None)
    # with an external broker, a message sent a moment ago is trusted
    assert await store.due_jobs(db, skip=set(), stale_after=600) == []


async def test_a_message_no_worker_took_is_due_again_with_its_wait(db: Database) -> None:
    job_id = await new_job(db)
    sent = store.now() - timedelta(seconds=700)
    async with db.session() as s:
        await s.execute(update(Job).where(Job.id == job_id).values(enqueued_at=sent))
    [due] = await store.due_jobs(db, skip=set(), stale_after=600)
    assert due.job_id == job_id
    assert due.unclaimed_for is not None
    assert 700 <= due.unclaimed_for < 760
    assert await store.due_jobs(db, skip=set(), stale_after=600) == []  # just sent again
    # a retry's message waits out its backoff first: its wait counts from when it was due
    async with db.session() as s:
        await s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(enqueued_at=sent, run_after=sent + timedelta(seconds=500))
        )
    [due] = await store.due_jobs(db, skip=set(), stale_after=600)
    assert due.unclaimed_for is not None
    assert 200 <= due.unclaimed_for < 260


async def test_readers_do_not_take_the_write_lock(db: Database) -> None:
    """A read session must not queue behind a writer (no BEGIN IMMEDIATE for reads)."""
    await new_job(db)
    async with db.session() as writer:  # holds SQLite's write lock until the block ends
        await writer.execute(update(Video).where(Video.id == "vid1").values(title="new"))
        async with db.read() as reader:
            video = await asyncio.wait_for(reader.get(Video, "vid1"), 2)
            assert video is not None
            assert video.title == "t"  # the writer has not committed yet
