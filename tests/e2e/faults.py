"""A small scale-out cluster of real processes for fault tests, and a window on its jobs.

One data folder, one database (SQLite file or a fresh PostgreSQL database), one broker
(a Redis database index of the test's own, or RabbitMQ under a unique namespace): a
``streamforge serve`` web node and any number of ``streamforge worker`` processes, each
in a session of its own so a worker and its media child can be frozen together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
from sqlalchemy import select

from streamforge.config import load_settings
from streamforge.db.models import Job, JobAttempt, Rendition, Video
from streamforge.db.session import Database
from tests.conftest import need_service
from tests.e2e.cli import Server, cli, write_config

REDIS_HOST = os.environ.get("STREAMFORGE_TEST_REDIS", "127.0.0.1:6379")
RABBITMQ_URL = os.environ.get("STREAMFORGE_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
#: Redis database indexes the fault tests take turns on (other tests use 1, 2, …): a test
#: reserves one with a lock key in database 0, so it may flush it without harming anyone.
REDIS_INDEXES = range(8, 16)
#: How quickly the cluster notices what went wrong: a lease of 6 s (renewed every 2 s), a
#: reconciler pass every 0.5 s, and a queued job re-sent when its message is 3 s old (a
#: killed worker's prefetched message, a flushed Redis). Production defaults: 60 / 5 / 600.
FAST_JOBS: dict[str, Any] = {
    "lease_seconds": 6,
    "reconcile_interval": 0.5,
    "retry_backoff": 0,
    "requeue_after": 3,
}
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float, poll: float = 0.05) -> T:
    """Call ``check`` until it returns something other than None (or False); that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


# --------------------------------------------------------------------------- services


def freeze_readers_of(path: Path) -> list[int]:
    """SIGSTOP every media child that has ``path`` open (a worker's child probing or
    transcoding it: it opens its input only after making itself die with its parent).
    Returns their pids."""
    frozen = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"streamforge.media.child" not in (entry / "cmdline").read_bytes():
                continue
            if any(os.readlink(fd) == str(path) for fd in (entry / "fd").iterdir()):
                os.kill(int(entry.name), signal.SIGSTOP)
                frozen.append(int(entry.name))
        except OSError:  # (it ended meanwhile)
            continue
    return frozen


@contextlib.contextmanager
def redis_database() -> Iterator[str]:
    """A Redis database index of this test alone, empty at start and end: its URL."""
    lock_db = redis.Redis.from_url(f"redis://{REDIS_HOST}/0")
    try:
        lock_db.ping()
    except redis.RedisError as exc:
        need_service("Redis", False, exc)
    token = uuid.uuid4().hex

    def reserve() -> int | None:
        for index in REDIS_INDEXES:
            if lock_db.set(f"streamforge-tests:faults-db:{index}", token, nx=True, ex=900):
                return index
        return None

    index = wait_for("a free Redis database index", reserve, timeout=300, poll=0.5)
    url = f"redis://{REDIS_HOST}/{index}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
        lock_db.delete(f"streamforge-tests:faults-db:{index}")
        lock_db.close()


def rabbitmq_url() -> str:
    """The RabbitMQ URL, after checking it answers (skip locally, fail in CI)."""
    try:
        import pika  # type: ignore[import-untyped]
    except ImportError as exc:
        need_service("RabbitMQ client (pika)", False, exc)
    try:
        pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)).close()
    except Exception as exc:
        need_service("RabbitMQ", False, exc)
    return RABBITMQ_URL


# --------------------------------------------------------------------------- processes


