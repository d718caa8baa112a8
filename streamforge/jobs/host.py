"""Hosting job actors in a process: the broker, the actors, worker threads, the reconciler.

Actors take job ids only and are idempotent: the work happens only if the job can be
claimed in the database. Each Dramatiq worker thread gets its own event loop and its own
:class:`~streamforge.runtime.Runtime` (database connections belong to one loop), sharing
this process's plugin registry and event bus.

Stopping (:meth:`JobHost.begin_shutdown`, :meth:`JobHost.stop`): no new message is taken;
running transcodes get ``[jobs] shutdown_grace`` seconds to finish, then are handed back —
their child is stopped, the job is queued again at once and the attempt is not counted.
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
from streamforge.events import make_event
from streamforge.jobs import store
from streamforge.jobs.broker import WORKER_TIMEOUT, broker_queue, make_broker
from streamforge.jobs.queues import TRANSCODE, transcode_queue
from streamforge.jobs.runner import announce_failure, attempt_time_limit, run_transcode
from streamforge.library import transcoding
from streamforge.plugins import Registry
from streamforge.runtime import Runtime

log = logging.getLogger(__name__)

TRANSCODE_ACTOR = "transcode_video"
#: Advisory lock id: one reconciler pass at a time across every process (PostgreSQL).
RECONCILER_LOCK = 0x5F_5346_5245_434E
#: The software transcode queue (``transcode.<family>`` queues carry hardware work).
TRANSCODE_QUEUE = TRANSCODE
#: Dramatiq runs lower numbers first among the messages a worker process holds: any short
#: actor added later goes in front of transcodes, which take minutes to hours.
TRANSCODE_PRIORITY = 100
#: Seconds a stopping process waits for handed-back transcodes to stop their child and
#: requeue their job, after the grace period.
HANDBACK_WAIT = 15.0


def actor_options(settings: Settings) -> dict[str, Any]:
    """Options of the transcode actor.

    ``max_retries`` 0: Dramatiq must never retry; attempts are counted in the database
    (a redelivered message is not an attempt). ``time_limit`` (ms): the attempt's own limit
    (:func:`~streamforge.jobs.runner.attempt_time_limit`, which the runner enforces
    with asyncio and which stops the media child) plus a minute. Dramatiq's thread-killing
    time limit only runs under Dramatiq's own CLI; here the option documents the bound.
    """
    return {"max_retries": 0, "time_limit": int((attempt_time_limit(settings) + 60) * 1000)}


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
    """The job side of one process: sends transcode messages and, once
    :meth:`start_worker` ran, consumes them in worker threads."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.broker = make_broker(settings)
        self.in_process = not settings.broker.url
        self.owner = store.worker_identity()
        #: Where this process sends transcode messages (in-process: always ``transcode``).
        self.route = TRANSCODE if self.in_process else transcode_queue(registry)
        self._local = threading.local()
        self._runtimes: list[tuple[asyncio.AbstractEventLoop, Runtime]] = []
        self._lock = threading.Lock()
        #: In-process mode: job ids with a message not yet picked up by a worker thread.
        self.pending: set[str] = set()
        self.worker: dramatiq.Worker | None = None
        #: Set once stopping began: messages taken from now on are sent back untouched.
        self.draining = threading.Event()
        self._handing_back = False
        self._active: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._stopper: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self.actor = dramatiq.Actor(
            self._transcode,
            broker=self.broker,
            actor_name=TRANSCODE_ACTOR,
            queue_name=broker_queue(settings, TRANSCODE_QUEUE),
            priority=TRANSCODE_PRIORITY,
            options=actor_options(settings),
        )

    # -- sending -------------------------------------------------------------------------

    def enqueue(self, job_id: str, delay: float = 0.0) -> None:
        """Send a transcode message for ``job_id`` to :attr:`route`, after ``delay`` s."""
        if self.in_process:  # (an external broker's messages are judged by their age)
            with self._lock:
                self.pending.add(job_id)
        queue = broker_queue(self.settings, self.route)
        self.broker.declare_queue(queue)  # (once; a worker never consumes it unasked)
        message = self.actor.message_with_options(args=(job_id,))
        if message.queue_name != queue:
            message = message.copy(queue_name=queue)
        self.broker.enqueue(message, delay=int(delay * 1000) or None)

    # -- running (in a Dramatiq worker thread) -------------------------------------------

    def _transcode(self, job_id: str) -> None:
        with self._lock:
            self.pending.discard(job_id)
        if self.draining.is_set():
            # taken off the queue after stopping began: back it goes, for another worker
            log.info("job %s: stopping, so its message is sent back untouched", job_id)
            self.enqueue(job_id)
            return
        self._run(lambda rt: self._attempt(rt, job_id))

    async def _attempt(self, rt: Runtime, job_id: str) -> None:
        handback = asyncio.Event()
        key = id(handback)
        with self._lock:
            self._active[key] = (asyncio.get_running_loop(), handback)
            if self._handing_back:
                handback.set()
        try:
            await run_transcode(rt, job_id, self.owner, self.enqueue, handback)
        finally:
            with self._lock:
                self._active.pop(key, None)

    def _run(self, work: Callable[[Runtime], Awaitable[None]]) -> None:
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None:
            loop = asyncio.new_event_loop()
            rt = Runtime.create(self.settings, self.registry)
            self._local.loop, self._local.rt = loop, rt
            with self._lock:
                self._runtimes.append((loop, rt))
        loop.run_until_complete(work(self._local.rt))

    def start_worker(self, threads: int | None = None, queues: list[str] | None = None) -> None:
        """Start Dramatiq worker threads consuming ``queues`` (transcode queues; others in
        the list are ignored). Default: this process's own :attr:`route`."""
        wanted = [q for q in (queues or [self.route]) if q.split(".")[0] == TRANSCODE]
        if self.in_process:
            wanted = [TRANSCODE]
        wanted = [broker_queue(self.settings, q) for q in wanted]
        if not wanted:
            return  # e.g. a worker that only delivers notifications
        threads = threads or self.settings.jobs.workers
        for queue in wanted:
            self.broker.declare_queue(queue)
        self.worker = dramatiq.Worker(
            self.broker,
            queues=set(wanted),
            worker_threads=threads,
            worker_timeout=WORKER_TIMEOUT,
        )
        # Dramatiq holds twice as many messages as threads by default: a transcode takes
        # minutes, so a held message would wait here while another machine sits idle.
        self.worker.queue_prefetch = threads
        self.worker.start()

    # -- stopping ------------------------------------------------------------------------

    def begin_shutdown(self, grace: float | None = None) -> None:
        """Stop taking messages now; hand running transcodes back after ``grace`` seconds
        (default ``[jobs] shutdown_grace``). Returns at once; :meth:`stop` waits."""
        with self._lock:
            if self.draining.is_set():
                return
            self.draining.set()
        grace = self.settings.jobs.shutdown_grace if grace is None else grace
        worker = self.worker
        if worker is None:
            return
        self._timer = threading.Timer(grace, self.hand_back_running)
        self._timer.daemon = True
        self._timer.start()
        # Dramatiq's stop lets each thread finish its message (the timer hands it back
        # after the grace), keeps heartbeats going meanwhile, then returns prefetched
        # messages to the broker.
        timeout_ms = int((grace + HANDBACK_WAIT) * 1000)
        self._stopper = threading.Thread(
            target=worker.stop, kwargs={"timeout": timeout_ms}, name="job-host-stop", daemon=True
        )
        self._stopper.start()
        running = len(self._active)
        if running:
            log.info("stopping: %d running job(s) have %g s to finish", running, grace)

    def hand_back_running(self) -> None:
        """Ask every running transcode to stop and give its job back (idempotent)."""
        with self._lock:
            self._handing_back = True
            active = list(self._active.values())
        for loop, event in active:
            with contextlib.suppress(RuntimeError):  # its loop already closed: it is done
                loop.call_soon_threadsafe(event.set)
        if active:
            log.info("handing back %d running job(s)", len(active))

    def stop(self, grace: float | None = None) -> None:
        """Stop (see :meth:`begin_shutdown`) and wait: running jobs finish or are handed
        back, then each thread's runtime is closed and the broker connection with it."""
        self.begin_shutdown(grace)
        if self._stopper is not None:
            self._stopper.join()
            self._stopper = None
        if self._timer is not None:
            self._timer.cancel()
        self.worker = None
        with self._lock:
            runtimes, self._runtimes = self._runtimes, []
        for loop, rt in runtimes:
            if loop.is_running():  # a thread that never came back: leave it to its lease
                log.warning("a job thread did not stop; its job is left to its lease")
                continue
            if not loop.is_closed():
                try:
                    loop.run_until_complete(rt.close())
                finally:
                    loop.close()
        self.broker.close()

    # -- reconciling (on the caller's event loop) ---------------------------------------

    async def reconcile(self, rt: Runtime) -> int:
        """One pass: take back jobs whose runner vanished, send messages for due jobs (one
        process at a time: a pass that finds another under way skips to the scratch sweep,
        which is this machine's own)."""
        async with rt.db.try_lock(RECONCILER_LOCK) as mine:
            queued = await self._reconcile_jobs(rt) if mine else 0
        if swept := await transcoding.sweep_scratch(rt):
            log.info("reconciler removed %d stale scratch folder(s)", swept)
        return queued

    async def _reconcile_jobs(self, rt: Runtime) -> int:
        for lost in await store.reap_lost(rt.db):
            log.warning("job %s: %s", lost.job_id, lost.error)
            await announce_failure(rt, lost.video_id, lost.error, attempt=0, final=lost.final)
        with self._lock:
            skip = set(self.pending)
        stale_after = None if self.in_process else self.settings.jobs.requeue_after
        due = await store.due_jobs(rt.db, skip=skip, stale_after=stale_after)
        now = store.now()
        for job in due:
            delay = max(0.0, (job.run_after - now).total_seconds()) if job.run_after else 0.0
            self.enqueue(job.job_id, delay)
        if due:
            log.info("reconciler queued %d job(s)", len(due))
        self._warn_unclaimed(rt, [job for job in due if job.unclaimed_for is not None])
        return len(due)

    def _warn_unclaimed(self, rt: Runtime, jobs: list[store.Due]) -> None:
        """Say so when messages wait with no worker taking them: most often no worker
        consumes their queue (a GPU encoder configured, no GPU worker started)."""
        if not jobs:
            return
        waited = max(job.unclaimed_for or 0.0 for job in jobs)
        log.warning(
            "%d job(s) waited up to %.0f s on queue %r with no worker taking them; sent "
            "again (is a worker consuming it running, or was the broker flushed?)",
            len(jobs),
            waited,
            self.route,
        )
        for job in jobs:
            message = (
                f"no worker has taken this video's transcode for {job.unclaimed_for or 0:.0f} s;"
                f" sent again to queue {self.route!r}. Is a worker consuming it running"
                f" (streamforge worker --queues {self.route})?"
            )
            rt.events.publish(make_event("video.warning", job.video_id, message=message))

    async def reconcile_forever(self, rt: Runtime) -> None:
        """Reconcile every ``[jobs] reconcile_interval`` seconds until cancelled."""
        while True:
            try:
                await self.reconcile(rt)
            except Exception:
                log.exception("reconciler pass failed")
            await asyncio.sleep(self.settings.jobs.reconcile_interval)
