"""Real `streamforge worker --processes 2` over real Redis: stopping mid-transcode hands the
job back (or finishes it within the grace period) without counting an attempt, the
supervisor exits 0, and `--queues` keeps a GPU-queue worker off software work.

A transcode is caught "mid-way" deterministically: its media child is frozen (SIGSTOP)
before the worker is told to stop, so it cannot finish by luck in between.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from tests.conftest import worker_redis_url
from tests.e2e.cli import cli, media_child, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 180) -> T:
    """Poll ``check`` (another process does the work) until it returns a value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def redis_url(worker_id: str) -> str:
    # the database test_redis_mode uses for this xdist worker; our namespace is our own
    return worker_redis_url(worker_id)


@dataclass
class Setup:
    config: Path
    namespace: str
    redis_url: str
    db: Path
    clip: Path


@pytest.fixture
def setup(tmp_path: Path, redis_url: str) -> Iterator[Setup]:
    namespace = f"sf-test-{uuid.uuid4().hex[:12]}"
    broker = f'[broker]\nurl = "{redis_url}"\nnamespace = "{namespace}"\n'
    # long enough for the poll below to see its media child (a few seconds)
    config = write_config(tmp_path, broker, jobs={"shutdown_grace": 0}, x264={"preset": "slow"})
    clip = make_clip(tmp_path / "clip.mp4", width=640, height=360, seconds=30.0)
    yield Setup(config, namespace, redis_url, tmp_path / "data" / "streamforge.db", clip)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{namespace}*"))
    if keys:
        client.delete(*keys)
    client.close()


