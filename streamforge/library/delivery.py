"""The dispatcher: delivers the notification outbox to the notifiers, with retries.

It runs as a background task wherever events are announced or jobs are reconciled:
``serve`` (both modes), ``worker``, and ``add`` (which drains what is due before it exits).
Several dispatchers against one database are safe: each delivery is claimed by one (see
:mod:`streamforge.library.outbox`). A dispatcher sleeps until the next delivery is due, and
wakes early when a lifecycle event appears on the event bus.

A stopping process (:meth:`Dispatcher.stop`) lets the delivery under way finish for
:data:`STOP_GRACE` seconds, then cancels it. Delivery is at least once: a process that
dies (or cancels a delivery) after a notifier call went out but before recording its
success leaves the delivery to be retried when its claim expires. Notifiers and their
receivers can recognise a repeat by the event ``id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from streamforge.errors import DeliveryRefused, NotifierError
from streamforge.events import Event
from streamforge.library import outbox
from streamforge.notifiers import LIFECYCLE_EVENTS
from streamforge.runtime import Runtime

log = logging.getLogger(__name__)

#: Seconds a stopping process gives the delivery under way to finish (then it is cut off
#: and retried later): enough for a webhook that answers, not enough to hold up a restart.
STOP_GRACE = 2.0
#: Seconds between removals of old finished deliveries (``[notifiers] keep_days``).
PRUNE_EVERY = 3600.0

#: How one attempt ended, as recorded: delivered, due again later, or failed for good.
Outcome = Literal["delivered", "retrying", "failed"]


class Dispatcher:
    """Delivers due outbox rows to this process's enabled notifiers.

    ``on_settled(delivery, outcome)``, if given, is called after each attempt's outcome is
    recorded (not when the claim had expired and nothing was recorded): a hook for
    metrics, and for tests that wait for a delivery.
    """

    def __init__(
        self, rt: Runtime, on_settled: Callable[[outbox.Delivery, Outcome], None] | None = None
    ) -> None:
        self.rt = rt
        self.config = rt.settings.notifiers
        self.notifiers: dict[str, Any] = {n.name: n for n in rt.notifiers}
        self.on_settled = on_settled
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def lease_seconds(self) -> float:
        """How long a claim holds a delivery: twice the time a delivery may take."""
        return 2 * self.config.timeout

    def backoff(self, attempt: int) -> float:
        """Seconds before retrying after failed attempt number ``attempt`` (1-based)."""
        delay = self.config.retry_backoff * 2 ** (attempt - 1)
        return float(min(delay, self.config.retry_backoff_max))

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Deliver every delivery due now (claiming no more once ``stop`` is set); returns
        how many attempts were made."""
        if not self.notifiers:
            return 0
        given_up = await outbox.give_up_abandoned(
            self.rt.db, self.notifiers, self.config.max_attempts
        )
        if given_up:
            log.warning("notifications: %d delivery(ies) abandoned mid-attempt, given up", given_up)
        counts = await asyncio.gather(*(self._drain(name, stop) for name in self.notifiers))
        return sum(counts)

    async def _drain(self, name: str, stop: asyncio.Event | None) -> int:
        """One notifier's due deliveries, oldest first, one at a time (keeps their order)."""
        done = 0
        while stop is None or not stop.is_set():
            d = await outbox.claim_next(self.rt.db, name, self.lease_seconds)
            if d is None:
                break
            await self._deliver(d)
            done += 1
        return done

    async def _deliver(self, d: outbox.Delivery) -> None:
        notifier = self.notifiers[d.notifier]
        what = f"{d.event.get('type')} {d.event.get('id')} to {d.notifier}"
        try:
            async with asyncio.timeout(self.config.timeout):
                await notifier.notify(d.event)
        except DeliveryRefused as exc:
            await self._failed(d, what, str(exc), retry=False)
        except NotifierError as exc:
            await self._failed(d, what, str(exc), retry=True)
        except TimeoutError:
            await self._failed(d, what, f"timed out after {self.config.timeout:g} s", retry=True)
        except Exception as exc:  # a notifier bug: keep the trace, retry like any failure
            log.exception("notifier %s failed on %s", d.notifier, d.event.get("type"))
            await self._failed(d, what, f"{type(exc).__name__}: {exc}", retry=True)
        else:
            if await outbox.delivered(self.rt.db, d):
                self._settled(d, "delivered")
            else:
                log.warning("notification %s delivered after its claim expired", what)

    async def _failed(self, d: outbox.Delivery, what: str, error: str, *, retry: bool) -> None:
        final = not retry or d.attempt >= self.config.max_attempts
        retry_in = None if final else self.backoff(d.attempt)
        if not await outbox.failed(self.rt.db, d, error, retry_in=retry_in):
            log.warning("notification %s failed after its claim expired: %s", what, error)
            return
        if final:
            log.error("notification %s failed for good (attempt %d): %s", what, d.attempt, error)
        else:
            log.warning(
                "notification %s: attempt %d failed, retrying in %.0f s: %s",
                what,
                d.attempt,
                retry_in,
                error,
            )
        self._settled(d, "failed" if final else "retrying")

    def _settled(self, d: outbox.Delivery, outcome: Outcome) -> None:
        if self.on_settled is not None:
            try:
                self.on_settled(d, outcome)
            except Exception:
                log.exception("on_settled callback failed")

    async def prune(self) -> int:
        """Remove deliveries finished more than ``[notifiers] keep_days`` ago."""
        if not self.config.keep_days:
            return 0
        before = outbox.now() - timedelta(days=self.config.keep_days)
        removed = await outbox.prune(self.rt.db, before)
        if removed:
            log.info("notifications: removed %d finished delivery(ies) from the outbox", removed)
        return removed

    async def seconds_until_due(self) -> float:
        """Seconds until the next pending delivery is due, at most ``poll_interval``."""
        poll = self.config.poll_interval
        due = await outbox.next_due(self.rt.db, self.notifiers)
        if due is None:
            return poll
        return max(0.0, min(poll, (due - outbox.now()).total_seconds()))

    async def run_forever(self) -> None:
        """Deliver as deliveries fall due, waking early for new lifecycle events."""
        if not self.notifiers:
            return
        wake = asyncio.Event()

        def on_event(event: Event) -> None:
            if event.get("type") in LIFECYCLE_EVENTS:
                wake.set()

        # listening starts before the first look at the outbox: no event falls in between
        stop_listening = self.rt.events.listen(on_event)
        stopping = asyncio.create_task(self._stopping.wait())
        pruned_at = -PRUNE_EVERY
        try:
            while not self._stopping.is_set():
                wake.clear()
                try:
                    if time.monotonic() - pruned_at >= PRUNE_EVERY:
                        pruned_at = time.monotonic()
                        await self.prune()
                    await self.run_once(self._stopping)
                    delay = await self.seconds_until_due()
                except Exception:
                    log.exception("notification dispatch pass failed")
                    delay = self.config.poll_interval
                woken = asyncio.create_task(wake.wait())
                try:
                    await asyncio.wait(
                        {woken, stopping}, timeout=delay, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    woken.cancel()
        finally:
            stopping.cancel()
            stop_listening()

    def start(self) -> None:
        """Run :meth:`run_forever` as a background task until :meth:`stop`."""
        self._task = asyncio.create_task(self.run_forever(), name="notification-dispatcher")

    async def stop(self, within: float) -> None:
        """Stop the background task: it finishes the delivery under way, for at most
        ``within`` seconds, and claims no more. A delivery still under way then is
        cancelled; its claim runs out and it is retried later, by any dispatcher."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), within)
        except TimeoutError:
            log.warning("notifications: a delivery was still under way after %g s; cut off", within)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Exception:
            log.exception("the notification dispatcher failed")

    async def flush(self, within: float) -> None:
        """Deliver what is due now, giving up after ``within`` seconds (for a process about
        to exit). What is left is delivered by the next dispatcher that runs."""
        try:
            async with asyncio.timeout(within):
                await self.run_once()
        except TimeoutError:
            log.warning("notifications: %g s were not enough; the rest is left queued", within)
        except Exception:
            log.exception("notification dispatch before exit failed")
