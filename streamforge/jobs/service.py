"""Job-side entry points of the CLI: importing files (``add``) and running a worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from streamforge.auth.accounts import find_user
from streamforge.config import Settings, redact_url
from streamforge.db.models import Privacy, Role, VideoStatus
from streamforge.errors import InvalidRequest, NotFound
from streamforge.jobs import store
from streamforge.jobs.host import JobHost, shutdown
from streamforge.jobs.queues import (
    MAINTENANCE,
    NOTIFICATIONS,
    check_queues,
    default_queues,
    parse_queues,
)
from streamforge.library.delivery import STOP_GRACE, Dispatcher
from streamforge.library.notify import announce_uploaded
from streamforge.library.videos import get_video, import_file
from streamforge.plugins import Registry
from streamforge.runtime import Runtime

log = logging.getLogger(__name__)

TERMINAL = (VideoStatus.READY, VideoStatus.FAILED)
#: How often ``add --wait`` re-reads the database when no local event arrives: another
#: process (a running ``serve`` or a worker) may be the one doing the work.
WAIT_POLL = 1.0
#: Seconds ``add`` spends at exit delivering the notifications that are due.
DRAIN_TIMEOUT = 10.0


async def queue_job(host: JobHost, rt: Runtime, job_id: str) -> None:
    host.enqueue(job_id)
    await store.mark_enqueued(rt.db, job_id)


async def import_files(
    settings: Settings,
    files: list[Path],
    *,
    title: str | None,
    wait: bool,
    on_id: Callable[[str], None],
    announce: Callable[[str], None],
    owner: str | None = None,
    privacy: Privacy = Privacy.PUBLIC,
) -> bool:
    """Import ``files`` (owned by the account named ``owner``, if any); with ``wait``,
    run/await their transcodes. True if none failed."""
    registry = Registry.build(settings)
    rt = await Runtime.create(settings, registry).open()
    host = JobHost(settings, registry)
    reconciler: asyncio.Task[None] | None = None
    notify = Dispatcher(rt)
    notify.start()
    try:
        owner_id = await _owner_id(rt, owner) if owner is not None else None
        ids = []
        for path in files:
            imported = await import_file(
                rt.db,
                rt.storage,
                settings,
                path,
                title=title,
                privacy=privacy,
                owner_id=owner_id,
            )
            ids.append(imported.video_id)
            on_id(imported.video_id)
            await announce_uploaded(rt, imported.video_id)
            if wait or not host.in_process:
                await queue_job(host, rt, imported.job_id)
        if not wait:
            if host.in_process:
                announce("queued; `streamforge serve` will transcode it (or use --wait)")
            return True
        if host.in_process:
            host.start_worker()
            reconciler = asyncio.create_task(host.reconcile_forever(rt))
        return await _wait_for(rt, ids, announce)
    finally:
        # What is due now goes out before we exit; retries are left to serve or a worker.
        # The job threads stop first: a video can look ready in the database a moment
        # before its thread has queued the video.ready notification.
        await notify.stop(within=STOP_GRACE)
        if reconciler is not None:
            reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciler
        await asyncio.to_thread(host.stop)
        await notify.flush(within=DRAIN_TIMEOUT)
        await shutdown(host, rt)  # (stopping the host again does nothing)


async def _owner_id(rt: Runtime, name: str) -> str:
    """The id of the account ``name``, which must be able to own videos."""
    async with rt.db.read() as s:
        try:
            user = await find_user(s, name)
        except NotFound:
            raise NotFound(
                f"no user named {name!r} (see `streamforge user list`; nothing was imported)"
            ) from None
        if user.role == Role.VIEWER or user.disabled:
            why = "disabled" if user.disabled else "a viewer"
            raise InvalidRequest(f"user {name!r} cannot own videos ({why}); nothing was imported")
        return user.id


async def _wait_for(rt: Runtime, ids: list[str], announce: Callable[[str], None]) -> bool:
    remaining = set(ids)
    failed = False
    events = rt.events.subscribe()
    try:
        while remaining:
            async with rt.db.session() as s:
                for video_id in sorted(remaining):
                    video = await get_video(s, video_id)
                    if video.status in TERMINAL:
                        remaining.discard(video_id)
                        if video.status == VideoStatus.FAILED:
                            failed = True
                            announce(f"{video_id}: failed: {video.error}")
                        else:
                            announce(f"{video_id}: ready")
            if remaining:
                # wake on a local event, or re-read after WAIT_POLL seconds
                with contextlib.suppress(TimeoutError, StopAsyncIteration):
                    await asyncio.wait_for(anext(events), WAIT_POLL)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return not failed


async def run_worker(
    settings: Settings,
    *,
    threads: int | None,
    queues: list[str],
    announce: Callable[[str], None],
    singletons: bool = True,
    parent: int | None = None,
    registry: Registry | None = None,
) -> None:
    """Consume ``queues`` of the external broker until SIGINT/SIGTERM.

    The ``transcode…`` queues run in ``threads`` Dramatiq threads. ``maintenance`` runs the
    reconciler and ``notifications`` the outbox dispatcher, both in this event loop — only
    when ``singletons`` (under a supervisor: in its first process alone). The first signal
    stops gracefully (``[jobs] shutdown_grace``), a second hands running jobs back at once.
    ``parent``: the supervisor's pid; this process stops when it is gone.
    """
    registry = registry or Registry.build(settings)
    rt = await Runtime.create(settings, registry).open()
    host = JobHost(settings, registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():  # asked twice: do not wait for the grace period
            log.info("asked again to stop: handing running jobs back now")
            host.hand_back_running()
        stop.set()
        host.begin_shutdown()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    host.start_worker(threads, queues)
    reconciler = None
    if singletons and MAINTENANCE in queues:
        reconciler = asyncio.create_task(host.reconcile_forever(rt))
    notify = Dispatcher(rt)
    if singletons and NOTIFICATIONS in queues:
        notify.start()
    orphan = asyncio.create_task(_stop_when_orphaned(on_signal)) if parent else None
    announce(
        f"worker {host.owner} consuming {redact_url(settings.broker.url)} "
        f"(queues: {', '.join(queues)})"
    )
    try:
        await stop.wait()
    finally:
        host.begin_shutdown()
        await notify.stop(within=STOP_GRACE)
        await shutdown(host, rt, reconciler, orphan)


async def _stop_when_orphaned(stop: Callable[[], None]) -> None:
    """A supervisor killed with SIGKILL cannot forward a signal. It holds the write end of
    our stdin, which the kernel closes when it dies: end of file means stop."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while await reader.read(4096):
            pass
    finally:
        transport.close()
    log.warning("the supervisor is gone: stopping")
    stop()


