"""Running the real ``streamforge`` CLI in a temp folder: config, processes, HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
#: A small ladder so end-to-end runs stay fast; the clip decides which rungs apply.
SMALL_LADDER = """
[[transcode.ladder]]
name = "144p"
height = 144
video_bitrate = 200000
audio_bitrate = 64000

[[transcode.ladder]]
name = "240p"
height = 240
video_bitrate = 400000
audio_bitrate = 96000
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _table(values: dict[str, Any]) -> str:
    return "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())


def write_config(
    folder: Path,
    extra: str = "",
    *,
    port: int | None = None,
    jobs: dict[str, Any] | None = None,
    x264: dict[str, Any] | None = None,
) -> Path:
    """A config for a test: data in ``folder``, a small ladder, fast jobs; ``extra`` holds
    further whole tables."""
    jobs = {"lease_seconds": 6, "reconcile_interval": 0.5, "retry_backoff": 0, **(jobs or {})}
    x264 = {"preset": "ultrafast", "threads": 1, **(x264 or {})}
    config = folder / "streamforge.toml"
    config.write_text(
        f"""
[server]
host = "127.0.0.1"
port = {port or free_port()}
data_dir = "{folder / "data"}"

[jobs]
{_table(jobs)}

[encoders.x264]
{_table(x264)}

{extra}

{SMALL_LADDER}
"""
    )
    return config


def cli(
    config: Path,
    *args: str,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamforge", "--config", str(config), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


class Server:
    """A ``streamforge serve`` child process; ``url`` once it said it is running."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        from tests.authn import ensure_admin

        self.config = config
        #: an administrator's API token (user ``admin``, password ``tests.authn.PASSWORD``);
        #: ``get``/``head``/``json`` send it
        self.token = ensure_admin(config, env)
        self.auth = {"Authorization": f"Bearer {self.token}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamforge", "--config", str(config), "serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.url = ""
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "StreamForge is running at " in line:
                self.url = line.split("StreamForge is running at ", 1)[1].strip()
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 60) -> str:
        if not self._ready.wait(timeout) or not self.url:
            raise AssertionError("server did not start:\n" + "".join(self.lines))
        return self.url

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        request = urllib.request.Request(self.url + path, headers={**self.auth, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers

    def head(self, path: str) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, method="HEAD", headers=self.auth)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers

    def json(self, path: str) -> Any:
        status, body, _ = self.get(path)
        assert status == 200, (status, body)
        return json.loads(body)

    def wait_for(self, video_id: str, predicate: Any, timeout: float = 120) -> dict[str, Any]:
        """Poll the API (another process does the work) until ``predicate(video)``."""
        deadline = time.monotonic() + timeout
        video: dict[str, Any] = {}
        while time.monotonic() < deadline:
            video = self.json(f"/api/v1/videos/{video_id}")
            if predicate(video):
                return video
            if self.proc.poll() is not None:
                raise AssertionError("server exited:\n" + "".join(self.lines))
            time.sleep(0.05)
        raise AssertionError(f"timed out; last state {video}\n" + "".join(self.lines[-30:]))

    def kill(self) -> None:
        """SIGKILL the server process only (its media child must die with it)."""
        self.proc.kill()
        self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def group_alive(self) -> bool:
        """Whether any process of the server's session (e.g. a media child) still runs."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close()


@contextmanager
def running_server(config: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = Server(config, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def media_child(pid: int) -> int | None:
    """The media child process of ``pid``, once it runs PyAV (so it has already made
    itself die with its parent: it loads PyAV only after that), or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != pid or b"streamforge.media.child" not in (entry / "cmdline").read_bytes():
                continue
            if "libavcodec" in (entry / "maps").read_text():
                return int(entry.name)
        except OSError:
            continue
    return None


def wait_for_media_child(server: Server, timeout: float = 60) -> int:
    """The pid of ``server``'s media child once it runs PyAV (see :func:`media_child`).
    Freezing it (SIGSTOP) holds a transcode mid-way however fast the machine is."""
    deadline = time.monotonic() + timeout
    while (child := media_child(server.proc.pid)) is None:
        assert server.proc.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "no media child seen (did the work end first?)"
        time.sleep(0.01)
    return child
