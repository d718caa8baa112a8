"""Scale-out in miniature: jobs over the real Redis, run by a separate `streamforge worker`."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from tests.conftest import worker_redis_url
from tests.e2e.cli import cli, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_url(worker_id: str) -> str:
    url = worker_redis_url(worker_id)
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def test_worker_process_transcodes_over_redis(tmp_path: Path, redis_url: str) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, seconds=2.0)
    namespace = f"sf-test-{uuid.uuid4().hex[:12]}"  # no other worker can take our messages
    config = write_config(tmp_path, f'[broker]\nurl = "{redis_url}"\nnamespace = "{namespace}"\n')
    worker = subprocess.Popen(
        [sys.executable, "-m", "streamforge", "--config", str(config), "worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        added = cli(config, "add", str(clip), "--wait", timeout=180)
        assert added.returncode == 0, added.stderr
        video_id = added.stdout.strip()
        assert f"{video_id}: ready" in added.stderr
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    assert "consuming" in out


def test_worker_refuses_to_run_without_a_broker(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = cli(config, "worker", timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("streamforge: error: `worker` needs a broker: set [broker] url")