def worker_main(
    settings: Settings,
    *,
    config: Path | None,
    processes: int | None,
    threads: int | None,
    queues: str | None,
    metrics_port: int | None,
    supervised_by: int | None,
    index: int,
    announce: Callable[[str], None],
) -> int:
    """``streamforge worker``: one worker in this process, or a supervisor of several.
    Returns the exit code."""
    from streamforge.jobs.supervisor import Supervisor, worker_command
    from streamforge.metrics import start_worker_metrics

    registry = Registry.build(settings)
    chosen = choose_queues(settings, registry, queues)
    processes = processes or settings.jobs.processes
    threads = threads or settings.jobs.workers
    if metrics_port is None:
        metrics_port = settings.metrics.worker_port
    if processes == 1 or supervised_by is not None:
        start_worker_metrics(settings, port=metrics_port)
        work = run_worker(
            settings,
            threads=threads,
            queues=chosen,
            announce=announce,
            singletons=index == 0,
            parent=supervised_by,
            registry=registry,
        )
        asyncio.run(work)
        return 0
    command = worker_command(
        str(config) if config else None,
        threads=threads,
        queues=chosen,
        metrics_port=metrics_port if settings.metrics.enabled else 0,
        parent=os.getpid(),
    )
    supervisor = Supervisor(
        command, processes, shutdown_grace=settings.jobs.shutdown_grace, announce=announce
    )
    return asyncio.run(supervisor.run())


def choose_queues(settings: Settings, registry: Registry, given: str | None) -> list[str]:
    """``--queues`` if given, else ``[jobs] queues``, else every queue this machine can
    serve; unknown names are refused."""
    if given is not None:
        return check_queues(registry, parse_queues(given), "--queues")
    if settings.jobs.queues:
        where = f"{settings.source}: [jobs] queues"
        return check_queues(registry, parse_queues(settings.jobs.queues), where)
    return default_queues(registry)