class Worker:
    """A ``streamforge worker`` in a session of its own; output goes to a log file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamforge", "--config", str(config), "worker"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        self.killed = False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_consuming(self, timeout: float = 60) -> None:
        def consuming() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited:\n{self.output()}")
            return " consuming " in self.output()

        wait_for(f"worker {self.pid} to consume", consuming, timeout)

    def children(self) -> list[int]:
        """Processes this worker started (its media child while it transcodes)."""
        found: list[int] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{self.pid}/task"):
                with open(f"/proc/{self.pid}/task/{task}/children") as f:
                    found += [int(pid) for pid in f.read().split()]
        return found

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def freeze(self) -> None:
        """SIGSTOP the worker and its media child together (one process group)."""
        os.killpg(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGCONT)

    def kill(self, *, wait_for_child: bool = True) -> None:
        """SIGKILL the worker process only, as the OOM killer would; its media child must
        die with it on its own (with ``wait_for_child``, checked here)."""
        self.killed = True
        self.proc.kill()
        self.proc.wait(10)
        self.thaw()  # a frozen child that outlived its parent would otherwise hang on
        if wait_for_child:
            self.wait_group_gone()

    def wait_group_gone(self) -> None:
        wait_for("the media child to die with its worker", lambda: not self.group_alive(), 10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.thaw()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- job state


@dataclass(frozen=True)
class Attempt:
    number: int
    worker: str
    outcome: str
    error: str | None


@dataclass(frozen=True)
class JobView:
    id: str
    video_id: str
    state: str
    attempts: int
    last_error: str | None
    owner: str | None
    token: int
    history: tuple[Attempt, ...]

    @property
    def owner_pid(self) -> int | None:
        return int(self.owner.rsplit(":", 2)[1]) if self.owner else None


@dataclass(frozen=True)
class VideoView:
    id: str
    status: str
    progress: float
    error: str | None


@dataclass
class Snapshot:
    jobs: list[JobView]
    videos: dict[str, VideoView]
    renditions: Counter[str] = field(default_factory=Counter)

    def jobs_of(self, video_id: str) -> list[JobView]:
        return [j for j in self.jobs if j.video_id == video_id]

    def job_of(self, video_id: str) -> JobView:
        (job,) = self.jobs_of(video_id)
        return job


class JobTables:
    """Reads the cluster's jobs, their history, videos and renditions, from the test."""

    def __init__(self, url: str) -> None:
        self._runner = asyncio.Runner()
        self._db = Database(url)

    def snapshot(self) -> Snapshot:
        return self._runner.run(self._snapshot())

    async def _snapshot(self) -> Snapshot:
        async with self._db.read() as s:
            history: dict[str, list[Attempt]] = {}
            for a in await s.execute(
                select(
                    JobAttempt.job_id,
                    JobAttempt.number,
                    JobAttempt.worker,
                    JobAttempt.outcome,
                    JobAttempt.error,
                ).order_by(JobAttempt.job_id, JobAttempt.number)
            ):
                history.setdefault(a.job_id, []).append(
                    Attempt(a.number, a.worker, a.outcome, a.error)
                )
            jobs = [
                JobView(
                    j.id,
                    j.video_id,
                    str(j.state),
                    j.attempts,
                    j.last_error,
                    j.lease_owner,
                    j.lease_token,
                    tuple(history.get(j.id, ())),
                )
                for j in await s.execute(
                    select(
                        Job.id,
                        Job.video_id,
                        Job.state,
                        Job.attempts,
                        Job.last_error,
                        Job.lease_owner,
                        Job.lease_token,
                    ).order_by(Job.created_at, Job.id)
                )
            ]
            videos = {
                v.id: VideoView(v.id, str(v.status), v.progress, v.error)
                for v in await s.execute(
                    select(Video.id, Video.status, Video.progress, Video.error)
                )
            }
            renditions = Counter((await s.execute(select(Rendition.video_id))).scalars().all())
        return Snapshot(jobs, videos, renditions)

    def close(self) -> None:
        self._runner.run(self._db.close())
        self._runner.close()