class Workers:
    """A ``streamforge worker …`` in a session of its own; output in a log file."""

    command = "worker"

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = config.parent / f"{self.command}-{uuid.uuid4().hex[:6]}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamforge", "--config", str(config), self.command, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_consuming(self, count: int = 1) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited:\n{self.output()}")
            return self.output().count(" consuming ") >= count

        wait_for(f"{count} worker process(es) consuming", ready)

    def stop(self, timeout: float = 120, *, signal_it: bool = True) -> int:
        """SIGTERM (once: a second one means "hand back now"), then the exit code."""
        if signal_it and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise AssertionError(f"worker did not stop:\n{self.output()}") from None

    def close(self) -> None:
        """Whatever happened, leave nothing running."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Serve(Workers):
    """A ``streamforge serve`` (embedded jobs: no broker), stopped the same way."""

    command = "serve"

    def wait_serving(self) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited:\n{self.output()}")
            return "is running at" in self.output()

        wait_for("serve to listen", up)


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def job_row(db: Path, video_id: str) -> tuple[str, int, str | None]:
    [(state, attempts, owner)] = query(
        db, "SELECT state, attempts, lease_owner FROM jobs WHERE video_id = ?", video_id
    )
    return str(state), int(str(attempts)), owner if owner is None else str(owner)


def attempts_of(db: Path, video_id: str) -> list[tuple[int, str, str]]:
    rows = query(
        db,
        "SELECT a.number, a.worker, a.outcome FROM job_attempts a JOIN jobs j ON j.id = a.job_id"
        " WHERE j.video_id = ? ORDER BY a.id",
        video_id,
    )
    return [(int(str(n)), str(w), str(o)) for n, w, o in rows]


def video_status(db: Path, video_id: str) -> str:
    [(status,)] = query(db, "SELECT status FROM videos WHERE id = ?", video_id)
    return str(status)


def pid_of(owner: str) -> int:
    return int(owner.rsplit(":", 2)[1])


def freeze_mid_transcode(db: Path, video_id: str, workers: Workers) -> tuple[int, int]:
    """Wait until a worker transcodes ``video_id``; freeze its media child. Returns
    (worker pid, media child pid)."""

    seen: list[object] = []

    def transcoding() -> tuple[int, int] | None:
        state, _, owner = job_row(db, video_id)
        if state != "running" or owner is None:
            if not seen or seen[-1] != state:
                seen.append(state)
            return None
        child = media_child(pid_of(owner))
        if not seen or seen[-1] != (owner, child):
            seen.append((owner, child))
        if child is None:
            return None
        os.kill(child, signal.SIGSTOP)
        return pid_of(owner), child

    try:
        return wait_for("a worker transcoding", transcoding)
    except AssertionError:
        raise AssertionError(
            f"no transcode seen; job {job_row(db, video_id)}; {seen}\n{workers.output()}"
        ) from None


def add(setup: Setup, env: dict[str, str] | None = None) -> str:
    result = cli(setup.config, "add", str(setup.clip), timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def wait_ready(db: Path, video_id: str) -> None:
    wait_for(f"video {video_id} ready", lambda: video_status(db, video_id) == "ready")


def test_sigterm_to_one_worker_hands_its_job_to_the_other(setup: Setup) -> None:
    workers = Workers(setup.config, "--processes", "2", "--threads", "1")
    try:
        workers.wait_consuming(2)
        video_id = add(setup)
        stopping, child = freeze_mid_transcode(setup.db, video_id, workers)
        os.kill(stopping, signal.SIGTERM)  # one worker process only, not the supervisor
        wait_ready(setup.db, video_id)
        # the other process finished it; the handed-back try left no trace and no count
        [(number, by, outcome)] = attempts_of(setup.db, video_id)
        assert (number, outcome) == (1, "succeeded")
        assert pid_of(by) != stopping
        assert job_row(setup.db, video_id) == ("succeeded", 1, None)
        with pytest.raises(ProcessLookupError):  # the frozen media child was stopped
            os.kill(child, 0)
        workers.wait_consuming(3)  # the supervisor started the stopped one again
        assert workers.stop() == 0, workers.output()
    finally:
        workers.close()
    assert "handed back" in workers.output()
    assert "exited unexpectedly (exit code 0); restarting" in workers.output()


def test_sigterm_to_the_supervisor_hands_back_and_exits_0(setup: Setup) -> None:
    workers = Workers(setup.config, "--processes", "2", "--threads", "1")
    try:
        workers.wait_consuming(2)
        video_id = add(setup)
        freeze_mid_transcode(setup.db, video_id, workers)
        assert workers.stop() == 0, workers.output()
    finally:
        workers.close()
    # queued again at once, its attempt not counted
    assert job_row(setup.db, video_id) == ("queued", 0, None)
    assert attempts_of(setup.db, video_id) == []
    assert video_status(setup.db, video_id) == "queued"
    # and the message went back to the broker: the next worker takes it without waiting
    # for the reconciler's requeue_after
    later = Workers(setup.config)
    try:
        wait_ready(setup.db, video_id)
        assert [n for n, _, _ in attempts_of(setup.db, video_id)] == [1]
        assert later.stop() == 0, later.output()
    finally:
        later.close()


def test_a_transcode_that_ends_within_the_grace_period_finishes(setup: Setup) -> None:
    env = {"STREAMFORGE_JOBS__SHUTDOWN_GRACE": "300"}
    workers = Workers(setup.config, "--processes", "2", env=env)
    try:
        workers.wait_consuming(2)
        video_id = add(setup)
        worker, child = freeze_mid_transcode(setup.db, video_id, workers)
        workers.proc.send_signal(signal.SIGTERM)
        wait_for("the worker to begin stopping", lambda: "have 300 s to finish" in workers.output())
        os.kill(child, signal.SIGCONT)
        assert workers.stop(signal_it=False) == 0, workers.output()
    finally:
        workers.close()
    assert video_status(setup.db, video_id) == "ready", workers.output()
    [(number, by, outcome)] = attempts_of(setup.db, video_id)
    assert (number, pid_of(by), outcome) == (1, worker, "succeeded")


def test_a_gpu_queue_worker_does_not_take_software_work(setup: Setup) -> None:
    gpu = Workers(setup.config, "--queues", "transcode.nvidia")
    software: Workers | None = None
    try:
        gpu.wait_consuming()
        assert "(queues: transcode.nvidia)" in gpu.output()
        plain = add(setup)  # [transcode] encoder = "auto": the `transcode` queue
        # a config naming a hardware encoder sends to its family's queue (this machine has
        # no GPU; the worker's own config is "auto", so it encodes with x264 all the same)
        for_gpu = add(setup, env={"STREAMFORGE_TRANSCODE__ENCODER": "nvenc"})
        wait_ready(setup.db, for_gpu)
        [(_, by, _)] = attempts_of(setup.db, for_gpu)
        assert pid_of(by) == gpu.proc.pid
        # the GPU worker was free all along, yet the software job still waits in its queue
        assert job_row(setup.db, plain) == ("queued", 0, None)
        client = redis.Redis.from_url(setup.redis_url)
        try:
            assert client.llen(f"{setup.namespace}:transcode") == 1
        finally:
            client.close()
        software = Workers(setup.config, "--queues", "transcode")
        wait_ready(setup.db, plain)
        [(_, by, _)] = attempts_of(setup.db, plain)
        assert pid_of(by) == software.proc.pid
        assert software.stop() == 0, software.output()
        assert gpu.stop() == 0, gpu.output()
    finally:
        gpu.close()
        if software is not None:
            software.close()


def test_sigterm_to_serve_hands_its_embedded_job_back(tmp_path: Path) -> None:
    """Without a broker, `serve` runs the transcodes: SIGTERM past the grace period gives
    the running attempt back uncounted, serve exits 0, and the next serve finishes it."""
    config = write_config(tmp_path, jobs={"shutdown_grace": 0}, x264={"preset": "slow"})
    db = tmp_path / "data" / "streamforge.db"
    clip = make_clip(tmp_path / "clip.mp4", width=640, height=360, seconds=30.0)
    serve = Serve(config)
    try:
        serve.wait_serving()
        result = cli(config, "add", str(clip), timeout=120)
        assert result.returncode == 0, result.stderr
        video_id = result.stdout.strip()
        pid, child = freeze_mid_transcode(db, video_id, serve)
        assert pid == serve.proc.pid  # the job ran inside serve itself
        assert serve.stop() == 0, serve.output()
    finally:
        serve.close()
    assert "handed back" in serve.output()
    with pytest.raises(ProcessLookupError):  # its frozen media child did not outlive it
        os.kill(child, 0)
    assert job_row(db, video_id) == ("queued", 0, None)
    assert attempts_of(db, video_id) == []
    again = Serve(config)
    try:
        wait_ready(db, video_id)
        assert [n for n, _, _ in attempts_of(db, video_id)] == [1]
        assert again.stop() == 0, again.output()
    finally:
        again.close()
