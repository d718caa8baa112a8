"""The sandboxed media process: ``python -m streamforge.media.child``.

It reads one JSON request on stdin, limits itself (memory, CPU, no core dumps, dies with
its parent), does the work, and writes JSON lines on the original stdout. File
descriptor 1 is pointed at stderr first, so anything a C library prints cannot corrupt
the protocol.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import IO, Any

from streamforge.errors import MediaError, MediaRefused
from streamforge.media.types import Limits, Progress, TranscodePlan

PR_SET_PDEATHSIG = 1


def apply_limits(limits: Limits, parent: int) -> None:
    """Cap this process's address space and CPU time, forbid core dumps, die with the parent."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    if limits.cpu_seconds > 0:
        # soft limit → SIGXCPU; the hard limit a little later → SIGKILL
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


def protocol_stream() -> IO[str]:
    """A private dup of stdout for protocol lines; fd 1 then goes to stderr."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", buffering=1, encoding="utf-8")


def _quiet_ffmpeg() -> None:
    import av.logging

    av.logging.set_level(av.logging.ERROR)


def request_limits(request: dict[str, Any]) -> Limits:
    if request.get("op") == "transcode":
        return Limits(**request["plan"].get("limits", {}))
    return Limits(**request.get("limits", {}))


def handle(request: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Run one request; PyAV is imported only after the limits are in place."""
    op = request.get("op")
    if op == "probe":
        from streamforge.media.probe import probe_file

        return probe_file(str(request["path"]), request_limits(request)).to_dict()
    if op == "transcode":
        from streamforge.media.transcode import run_transcode

        def report(progress: Progress) -> None:
            send({"type": "progress", **asdict(progress)})

        return run_transcode(TranscodePlan.from_dict(request["plan"]), report).to_dict()
    raise MediaError(f"unknown operation {op!r}")


def main() -> int:
    out = protocol_stream()

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    limits = Limits()
    try:
        request = json.loads(sys.stdin.readline())
        limits = request_limits(request)
        # the parent's pid as it sent it: os.getppid() here would already say 1 (init) if
        # the parent died while this process started, and the check would pass
        apply_limits(limits, int(request.get("parent") or os.getppid()))
        _quiet_ffmpeg()
        data = handle(request, send)
    except MediaError as exc:
        send({"type": "error", "message": str(exc), "refused": isinstance(exc, MediaRefused)})
        return 1
    except (MemoryError, ImportError) as exc:  # RLIMIT_AS: allocations and mmaps fail
        if isinstance(exc, ImportError) and "failed to map" not in str(exc):
            raise
        message = f"ran out of memory (limit {limits.memory_bytes // 1024**2} MB)"
        send({"type": "error", "message": message, "refused": False})
        return 1
    except Exception as exc:  # reported to the parent, which logs stderr
        import traceback

        traceback.print_exc()
        send({"type": "error", "message": f"{type(exc).__name__}: {exc}", "refused": False})
        return 1
    send({"type": "result", "data": data})
    return 0


if __name__ == "__main__":
    code = main()
    # The answer is sent. Skip interpreter cleanup: FFmpeg's frame-threaded decoder has
    # been seen to deadlock while a container that hit corrupt data is torn down.
    sys.stderr.flush()
    os._exit(code)
