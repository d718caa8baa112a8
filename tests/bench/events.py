"""Live events benchmark: one published event into 1,000 WebSocket clients of ``serve``.

Run it by hand (it is not a pytest test and does not run in CI)::

    python tests/bench/events.py [--clients 1000] [--events 30] [--redis redis://127.0.0.1:6379/0]

It needs the Redis server the project uses for scale-out. ``streamforge serve`` runs with
``[broker] url`` pointing at it (its own ``namespace``, so nothing else listening hears
the bench), so the event bus is Redis pub/sub as on a multi-node install. This process
then opens ``--clients`` WebSocket connections to ``/api/v1/events`` (aiohttp, one event
loop), each subscribing to every video, and publishes ``--events`` ``video.progress``
events into Redis, one every ``--gap`` seconds, as a worker on another machine would.

Delivery latency is the time from ``publish`` (stamped in the event) to the moment a
client's read returns it. Publisher and clients share this process's monotonic clock, so
no clocks need to agree; the clients' own parsing on one core is included, which makes
the figure an upper bound of what the server adds. Every client must receive every event.

Printed: p50/p95/p99/max latency over all (client, event) pairs, how long the last client
took per event (fan-out time), the web process's RSS idle, with the clients connected and
at its peak, and its CPU seconds. Target (issue "5. Live status"): p99 < 100 ms. Exit
status 1 if missed or if any event was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from streamforge.events import RedisEventBus, make_event  # noqa: E402
from tests.bench.upload import RssSampler, _status_kib, cpu_seconds, machine  # noqa: E402
from tests.e2e.cli import running_server, write_config  # noqa: E402
from tests.web.helpers import add_ready_video_to  # noqa: E402

TARGET_P99_MS = 100.0
#: A public video the events are about (events of videos a client may not see are not sent).
VIDEO_ID = "benchvideo1"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Client:
    """One WebSocket connection recording when each benchmark event arrived."""

    def __init__(self) -> None:
        self.latencies: dict[int, float] = {}
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self, http: aiohttp.ClientSession, url: str) -> None:
        self.ws = await http.ws_connect(url, heartbeat=None, max_msg_size=0)
        await self.ws.send_json({"type": "subscribe"})

    async def read(self, expected: int) -> None:
        assert self.ws is not None
        async for message in self.ws:
            now = time.monotonic()
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(message.data)
            if event.get("type") == "video.progress" and "bench_seq" in event:
                self.latencies[event["bench_seq"]] = now - event["bench_sent"]
                if len(self.latencies) == expected:
                    return


async def connect_all(url: str, count: int, http: aiohttp.ClientSession) -> list[Client]:
    clients = [Client() for _ in range(count)]
    # a few hundred handshakes at a time, as browsers reconnecting after a restart would
    batch = 200
    for start in range(0, count, batch):
        await asyncio.gather(*(c.connect(http, url) for c in clients[start : start + batch]))
    return clients


async def run(args: argparse.Namespace, server_url: str, server_pid: int, channel: str) -> dict:
    bus = RedisEventBus(args.redis, channel=channel)
    ws_url = server_url.replace("http://", "ws://") + "/api/v1/events"
    idle_kib = _status_kib(server_pid, "VmRSS")
    sampler = RssSampler(server_pid, interval=0.1)
    sampler.start()
    connector = aiohttp.TCPConnector(limit=0)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            started = time.monotonic()
            clients = await connect_all(ws_url, args.clients, http)
            connect_seconds = time.monotonic() - started
            # every client has its subscribe answered (an empty snapshot) before we publish:
            # a warm-up event that all of them must see
            warm = [asyncio.create_task(c.read(1)) for c in clients]
            bus.publish(
                make_event("video.progress", VIDEO_ID, percent=0, bench_seq=-1, bench_sent=0.0)
            )
            await asyncio.wait_for(asyncio.gather(*warm), 60)
            for c in clients:
                c.latencies.clear()
            connected_kib = _status_kib(server_pid, "VmRSS")
            cpu_before = cpu_seconds(server_pid)
            readers = [asyncio.create_task(c.read(args.events)) for c in clients]
            for seq in range(args.events):
                event = make_event(
                    "video.progress",
                    VIDEO_ID,
                    percent=seq,
                    bench_seq=seq,
                    bench_sent=time.monotonic(),
                )
                bus.publish(event)
                await asyncio.sleep(args.gap)
            _, pending = await asyncio.wait(readers, timeout=30)
            for task in pending:
                task.cancel()
            cpu_used = cpu_seconds(server_pid) - cpu_before
            await asyncio.gather(*(c.ws.close() for c in clients if c.ws is not None))
    finally:
        sampler.stop()
        bus.stop()
    latencies = [v * 1000 for c in clients for v in c.latencies.values()]
    fanout = [
        max(c.latencies[seq] for c in clients if seq in c.latencies) * 1000
        for seq in range(args.events)
        if any(seq in c.latencies for c in clients)
    ]
    received = len(latencies)
    expected = args.clients * args.events
    return {
        "machine": machine(),
        "clients": args.clients,
        "events": args.events,
        "gap_s": args.gap,
        "connect_s": round(connect_seconds, 2),
        "received": received,
        "expected": expected,
        "lost": expected - received,
        "clients_incomplete": len(pending),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1) if latencies else None,
            "p95": round(percentile(latencies, 95), 1) if latencies else None,
            "p99": round(percentile(latencies, 99), 1) if latencies else None,
            "max": round(max(latencies), 1) if latencies else None,
            "mean": round(statistics.fmean(latencies), 1) if latencies else None,
        },
        "fanout_ms_median": round(statistics.median(fanout), 1) if fanout else None,
        "server_rss_mb": {
            "idle": round(idle_kib / 1024, 1),
            "connected": round(connected_kib / 1024, 1),
            "peak": round(sampler.peak_main_kib / 1024, 1),
        },
        "server_cpu_s_during_events": round(cpu_used, 2),
    }


def table(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    rss = r["server_rss_mb"]
    rows = [
        ("clients × events", f"{r['clients']} × {r['events']} (one every {r['gap_s']} s)"),
        ("received / expected", f"{r['received']} / {r['expected']}"),
        ("connect all clients", f"{r['connect_s']} s"),
        (
            "latency p50 / p95 / p99 / max",
            f"{lat['p50']} / {lat['p95']} / {lat['p99']} / {lat['max']} ms",
        ),
        ("last client per event (median)", f"{r['fanout_ms_median']} ms"),
        (
            "web RSS idle / connected / peak",
            f"{rss['idle']} / {rss['connected']} / {rss['peak']} MB",
        ),
        ("web CPU during the events", f"{r['server_cpu_s_during_events']} s"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between events")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    namespace = f"sf-bench-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="sf-bench-events-") as tmp:
        config = write_config(
            Path(tmp), f'[broker]\nurl = "{args.redis}"\nnamespace = "{namespace}"\n'
        )
        asyncio.run(add_ready_video_to(config, VIDEO_ID, title="Events benchmark"))
        with running_server(config) as server:
            results = asyncio.run(run(args, server.url, server.proc.pid, f"{namespace}:events"))
    print(table(results))
    print(json.dumps(results, indent=2))
    ok = results["lost"] == 0 and (results["latency_ms"]["p99"] or 1e9) < TARGET_P99_MS
    print("target p99 < 100 ms, nothing lost:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
