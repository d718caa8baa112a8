"""Parent side: run probe and transcode in the sandboxed child, with limits and cancel.

Untrusted media is only ever opened in ``python -m streamforge.media.child``. A crash, a
runaway allocation or a hang there fails the job with a human reason; it never takes the
server or the worker down.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from streamforge.errors import ChildFailed, MediaError, MediaRefused
from streamforge.media.types import Limits, ProbeResult, Progress, TranscodePlan, TranscodeResult

EXIT_GRACE = 10.0  # seconds a child may take to exit after its answer
STDERR_KEEP = 4096  # bytes of the child's stderr kept for diagnostics
STREAM_LIMIT = 16 * 1024 * 1024  # longest protocol line accepted

#: The child's command line; tests swap it to simulate a crashing decoder.
CHILD_COMMAND: tuple[str, ...] = (sys.executable, "-m", "streamforge.media.child")

ProgressCallback = Callable[[Progress], Awaitable[None] | None]


def describe_exit(returncode: int, limits: Limits) -> str:
    """A reason people understand for a child that ended without answering."""
    if returncode >= 0:
        return f"the media process exited unexpectedly (status {returncode})"
    signo = -returncode
    try:
        name = signal.Signals(signo).name
    except ValueError:
        name = f"signal {signo}"
    if signo in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT):
        return f"the media decoder crashed ({name}) — the file is probably corrupt or hostile"
    if signo in (signal.SIGXCPU,):
        return f"transcoding used more than the {limits.cpu_seconds} s CPU time limit ({name})"
    if signo == signal.SIGKILL:
        return (
            f"the media process was killed ({name}); it may have run out of memory "
            f"(limit {limits.memory_bytes // 1024**2} MB) or CPU time"
        )
    return f"the media process was stopped by {name}"


async def _run_child(
    request: dict[str, Any],
    limits: Limits,
    on_progress: ProgressCallback | None,
    cancel: asyncio.Event | None,
) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        *CHILD_COMMAND,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=STREAM_LIMIT,
    )
    assert proc.stdin
    assert proc.stdout
    assert proc.stderr
    tail: deque[bytes] = deque()
    tail_size = 0

    async def drain_stderr() -> None:
        nonlocal tail_size
        assert proc.stderr
        while chunk := await proc.stderr.read(4096):
            tail.append(chunk)
            tail_size += len(chunk)
            while tail_size - len(tail[0]) >= STDERR_KEEP:
                tail_size -= len(tail.popleft())

    async def converse() -> dict[str, Any] | None:
        assert proc.stdin
        assert proc.stdout
        # our pid: a child that starts after we died must not take init for its parent
        proc.stdin.write(json.dumps({**request, "parent": os.getpid()}).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await proc.stdin.drain()
        proc.stdin.close()
        while True:
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), limits.stall_seconds)
            except TimeoutError:
                raise MediaError(
                    f"the media process stopped making progress for {limits.stall_seconds:g} s "
                    "(the file is probably corrupt or hostile)"
                ) from None
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours; fd 1 is redirected, so this should not happen
            kind = message.get("type")
            if kind == "progress" and on_progress is not None:
                message.pop("type")
                outcome = on_progress(Progress(**message))
                if inspect.isawaitable(outcome):
                    await outcome
            elif kind in ("result", "error"):
                return dict(message)
        return None

    stderr_task = asyncio.create_task(drain_stderr())
    work = asyncio.create_task(converse())
    cancelled = asyncio.create_task(cancel.wait()) if cancel is not None else None
    try:
        waiting = {work} | ({cancelled} if cancelled else set())
        done, _ = await asyncio.wait(
            waiting, timeout=limits.wall_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if work not in done:
            if cancelled is not None and cancelled in done:
                raise MediaError("cancelled")
            raise MediaError(f"transcoding took longer than the {limits.wall_seconds:g} s limit")
        message = work.result()
        try:
            # the answer is in hand; a child stuck on its way out is not worth waiting for
            returncode = await asyncio.wait_for(proc.wait(), EXIT_GRACE)
        except TimeoutError:
            proc.kill()
            returncode = await proc.wait()
        await stderr_task
        stderr = b"".join(tail).decode("utf-8", "replace")[-STDERR_KEEP:]
        if message is None:
            raise ChildFailed(describe_exit(returncode, limits), stderr)
        if message["type"] == "error":
            cls = MediaRefused if message.get("refused") else MediaError
            raise cls(str(message.get("message") or "the media process failed"))
        data: dict[str, Any] = message["data"]
        return data
    finally:
        for task in (work, cancelled):
            if task is not None and not task.done():
                task.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(asyncio.CancelledError):
            await proc.wait()
        if not stderr_task.done():
            stderr_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stderr_task
        for task in (work, cancelled):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def probe(path: str, limits: Limits, cancel: asyncio.Event | None = None) -> ProbeResult:
    """Probe ``path`` in the sandbox. Raises MediaRefused/MediaError with a clear reason;
    ``cancel`` kills the child."""
    data = await _run_child({"op": "probe", "path": path, "limits": _limits_dict(limits)},
                            limits, None, cancel)  # fmt: skip
    return ProbeResult.from_dict(data)


async def transcode(
    plan: TranscodePlan,
    on_progress: ProgressCallback | None = None,
    *,
    cancel: asyncio.Event | None = None,
) -> TranscodeResult:
    """Run ``plan`` in the sandbox, reporting progress; ``cancel`` kills the child."""
    data = await _run_child(
        {"op": "transcode", "plan": plan.to_dict()}, plan.limits, on_progress, cancel
    )
    return TranscodeResult.from_dict(data)


def _limits_dict(limits: Limits) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(limits)
