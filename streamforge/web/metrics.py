"""``GET /metrics``: Prometheus text of this process, plus what the database and the broker
hold right now (read at scrape time, so every web node reports the same figures).

Off with ``[metrics] enabled = false`` (the route then does not exist). With ``[metrics]
token`` set, a scrape must send ``Authorization: Bearer <token>``. There is no address
allow-list on purpose: behind a reverse proxy every request comes from the proxy's address,
so a list would let everyone in without anyone noticing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Iterable

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from quart import Blueprint, Quart, Response, request
from quart_schema import hide
from sqlalchemy import func, select

from streamforge.db.models import Job, JobState, Video, VideoStatus
from streamforge.jobs.broker import broker_kind, broker_queue
from streamforge.jobs.host import TRANSCODE_QUEUE, JobHost
from streamforge.jobs.queues import family_queue, hardware_families
from streamforge.metrics import HTTP_REQUESTS, NAMESPACE, token_matches
from streamforge.runtime import Runtime
from streamforge.web.errors import error_body
from streamforge.web.health import rabbitmq_connection, redis_client
from streamforge.web.state import app_state, runtime

log = logging.getLogger(__name__)

blueprint = Blueprint("metrics", __name__)

#: Seconds the database and the broker each get to answer a scrape.
SOURCE_TIMEOUT = 5.0


def transcode_queues(rt: Runtime) -> dict[str, str]:
    """Label -> broker queue name for every transcode queue (``transcode`` and one per
    hardware encoder family) and its delayed twin (retries waiting for their backoff)."""
    logical = [TRANSCODE_QUEUE, *(family_queue(f) for f in hardware_families(rt.registry))]
    names: dict[str, str] = {}
    for queue in logical:
        name = broker_queue(rt.settings, queue)
        names[queue] = name
        names[f"{queue}_delayed"] = f"{name}.DQ"
    return names


def install(app: Quart, *, enabled: bool) -> None:
    """Count every HTTP request; serve ``/metrics`` when ``enabled``."""
    app.after_request(_count_request)
    if enabled:
        app.register_blueprint(blueprint)


async def _count_request(response: Response) -> Response:
    # the route's pattern, never the path: paths carry ids and media link tokens
    rule = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
    HTTP_REQUESTS.labels(request.method, rule, str(response.status_code)).inc()
    return response


@blueprint.get("/metrics")
@hide
async def metrics() -> Response:
    """Prometheus text format 0.0.4."""
    state = app_state()
    token = state.settings.metrics.token.get_secret_value()
    if token and not token_matches(request.headers.get("Authorization"), token):
        body = error_body(401, "unauthorized", "send Authorization: Bearer <[metrics] token>")
        return Response(
            json.dumps(body),
            401,
            content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    families = await collect(runtime(), state.jobs)
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_Fixed(families))
    text = generate_latest(REGISTRY) + generate_latest(scraped)
    return Response(text, 200, content_type=CONTENT_TYPE_PLAIN_0_0_4)


class _Fixed(Collector):
    """Families read before the scrape is written out."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def collect(rt: Runtime, host: JobHost | None) -> list[Metric]:
    """What the database and the broker hold now, as metric families. A source that fails
    or is too slow leaves its families out and reports 0 in ``streamforge_source_up``."""
    up = GaugeMetricFamily(
        f"{NAMESPACE}_source_up",
        "Whether a source of scrape-time metrics answered this scrape (1) or not (0).",
        labels=["source"],
    )
    families: list[Metric] = []
    sources: dict[str, Awaitable[list[Metric]]] = {
        "database": _from_database(rt),
        "broker": _from_broker(rt, host),
    }
    results = await asyncio.gather(
        *(asyncio.wait_for(s, SOURCE_TIMEOUT) for s in sources.values()), return_exceptions=True
    )
    for name, result in zip(sources, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("metrics: the %s did not answer: %r", name, result)
            up.add_metric([name], 0)
        else:
            families.extend(result)
            up.add_metric([name], 1)
    return [*families, up]


async def _from_database(rt: Runtime) -> list[Metric]:
    async with rt.db.read() as s:
        jobs = dict((await s.execute(select(Job.state, func.count()).group_by(Job.state))).all())
        videos = dict(
            (await s.execute(select(Video.status, func.count()).group_by(Video.status))).all()
        )
    job_family = GaugeMetricFamily(
        f"{NAMESPACE}_jobs", "Transcode jobs in the database, by state.", labels=["state"]
    )
    for state in JobState:
        job_family.add_metric([state.value], jobs.get(state, 0))
    video_family = GaugeMetricFamily(
        f"{NAMESPACE}_videos", "Videos in the database, by status.", labels=["status"]
    )
    for status in VideoStatus:
        video_family.add_metric([status.value], videos.get(status, 0))
    return [job_family, video_family]


async def _from_broker(rt: Runtime, host: JobHost | None) -> list[Metric]:
    family = GaugeMetricFamily(
        f"{NAMESPACE}_queue_messages",
        "Messages waiting in the job queue (transcode) and for a retry's backoff "
        "(transcode_delayed); not those a worker has already taken.",
        labels=["queue"],
    )
    for label, depth in (await queue_depths(rt, host)).items():
        family.add_metric([label], depth)
    return [family]


async def queue_depths(rt: Runtime, host: JobHost | None) -> dict[str, int]:
    """Messages per queue: Redis list lengths, RabbitMQ queue counts, or the in-process
    queues of the embedded mode."""
    url = rt.settings.broker.url
    kind = broker_kind(url)
    if kind == "redis":
        client = redis_client(url, SOURCE_TIMEOUT)
        namespace = rt.settings.broker.namespace
        try:
            return {
                label: int(await client.llen(f"{namespace}:{queue}"))
                for label, queue in transcode_queues(rt).items()
            }
        finally:
            await client.aclose()
    if kind == "rabbitmq":
        return await asyncio.to_thread(_rabbitmq_depths, url, transcode_queues(rt))
    queues = getattr(host.broker, "queues", {}) if host is not None else {}
    return {label: _qsize(queues.get(queue)) for label, queue in transcode_queues(rt).items()}


def _qsize(queue: object) -> int:
    qsize = getattr(queue, "qsize", None)
    return int(qsize()) if callable(qsize) else 0


def _rabbitmq_depths(url: str, names: dict[str, str]) -> dict[str, int]:
    connection = rabbitmq_connection(url, SOURCE_TIMEOUT)
    try:
        depths = {}
        for label, queue in names.items():
            channel = connection.channel()
            try:  # passive: count without creating; a queue never declared holds nothing
                declared = channel.queue_declare(queue, passive=True)
                depths[label] = int(declared.method.message_count)
                channel.close()
            except Exception:
                depths[label] = 0
        return depths
    finally:
        connection.close()
