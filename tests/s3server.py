"""A real S3-compatible server for tests: moto_server over HTTP, one per session (and xdist
worker). moto does not verify presigned signatures, expiry or credentials."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need_service

START_DEADLINE = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _moto_command(port: int) -> list[str]:
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        found = shutil.which("moto_server")
        if found is None:
            return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        exe = Path(found)
    return [str(exe), "-H", "127.0.0.1", "-p", str(port)]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means it is up
    except OSError:
        return False


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a moto S3 server started for this session (xdist: for this worker)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        try:
            proc = subprocess.Popen(_moto_command(port), stdout=out, stderr=subprocess.STDOUT)
        except OSError as exc:
            need_service("moto S3 server", False, exc)
        try:
            deadline = time.monotonic() + START_DEADLINE
            while not _answers(url + "/"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    why = log.read_text(errors="replace")[-500:] or "no output"
                    need_service("moto S3 server", False, f"did not start on {url}: {why}")
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def unique_bucket() -> str:
    """A bucket name no other test (or xdist worker) uses."""
    return f"sf-test-{uuid.uuid4().hex[:20]}"


def s3_env(endpoint: str, bucket: str, **extra: str) -> dict[str, str]:
    """STREAMFORGE_* overrides selecting the s3 backend on ``endpoint``/``bucket``."""
    env = {
        "STREAMFORGE_STORAGE__BACKEND": "s3",
        "STREAMFORGE_STORAGE__S3__ENDPOINT": endpoint,
        "STREAMFORGE_STORAGE__S3__BUCKET": bucket,
        # moto accepts any credentials
        "STREAMFORGE_STORAGE__S3__ACCESS_KEY": "testing",
        "STREAMFORGE_STORAGE__S3__SECRET_KEY": "testing-secret",
    }
    env.update({f"STREAMFORGE_STORAGE__S3__{k.upper()}": v for k, v in extra.items()})
    return env
