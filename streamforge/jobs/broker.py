"""The Dramatiq broker chosen by ``[broker] url``: in-process (StubBroker) when empty,
Redis for ``redis://``, RabbitMQ for ``amqp://``.

How fast a message held by a worker that was SIGKILLed comes back (docs/workers.md shows
the arithmetic):

- Redis: Dramatiq records a heartbeat on every broker command a worker process sends (its
  idle consumers poll every ``WORKER_TIMEOUT`` ms, so a live process beats several times a
  second). On each command, with probability ``MAINTENANCE_CHANCE`` / 1,000,000, Redis
  moves the unacknowledged messages of that queue's processes silent for more than
  ``HEARTBEAT_TIMEOUT`` ms back onto the queue. So: heartbeat timeout (15 s) plus the wait
  for a maintenance roll on that queue — with one idle consumer polling ~13 times a second
  at 10 %, under 5 s with 99.9 % probability. Bound: ~20 s.
- RabbitMQ: unacknowledged messages return the moment the broker sees the connection
  close — at once when the process dies (the kernel closes its socket), within about
  ``RABBITMQ_HEARTBEAT`` seconds when the whole machine vanishes.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import dramatiq
from dramatiq.brokers.stub import StubBroker

from streamforge.config import Settings
from streamforge.errors import ConfigError

#: ms without a command before Redis calls a worker process dead. Far above the gap between
#: a live process's commands (~0.1 s), so a busy worker is never mistaken for a dead one;
#: and a mistake would only cost a no-op message (the database lease decides who runs).
HEARTBEAT_TIMEOUT = 15_000
#: Maintenance rolls per million Redis commands (10 %). When no process is dead, maintenance
#: is two small sorted-set range reads, so a high chance costs little.
MAINTENANCE_CHANCE = 100_000
#: ms an idle consumer waits between polls at most (Dramatiq's default is 1 s).
WORKER_TIMEOUT = 100
#: Seconds of AMQP heartbeat asked of RabbitMQ unless the URL says otherwise.
RABBITMQ_HEARTBEAT = 20


def broker_kind(url: str) -> str:
    """``redis``, ``rabbitmq`` or ``embedded`` (no broker: jobs run in this process)."""
    if url.startswith(("redis://", "rediss://")):
        return "redis"
    if url.startswith(("amqp://", "amqps://")):
        return "rabbitmq"
    return "embedded"


def make_broker(settings: Settings) -> dramatiq.Broker:
    """Build the broker for ``[broker] url`` (a StubBroker when it is empty)."""
    url = settings.broker.url
    if not url:
        return StubBroker()
    kind = broker_kind(url)
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(  # type: ignore[no-untyped-call]
            url=url,
            namespace=settings.broker.namespace,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            maintenance_chance=MAINTENANCE_CHANCE,
        )
    if kind == "rabbitmq":
        try:
            from dramatiq.brokers.rabbitmq import RabbitmqBroker
        except ImportError as exc:
            raise ConfigError(
                "[broker] url: RabbitMQ needs the pika package (pip install 'dramatiq[rabbitmq]')"
            ) from exc
        return RabbitmqBroker(url=with_heartbeat(url))
    raise ConfigError(f"[broker] url: unsupported scheme in {url!r}")


def broker_queue(settings: Settings, queue: str) -> str:
    """The broker's name for the logical queue ``queue``. Redis keys carry ``[broker]
    namespace`` already; RabbitMQ has no such prefix, so there the namespace goes in front
    of the queue's name (sites or test runs sharing a vhost never take each other's work).
    """
    if broker_kind(settings.broker.url) == "rabbitmq":
        return f"{settings.broker.namespace}.{queue}"
    return queue


def with_heartbeat(url: str) -> str:
    """``url`` with ``heartbeat=RABBITMQ_HEARTBEAT`` added unless it names one."""
    if any(key == "heartbeat" for key, _ in parse_qsl(urlsplit(url).query)):
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}heartbeat={RABBITMQ_HEARTBEAT}"
