"""``streamforge worker --processes N``: N worker processes and a small supervisor.

Each worker process is a fresh ``streamforge worker`` (one JobHost, its own broker
connection and database pool) in its own process group, so a Ctrl-C in a terminal reaches
the supervisor alone and each worker is told to stop exactly once. The supervisor:

- forwards SIGTERM/SIGINT as SIGTERM to every worker (a second signal is forwarded too,
  which makes the workers hand their running jobs back at once), waits for them to stop
  (``[jobs] shutdown_grace`` plus the hand-back time), and exits 0 when they all did;
- restarts a worker that exits while nobody asked it to (killed, crashed), after 1 s,
  doubling up to a minute while it keeps dying within a minute of starting;
- gives up, exiting 2, when a worker cannot even start (it exits with the usage/config
  error code 2 the first time it runs; its own message says why).

Dramatiq's own CLI also forks workers, but it imports a module-level broker and actors
(ours are built from the config in each process), shuts itself down when one child is
SIGKILLed instead of restarting it, and knows nothing of the hand-back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from streamforge.jobs.host import HANDBACK_WAIT

log = logging.getLogger(__name__)

#: First delay before restarting a worker that died, seconds; doubles while it keeps dying.
RESTART_DELAY = 1.0
RESTART_DELAY_MAX = 60.0
#: A worker that ran this long before dying is restarted after the first delay again.
STABLE_AFTER = 60.0
#: Exit code of a worker that could not start (a user mistake: config, arguments).
EXIT_USAGE = 2
#: Seconds beyond the grace and hand-back time before stragglers are killed.
STOP_MARGIN = 10.0

Command = Callable[[int], list[str]]


class Supervisor:
    """Runs ``processes`` workers; ``command(index)`` is the argument list of worker
    ``index`` (index 0 also runs the reconciler and the notification dispatcher)."""

    def __init__(
        self,
        command: Command,
        processes: int,
        *,
        shutdown_grace: float,
        announce: Callable[[str], None],
    ) -> None:
        self.command = command
        self.processes = processes
        self.stop_timeout = shutdown_grace + HANDBACK_WAIT + STOP_MARGIN
        self.announce = announce
        self.stopping = asyncio.Event()
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.codes: dict[int, int] = {}
        self.fatal = False

    def signal(self) -> None:
        """SIGTERM/SIGINT: stop the workers (forwarded on every signal)."""
        if not self.stopping.is_set():
            self.announce(f"stopping {len(self.procs)} worker process(es)")
        self.stopping.set()
        for proc in list(self.procs.values()):
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

    async def run(self) -> int:
        """Run until stopped; the exit code for the CLI (0 when every worker stopped
        cleanly)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.signal)
        slots = [asyncio.create_task(self._slot(i)) for i in range(self.processes)]
        self.announce(f"supervising {self.processes} worker processes (pid {os.getpid()})")
        await self.stopping.wait()
        _, pending = await asyncio.wait(slots, timeout=self.stop_timeout)
        if pending:
            log.error("worker processes still running after %g s: killing them", self.stop_timeout)
            for proc in self.procs.values():
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            await asyncio.wait(pending)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if self.fatal:
            return EXIT_USAGE
        # a worker stopped by our SIGTERM before it could install its handler is clean too
        clean = (0, -signal.SIGTERM)
        return 0 if all(code in clean for code in self.codes.values()) else 1

    async def _slot(self, index: int) -> None:
        """Keep worker ``index`` running until stopping."""
        failures = 0
        first = True
        while not self.stopping.is_set():
            proc = await asyncio.create_subprocess_exec(
                *self.command(index),
                # never written: closed by the kernel if the supervisor dies, which the
                # worker takes as the order to stop
                stdin=asyncio.subprocess.PIPE,
                process_group=0,  # terminal signals reach the supervisor only
            )
            self.procs[index] = proc
            if self.stopping.is_set():  # a signal came while it was starting
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = await proc.wait()
            self.codes[index] = code
            if self.stopping.is_set():
                return
            if first and code == EXIT_USAGE:
                self.announce(f"worker process {index} could not start; stopping")
                self.fatal = True
                self.signal()
                return
            first = False
            failures = 0 if time.monotonic() - started >= STABLE_AFTER else failures + 1
            delay = min(RESTART_DELAY_MAX, RESTART_DELAY * 2 ** max(0, failures - 1))
            log.warning(
                "worker process %d (pid %d) exited unexpectedly (%s); restarting in %g s",
                index,
                proc.pid,
                describe_exit(code),
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
                self.codes.pop(index)  # stopped before its restart: its death was reported


def describe_exit(code: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL``."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def worker_command(
    config: str | None,
    *,
    threads: int,
    queues: list[str],
    metrics_port: int,
    parent: int,
) -> Command:
    """The argument list of worker ``index``: this same program, one process."""

    def command(index: int) -> list[str]:
        args = [sys.executable, "-m", "streamforge"]
        if config:
            args += ["--config", config]
        args += ["worker", "--processes", "1", "--threads", str(threads)]
        args += ["--queues", ",".join(queues), "--supervised-by", str(parent)]
        args += ["--index", str(index)]
        args += ["--metrics-port", str(metrics_port + index if metrics_port else 0)]
        return args

    return command
