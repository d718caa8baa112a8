"""Faults the scale-out mode must survive, shown with real processes, brokers and databases.

Each test runs ``streamforge serve`` and ``streamforge worker`` processes sharing one data
folder and one database (a fresh PostgreSQL database; test (a) also on a shared SQLite
file), over a Redis database index of its own or RabbitMQ under a unique namespace.
Recovery is bounded by the settings in :data:`tests.e2e.faults.FAST_JOBS`: a runner that
vanished is noticed within one reconciler pass (0.5 s) when it ran on this host, else when
its 6 s lease runs out; a message lost with a killed worker or a flushed Redis is re-sent
3 s after it was sent (``[jobs] requeue_after``).
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from tusclient.client import TusClient

from streamforge.jobs.store import LOST_ERROR
from streamforge.library.uploads import FLUSH_BYTES
from tests.dbs import postgres_database
from tests.e2e.faults import (
    Cluster,
    assert_ready_once,
    freeze_readers_of,
    rabbitmq_url,
    redis_database,
    running_cluster,
    wait_for,
)
from tests.mediagen import make_clip
from tests.uploads.real import (
    PREFIX,
    TUS,
    call,
    part_file,
    sha256,
    size_of,
    start_patch,
    status_of,
    stored_source,
    upload_path,
)

pytestmark = pytest.mark.slow
LOST = LOST_ERROR.split("{n}", 1)[1]  # "stopped without reporting back …"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six small clips (4 s, 320x180: well under a second of transcoding each)."""
    folder = tmp_path_factory.mktemp("clips")
    first = make_clip(folder / "clip-0.mp4", width=320, height=180, seconds=4.0)
    copies = [first]
    for i in range(1, 6):
        copies.append(Path(shutil.copyfile(first, folder / f"clip-{i}.mp4")))
    return copies


@pytest.fixture
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """``[database] url``: a fresh PostgreSQL database (default), or "" for the SQLite
    file in the data folder that every process of the test shares."""
    if getattr(request, "param", "postgresql") == "sqlite":
        yield ""
        return
    with postgres_database() as url:
        yield url


def _kill_one_mid_transcode(cluster: Cluster, clips: list[Path]) -> None:
    cluster.serve()
    # all queued first, workers started after: they cannot finish everything while `add`
    # still imports, before anyone watches
    ids = cluster.add(*clips)
    cluster.start_worker(wait=False)
    cluster.start_worker(wait=False)
    killed, job = cluster.kill_mid_transcode()
    snap = cluster.wait_settled(ids, timeout=120)

    assert_ready_once(cluster, snap, ids)
    assert len(snap.videos) == len(ids)
    assert len(snap.jobs) == len(ids)
    retried = next(j for j in snap.jobs if j.id == job.id)
    # the kill is in the job's history: attempt 1 lost with its worker, attempt 2 elsewhere
    assert retried.attempts == 2, retried
    lost, won = retried.history
    assert (lost.outcome, won.outcome) == ("lost", "succeeded"), retried
    assert lost.worker == job.owner
    assert lost.error is not None
    assert LOST in lost.error
    assert won.worker != lost.worker
    assert killed.proc.returncode == -signal.SIGKILL
    others = [j for j in snap.jobs if j.id != job.id]
    assert {j.id: j.attempts for j in others} == {j.id: 1 for j in others}


@pytest.mark.parametrize("database", ["postgresql", "sqlite"], indirect=True)
def test_a_worker_killed_mid_transcode_over_redis(
    tmp_path: Path, clips: list[Path], database: str
) -> None:
    with (
        redis_database() as url,
        running_cluster(tmp_path, broker_url=url, database_url=database) as cluster,
    ):
        _kill_one_mid_transcode(cluster, clips)


def test_b_worker_killed_mid_transcode_over_rabbitmq(
    tmp_path: Path, clips: list[Path], database: str
) -> None:
    url = rabbitmq_url()
    with running_cluster(tmp_path, broker_url=url, database_url=database) as cluster:
        _kill_one_mid_transcode(cluster, clips)


def test_c_redis_flushed_with_jobs_queued(tmp_path: Path, clips: list[Path], database: str) -> None:
    with (
        redis_database() as url,
        running_cluster(tmp_path, broker_url=url, database_url=database) as cluster,
    ):
        server = cluster.serve()
        ids = cluster.add(*clips[:4])
        broker = redis.Redis.from_url(url)
        assert broker.dbsize() > 0  # the messages (and Dramatiq's bookkeeping)
        flushed_at = len(server.lines)
        broker.flushdb()  # every message is gone; the job rows still say "queued"
        broker.close()
        assert {j.state for j in cluster.snapshot().jobs} == {"queued"}

        worker = cluster.start_worker()
        snap = cluster.wait_settled(ids, timeout=90)

        assert_ready_once(cluster, snap, ids)
        assert [j.attempts for j in snap.jobs] == [1] * len(ids)
        # the jobs came back through a reconciler (serve's or the worker's), after the flush
        assert "reconciler queued" in "".join(server.lines[flushed_at:]) + worker.output()