class EventTap:
    """Counts the events published on a Redis event channel (every process's)."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._client = redis.Redis.from_url(redis_url)  # kept: it owns the connection
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self._pubsub.subscribe(**{channel: self._on_message})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.05, daemon=True)

    def _on_message(self, message: dict[str, Any]) -> None:
        self.events.append(json.loads(message["data"]))

    def count(self, kind: str) -> Counter[str]:
        return Counter(e["video_id"] for e in list(self.events) if e["type"] == kind)

    def close(self) -> None:
        self._thread.stop()
        self._thread.join(5)
        self._pubsub.close()
        self._client.close()


# --------------------------------------------------------------------------- the cluster


class Cluster:
    """serve + workers over one broker, one database and one data folder."""

    def __init__(self, folder: Path, *, broker_url: str, database_url: str) -> None:
        self.folder = folder
        self.namespace = f"sf-faults-{uuid.uuid4().hex[:10]}"
        self.broker_url = broker_url
        database = f'[database]\nurl = "{database_url}"\n' if database_url else ""
        broker = f'[broker]\nurl = "{broker_url}"\nnamespace = "{self.namespace}"\n'
        self.config = write_config(folder, broker + database, jobs=FAST_JOBS)
        self.settings = load_settings(self.config)
        self.data = self.settings.data_dir
        self.server: Server | None = None
        self.workers: list[Worker] = []
        self._tables: JobTables | None = None
        self.tap = (
            EventTap(broker_url, f"{self.namespace}:events")
            if broker_url.startswith("redis://")
            else None
        )

    @property
    def tables(self) -> JobTables:
        if self._tables is None:  # after serve created the schema
            self._tables = JobTables(self.settings.database_url)
        return self._tables

    def snapshot(self) -> Snapshot:
        return self.tables.snapshot()

    def serve(self) -> Server:
        self.server = Server(self.config)
        self.server.wait_ready()
        return self.server

    def start_worker(self, *, wait: bool = True) -> Worker:
        """A new worker; with ``wait``, once it consumes the broker."""
        worker = Worker(self.config, self.folder / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        if wait:
            worker.wait_consuming()
        return worker

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.proc.poll() is None]

    def worker_by_pid(self, pid: int | None) -> Worker | None:
        return next((w for w in self.live_workers() if w.pid == pid), None)

    def add(self, *files: Path) -> list[str]:
        """``streamforge add`` (no --wait): imported and queued through the broker."""
        result = cli(self.config, "add", *map(str, files), timeout=120)
        assert result.returncode == 0, result.stderr
        ids = result.stdout.split()
        assert len(ids) == len(files), result.stdout
        return ids

    def wait_settled(self, video_ids: list[str], timeout: float) -> Snapshot:
        """Until every video is ready or failed and no job is queued or running."""

        def settled() -> Snapshot | None:
            snap = self.snapshot()
            done = all(
                v in snap.videos and snap.videos[v].status in ("ready", "failed") for v in video_ids
            )
            idle = all(j.state in ("succeeded", "failed") for j in snap.jobs)
            return snap if done and idle else None

        try:
            return wait_for("every video to be ready or failed", settled, timeout, poll=0.2)
        except AssertionError:
            raise AssertionError(f"not settled: {self.snapshot()}\n{self.logs()}") from None

    def kill_mid_transcode(self, timeout: float = 60) -> tuple[Worker, JobView]:
        """SIGKILL a worker while its media child transcodes; the job it held.

        Each candidate is frozen first (worker and child together) and checked again, so
        the kill lands on a transcode in progress, never on one that just finished.
        """

        def try_once() -> tuple[Worker, JobView] | None:
            for job in self.snapshot().jobs:
                worker = self.worker_by_pid(job.owner_pid)
                if job.state != "running" or worker is None or not worker.children():
                    continue
                worker.freeze()
                again = next(j for j in self.snapshot().jobs if j.id == job.id)
                if again.state == "running" and again.token == job.token and worker.children():
                    worker.kill()
                    return worker, again
                worker.thaw()
            return None

        return wait_for("a worker transcoding", try_once, timeout, poll=0.02)

    def logs(self) -> str:
        parts = [f"--- worker {w.pid}\n{w.output()[-3000:]}" for w in self.workers]
        if self.server is not None:
            parts.append("--- serve\n" + "".join(self.server.lines[-40:]))
        return "\n".join(parts)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.server is not None:
            self.server.stop()
        if self._tables is not None:
            self._tables.close()
        if self.tap is not None:
            self.tap.close()


# --------------------------------------------------------------------------- outputs


def playlist_files(playlist: Path) -> set[str]:
    """The files a media playlist names (its init segment and segments)."""
    names: set[str] = set()
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXT-X-MAP:"):
            names.add(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            names.add(line)
    return names


def assert_one_set_of_outputs(cluster: Cluster, snap: Snapshot, video_id: str) -> None:
    """Storage holds exactly what the published rows name: no second set of renditions,
    no segment a playlist does not list."""
    root = cluster.data / "media" / "videos" / video_id
    assert sorted(p.name for p in root.iterdir()) == ["hls", "poster.jpg", "source", "thumbs"]
    hls = root / "hls"
    rungs = sorted(p.name for p in hls.iterdir() if p.is_dir())
    assert sorted(p.name for p in hls.iterdir() if p.is_file()) == ["manifest.json", "master.m3u8"]
    master = (hls / "master.m3u8").read_text()
    named = sorted(line.split("/", 1)[0] for line in master.splitlines() if line.endswith(".m3u8"))
    assert rungs == named, (rungs, master)
    assert snap.renditions[video_id] == len(rungs)
    for rung in rungs:
        files = {p.name for p in (hls / rung).iterdir()}
        assert files == {"playlist.m3u8"} | playlist_files(hls / rung / "playlist.m3u8"), rung


@contextlib.contextmanager
def running_cluster(folder: Path, *, broker_url: str, database_url: str) -> Iterator[Cluster]:
    cluster = Cluster(folder, broker_url=broker_url, database_url=database_url)
    try:
        yield cluster
    finally:
        cluster.close()


def assert_ready_once(cluster: Cluster, snap: Snapshot, video_ids: list[str]) -> None:
    """Each video ready, with one job that succeeded once, one set of outputs, one
    ``video.ready`` event (where events travel over Redis); no stray rows or scratch."""
    assert {v: snap.videos[v].status for v in video_ids} == dict.fromkeys(video_ids, "ready")
    for video_id in video_ids:
        job = snap.job_of(video_id)  # exactly one job row
        assert job.state == "succeeded", job
        assert [a.outcome for a in job.history].count("succeeded") == 1, job
        assert_one_set_of_outputs(cluster, snap, video_id)
    assert_no_scratch_left(cluster)
    if cluster.tap is not None:
        tap = cluster.tap
        expected = Counter(video_ids)
        wait_for(
            "one video.ready event per video",
            lambda: tap.count("video.ready") == expected or None,
            timeout=10,
        )


def assert_no_scratch_left(cluster: Cluster) -> None:
    scratch = cluster.data / "scratch"
    left = sorted(p.name for p in scratch.iterdir()) if scratch.exists() else []
    assert left == [], f"scratch folders left behind: {left}"
