"""The Dramatiq broker chosen by ``[broker] url``: in-process (StubBroker) when empty,
Redis for ``redis://``, RabbitMQ for ``amqp://``."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from streamforge.config import Settings
from streamforge.errors import ConfigError


def make_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.broker.url
    if not url:
        return StubBroker()
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        # Tuned so a message of a SIGKILLed worker comes back within ~a minute, not
        # Dramatiq's default of "heartbeat (60 s) plus a 1-in-1000 maintenance roll".
        return RedisBroker(  # type: ignore[no-untyped-call]
            url=url,
            namespace=settings.broker.namespace,
            heartbeat_timeout=30_000,
            maintenance_chance=10_000,
        )
    if url.startswith(("amqp://", "amqps://")):
        try:
            from dramatiq.brokers.rabbitmq import RabbitmqBroker
        except ImportError as exc:
            raise ConfigError(
                "[broker] url: RabbitMQ needs the pika package (pip install 'dramatiq[rabbitmq]')"
            ) from exc
        return RabbitmqBroker(url=url)
    raise ConfigError(f"[broker] url: unsupported scheme in {url!r}")
