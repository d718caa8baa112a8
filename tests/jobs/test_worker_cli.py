"""`streamforge worker`: queue names and routing, the supervisor, and the hand-back in the
job table. (tests/e2e/test_worker_shutdown.py runs real workers over real Redis.)"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from streamforge.config import load_settings
from streamforge.db.models import Job, JobAttempt, JobState, Video, VideoStatus
from streamforge.db.session import Database
from streamforge.errors import ConfigError
from streamforge.jobs import queues, store
from streamforge.jobs.broker import with_heartbeat
from streamforge.jobs.supervisor import Supervisor, describe_exit
from streamforge.library.encoding import encoder_works
from streamforge.plugins import Registry
from tests.dbs import new_job
from tests.e2e.cli import cli, write_config

BROKER = '[broker]\nurl = "redis://127.0.0.1:6379/0"\n'


def registry_for(tmp_path: Path, extra: str = "", **env: str) -> Registry:
    config = write_config(tmp_path, BROKER + extra)
    return Registry.build(load_settings(config, environ=env))


# -- routing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoder", "queue"),
    [("auto", "transcode"), ("x264", "transcode"), ("nvenc", "transcode.nvidia")],
)
def test_transcode_messages_go_to_the_configured_encoders_family(
    tmp_path: Path, encoder: str, queue: str
) -> None:
    registry = registry_for(tmp_path, f'[transcode]\nencoder = "{encoder}"\n')
    assert queues.transcode_queue(registry) == queue


def test_every_hardware_family_has_a_queue(tmp_path: Path) -> None:
    known = queues.known_queues(registry_for(tmp_path))
    assert known[0] == "transcode"
    assert {"transcode.nvidia", "transcode.vaapi", "notifications", "maintenance"} <= set(known)


def test_a_worker_takes_by_default_only_the_gpu_queues_it_can_serve(tmp_path: Path) -> None:
    registry = registry_for(tmp_path)
    chosen = queues.default_queues(registry)
    assert chosen[0] == "transcode"
    assert chosen[-2:] == ["notifications", "maintenance"]
    # the GPU queue is taken exactly when NVENC really opens here (on this CI: never)
    assert ("transcode.nvidia" in chosen) == encoder_works(registry.encoder("nvenc"))


def test_queue_lists_are_parsed_without_blanks_or_repeats() -> None:
    assert queues.parse_queues(" transcode, ,notifications,transcode") == [
        "transcode",
        "notifications",
    ]


def test_an_encoder_name_used_as_a_queue_gets_a_hint(tmp_path: Path) -> None:
    registry = registry_for(tmp_path)
    with pytest.raises(ConfigError, match=r"try 'transcode.nvidia'"):
        queues.check_queues(registry, ["transcode.nvenc"], "--queues")
    with pytest.raises(ConfigError, match="names no queue"):
        queues.check_queues(registry, [], "--queues")


def test_worker_refuses_an_unknown_queue_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, BROKER)
    result = cli(config, "worker", "--queues", "transcode,thumbnails", timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("streamforge: error: --queues: unknown queue 'thumbnails'")
    assert "Traceback" not in result.stderr


def test_worker_refuses_an_unknown_queue_in_the_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, BROKER, jobs={"queues": ["transcode.nvenc"]})
    result = cli(config, "worker", timeout=60)
    assert result.returncode == 2
    assert f"{config}: [jobs] queues: unknown queue 'transcode.nvenc'" in result.stderr


def test_worker_options_are_checked(tmp_path: Path) -> None:
    config = write_config(tmp_path, BROKER)
    result = cli(config, "worker", "--processes", "0", timeout=60)
    assert result.returncode == 2
    assert "--processes" in result.stderr


def test_rabbitmq_urls_get_a_heartbeat_unless_they_name_one() -> None:
    assert with_heartbeat("amqp://h/") == "amqp://h/?heartbeat=20"
    assert with_heartbeat("amqp://h/?x=1") == "amqp://h/?x=1&heartbeat=20"
    assert with_heartbeat("amqp://h/?heartbeat=5") == "amqp://h/?heartbeat=5"


# -- the supervisor ---------------------------------------------------------------------

#: A stand-in worker: notes each start in a file, dies on its first run (exit 3), then
#: waits for SIGTERM and exits 0 — what a real worker does, minus the broker.
FLAKY_WORKER = """
import pathlib, signal, sys, threading
log = pathlib.Path(sys.argv[1]); index = sys.argv[2]
runs = log.read_text().splitlines() if log.exists() else []
with log.open("a") as f:
    f.write(index + "\\n")
if runs.count(index) == 0 and index == "1":
    sys.exit(3)
stopped = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopped.set())
with log.open("a") as f:
    f.write("ready " + index + "\\n")
stopped.wait()
with log.open("a") as f:
    f.write("stopped " + index + "\\n")
"""


async def wait_for_lines(path: Path, wanted: list[str]) -> list[str]:
    async with asyncio.timeout(60):
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            if all(w in lines for w in wanted):
                return lines
            await asyncio.sleep(0.05)


async def test_supervisor_restarts_a_worker_that_dies_and_stops_all_on_sigterm(
    tmp_path: Path,
) -> None:
    log = tmp_path / "runs.log"
    said: list[str] = []
    supervisor = Supervisor(
        lambda i: [sys.executable, "-c", FLAKY_WORKER, str(log), str(i)],
        2,
        shutdown_grace=5,
        announce=said.append,
    )
    running = asyncio.create_task(supervisor.run())
    lines = await wait_for_lines(log, ["ready 0", "ready 1"])
    assert lines.count("1") == 2  # worker 1 died once and was started again
    supervisor.signal()  # what SIGTERM does
    assert await asyncio.wait_for(running, 60) == 0
    assert {"stopped 0", "stopped 1"} <= set(log.read_text().splitlines())
    assert said[-1] == "stopping 2 worker process(es)"


async def test_supervisor_gives_up_when_a_worker_cannot_start(tmp_path: Path) -> None:
    supervisor = Supervisor(
        lambda i: (
            [sys.executable, "-c", "import sys; sys.exit(2 if sys.argv[1] == '1' else 0)", str(i)]
        ),
        2,
        shutdown_grace=5,
        announce=lambda _: None,
    )
    assert await asyncio.wait_for(supervisor.run(), 60) == 2


def test_exits_are_described_for_people() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(3) == "exit code 3"


# -- the hand-back in the job table ---------------------------------------------------------


async def test_a_handed_back_attempt_is_not_counted(db: Database) -> None:
    job_id = await new_job(db, max_attempts=1)
    claim = await store.claim(db, job_id, "w1", 30)
    assert claim is not None
    assert await store.hand_back(db, claim)
    assert not await store.hand_back(db, claim)  # stale: nothing changes twice
    async with db.session() as s:
        job = await s.get(Job, job_id)
        video = await s.get(Video, "vid1")
        history = (await s.execute(JobAttempt.__table__.select())).all()
    assert job is not None
    assert video is not None
    assert (job.state, job.attempts, job.lease_owner) == (JobState.QUEUED, 0, None)
    assert video.status == VideoStatus.QUEUED
    assert history == []
    # its only attempt is still there to be made, under the same number
    again = await store.claim(db, job_id, "w2", 30)
    assert again is not None
    assert again.attempt == 1
