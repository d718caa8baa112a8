"""Hosting job actors in a process: the broker, the actors, worker threads, the reconciler.

Actors take job ids only and are idempotent: the work happens only if the job can be
claimed in the database. Each Dramatiq worker thread gets its own event loop and its own
:class:`~streamforge.runtime.Runtime` (database connections belong to one loop), sharing
this process's plugin registry and event bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq

from streamforge.config import Settings
from streamforge.jobs import store
from streamforge.jobs.broker import make_broker
from streamforge.jobs.runner import announce_failure, run_transcode
from streamforge.plugins import Registry
from streamforge.runtime import Runtime

log = logging.getLogger(__name__)

TRANSCODE_ACTOR = "transcode_video"
TRANSCODE_QUEUE = "transcode"
#: Dramatiq must neither retry (attempts are counted in the database) nor interrupt a
#: transcode (the child process has its own wall-time limit).
ACTOR_OPTIONS: dict[str, Any] = {"max_retries": 0, "time_limit": 7 * 24 * 3600 * 1000}
#: With an external broker, a queued job whose message is older than this is re-sent.
REQUEUE_AFTER = 600.0


async def shutdown(host: JobHost, rt: Runtime, *tasks: asyncio.Task[None] | None) -> None:
    """Stop background tasks (reconciler, purger…), then the worker threads, then the
    runtime: the order every process that hosts jobs shuts down in."""
    for task in tasks:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await asyncio.to_thread(host.stop)
    await rt.close()


class JobHost:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.broker = make_broker(settings)
        self.in_process = not settings.broker.url
        self.owner = store.worker_identity()
        self._local = threading.local()
        self._runtimes: list[tuple[asyncio.AbstractEventLoop, Runtime]] = []
        self._lock = threading.Lock()
        #: In-process mode: job ids with a message not yet picked up by a worker thread.
        self.pending: set[str] = set()
        self.worker: dramatiq.Worker | None = None
        self.actor = dramatiq.Actor(
            self._transcode,
            broker=self.broker,
            actor_name=TRANSCODE_ACTOR,
            queue_name=TRANSCODE_QUEUE,
            priority=0,
            options=dict(ACTOR_OPTIONS),
        )

    # -- sending -------------------------------------------------------------------------

    def enqueue(self, job_id: str, delay: float = 0.0) -> None:
        with self._lock:
            self.pending.add(job_id)
        self.actor.send_with_options(args=(job_id,), delay=int(delay * 1000) or None)

    # -- running (in a Dramatiq worker thread) -------------------------------------------

    def _transcode(self, job_id: str) -> None:
        with self._lock:
            self.pending.discard(job_id)
        self._run(lambda rt: run_transcode(rt, job_id, self.owner, self.enqueue))

    def _run(self, work: Callable[[Runtime], Awaitable[None]]) -> None:
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None:
            loop = asyncio.new_event_loop()
            rt = Runtime.create(self.settings, self.registry)
            self._local.loop, self._local.rt = loop, rt
            with self._lock:
                self._runtimes.append((loop, rt))
        loop.run_until_complete(work(self._local.rt))

    def start_worker(self, threads: int | None = None) -> None:
        """Start Dramatiq worker threads consuming this process's broker."""
        self.worker = dramatiq.Worker(
            self.broker, worker_threads=threads or self.settings.jobs.workers, worker_timeout=100
        )
        self.worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=int(timeout * 1000))
            self.worker = None
        with self._lock:
            runtimes, self._runtimes = self._runtimes, []
        for loop, rt in runtimes:
            if not loop.is_closed():
                try:
                    loop.run_until_complete(rt.close())
                finally:
                    loop.close()
        self.broker.close()

    # -- reconciling (on the caller's event loop) ---------------------------------------

    async def reconcile(self, rt: Runtime) -> int:
        """One pass: take back jobs whose runner vanished, send messages for due jobs."""
        for lost in await store.reap_lost(rt.db):
            log.warning("job %s: %s", lost.job_id, lost.error)
            await announce_failure(rt, lost.video_id, lost.error, attempt=0, final=lost.final)
        with self._lock:
            skip = set(self.pending)
        due = await store.due_jobs(
            rt.db, skip=skip, stale_after=None if self.in_process else REQUEUE_AFTER
        )
        now = store.now()
        for job_id, run_after in due:
            delay = max(0.0, (run_after - now).total_seconds()) if run_after else 0.0
            self.enqueue(job_id, delay)
        if due:
            log.info("reconciler queued %d job(s)", len(due))
        return len(due)

    async def reconcile_forever(self, rt: Runtime) -> None:
        while True:
            try:
                await self.reconcile(rt)
            except Exception:
                log.exception("reconciler pass failed")
            await asyncio.sleep(self.settings.jobs.reconcile_interval)