def test_d_poison_video_that_kills_its_worker_every_time(
    tmp_path: Path, clips: list[Path], database: str
) -> None:
    # The test plays the poison: whichever worker claims this video is SIGKILLed at once,
    # and a new worker is started in its place (as a supervisor would). So that it is
    # caught in the act however fast the machine is, a media child reading the poison is
    # frozen the moment it is seen (it dies with its worker all the same).
    poison = make_clip(tmp_path / "poison.mp4", width=640, height=360, seconds=12.0)
    with (
        redis_database() as url,
        running_cluster(tmp_path, broker_url=url, database_url=database) as cluster,
    ):
        cluster.serve()
        # queued before any worker runs, and watched from before they start: a worker
        # must not finish the poison while `add` is still importing the other files
        poisoned, *others = cluster.add(poison, *clips[:3])
        stored = cluster.data / "media" / "videos" / poisoned / "source" / poison.name
        cluster.start_worker(wait=False)
        cluster.start_worker(wait=False)
        killed: list[str] = []

        def kill_whoever_runs_it() -> bool:
            freeze_readers_of(stored)
            job = cluster.snapshot().job_of(poisoned)
            assert job.state != "succeeded", f"the poison video was transcoded: {job}"
            worker = cluster.worker_by_pid(job.owner_pid)
            if job.state == "running" and worker is not None:
                assert job.owner is not None
                killed.append(job.owner)
                worker.kill(wait_for_child=False)  # keep watching: checked below
                cluster.start_worker(wait=False)
            return job.state == "failed"

        wait_for("the poison video to fail", kill_whoever_runs_it, timeout=120, poll=0.02)
        snap = cluster.wait_settled([poisoned, *others], timeout=90)
        for worker in cluster.workers:
            if worker.killed:
                worker.wait_group_gone()

    video = snap.videos[poisoned]
    assert video.status == "failed"
    assert video.error is not None
    assert video.error.startswith("gave up after 3 attempts; last: the worker running attempt 3")
    job = snap.job_of(poisoned)
    assert job.attempts == 3
    assert [a.outcome for a in job.history] == ["lost", "lost", "lost"]
    assert [a.worker for a in job.history] == killed  # three workers, one attempt each
    assert len(set(killed)) == 3
    assert_ready_once(cluster, snap, others)


def test_e_web_node_restarted_during_an_upload(
    tmp_path: Path, clips: list[Path], database: str
) -> None:
    # B is large enough that part of an unfinished PATCH reaches the disk (written in
    # FLUSH_BYTES pieces) before the web node is stopped
    big = make_clip(tmp_path / "b.mp4", width=640, height=360, seconds=24.0)
    data = big.read_bytes()
    assert len(data) > FLUSH_BYTES + 200_000
    with (
        redis_database() as url,
        running_cluster(tmp_path, broker_url=url, database_url=database) as cluster,
    ):
        server = cluster.serve()
        cluster.start_worker()
        # A: uploaded whole, queued before the restart
        with clips[0].open("rb") as stream:
            first = TusClient(server.url + PREFIX, headers=server.auth).uploader(
                file_stream=stream, chunk_size=64_000, metadata={"filename": "a.mp4"}
            )
            first.upload()
        video_a = status_of(server, str(first.url))["video_id"]
        # B: one chunk acknowledged, then a PATCH for the rest, most of it sent
        with big.open("rb") as stream:
            second = TusClient(server.url + PREFIX, headers=server.auth).uploader(
                file_stream=stream, chunk_size=100_000, metadata={"filename": "b.mp4"}
            )
            second.upload(stop_at=100_000)
        url_b = str(second.url)  # (typed as None by tuspy)
        acknowledged = second.offset
        sent = acknowledged + FLUSH_BYTES + 100_000
        conn = start_patch(server, url_b, acknowledged, len(data) - acknowledged)
        conn.send(data[acknowledged:sent])
        part = part_file(tmp_path, url_b)
        wait_for("bytes of the PATCH on disk", lambda: size_of(part) > acknowledged, 30)

        server.proc.send_signal(signal.SIGTERM)  # a deploy restarts the web node
        conn.close()  # the client gives up on its request
        assert server.proc.wait(30) == 0, "".join(server.lines)
        server.stop()

        again = cluster.serve()
        assert again.url == server.url  # the same port and data
        status, headers, _ = call(again, "HEAD", upload_path(url_b), TUS)
        assert status == 200
        offset = int(headers["Upload-Offset"])
        assert acknowledged <= offset <= sent
        with big.open("rb") as stream:
            resumed = TusClient(again.url + PREFIX, headers=again.auth).uploader(
                file_stream=stream, url=again.url + upload_path(url_b), chunk_size=500_000
            )
            assert resumed.offset == offset
            resumed.upload()
        video_b = status_of(again, url_b)["video_id"]

        snap = cluster.wait_settled([video_a, video_b], timeout=90)
        assert_ready_once(cluster, snap, [video_a, video_b])
        assert [j.attempts for j in snap.jobs] == [1, 1]
        assert len(snap.videos) == 2
        assert sha256(stored_source(tmp_path, video_a)) == sha256(clips[0])
        assert sha256(stored_source(tmp_path, video_b)) == sha256(big)
        assert os.listdir(tmp_path / "data" / "uploads") == []
