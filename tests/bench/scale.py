"""Scale-out throughput: videos per hour with 1, 2, 3… ``streamforge worker`` processes.

Run it by hand (it is not a pytest test and does not run in CI)::

    python tests/bench/scale.py [--videos 6] [--workers 1,2,3] [--seconds 20] [--height 1080]
                                [--database postgresql|sqlite] [--out DIR]

For each worker count, in a fresh data folder, a fresh database (PostgreSQL by default)
and a Redis database index of its own: the workers start and consume, then one
``streamforge add`` queues ``--videos`` copies of the same clip through the broker, and
the script waits until every video is ready. The clip is made once with
``tests/mediagen.py`` (``--height``p30, ``--seconds`` long, stereo AAC) and cached in
``--out``; it goes through the default ladder (360p, 720p, 1080p for a 1080p source: what a
typical phone or camera upload gets) with the x264 plugin's defaults (``veryfast``, 2
threads per rung), local storage.

Measures per run:

``videos/hour``   videos × 3600 / makespan, where the makespan runs from the first
                  attempt's start to the last video's ``ready_at`` (the database's clock)
``latency``       per video, ``ready_at`` − ``created_at``: queueing plus transcoding
``service``       per video, the successful attempt's ``finished_at`` − ``started_at``
``CPU``           busy share of the whole machine over the makespan (``/proc/stat``), and
                  the CPU seconds of the worker processes and their media children
                  (user + system), per video

Writes ``results.json`` to ``--out`` (default ``$TMPDIR/streamforge-bench-scale``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import tests.conftest  # noqa: E402, F401  (first: tests.dbs imports it)
from streamforge.db.models import JobAttempt, Video  # noqa: E402
from streamforge.db.session import Database  # noqa: E402
from tests.authn import ensure_admin  # noqa: E402
from tests.bench.upload import machine  # noqa: E402
from tests.dbs import postgres_database  # noqa: E402
from tests.e2e.cli import cli, free_port  # noqa: E402
from tests.e2e.faults import Worker, redis_database  # noqa: E402
from tests.mediagen import make_clip  # noqa: E402

POLL = 0.5


def make_source(out: Path, seconds: int, height: int) -> Path:
    width = height * 16 // 9
    path = out / f"source-{height}p-{seconds}s.mp4"
    if not path.exists():
        print(f"making the source clip {path} …", flush=True)
        make_clip(path.with_suffix(".part.mp4"), width=width, height=height, seconds=seconds)
        path.with_suffix(".part.mp4").rename(path)
    return path


def write_config(folder: Path, *, redis_url: str, database_url: str) -> Path:
    """Production defaults but for the folder, the broker and the database."""
    database = f'[database]\nurl = "{database_url}"\n' if database_url else ""
    config = folder / "streamforge.toml"
    config.write_text(
        f"""
[server]
host = "127.0.0.1"
port = {free_port()}
data_dir = "{folder / "data"}"

[broker]
url = "{redis_url}"
namespace = "sf-bench-{uuid.uuid4().hex[:8]}"

[transcode]
encoder = "x264"

{database}
"""
    )
    return config


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu(pid: int) -> float:
    """user + system seconds of a process and of its children it has waited for."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


async def _timings(url: str) -> dict[str, Any]:
    from sqlalchemy import select

    db = Database(url)
    try:
        async with db.read() as s:
            videos = (
                await s.execute(select(Video.id, Video.status, Video.created_at, Video.ready_at))
            ).all()
            attempts = (await s.execute(select(JobAttempt))).scalars().all()
            started = min((a.started_at for a in attempts), default=None)
            service = [
                (a.finished_at - a.started_at).total_seconds()
                for a in attempts
                if a.outcome == "succeeded" and a.finished_at
            ]
    finally:
        await db.close()
    rows = [
        {"id": v.id, "status": str(v.status), "created_at": v.created_at, "ready_at": v.ready_at}
        for v in videos
    ]
    return {"rows": rows, "first_start": started, "service": service}


def read_state(url: str) -> dict[str, Any]:
    return asyncio.run(_timings(url))


def pg_writes(url: str) -> dict[str, int] | None:
    """PostgreSQL's counters of the database: rows written and transactions committed
    (every backend's, flushed when it exits); None on SQLite."""
    if not url.startswith("postgresql"):
        return None
    from sqlalchemy import text

    async def go() -> dict[str, int]:
        db = Database(url)
        try:
            async with db.read() as s:
                row = (
                    await s.execute(
                        text(
                            "SELECT tup_inserted + tup_updated + tup_deleted, xact_commit "
                            "FROM pg_stat_database WHERE datname = current_database()"
                        )
                    )
                ).one()
        finally:
            await db.close()
        return {"rows": int(row[0]), "commits": int(row[1])}

    return asyncio.run(go())


@contextmanager
def database(kind: str, folder: Path) -> Iterator[tuple[str, str]]:
    """(``[database] url`` for the config, the URL the script reads with)."""
    if kind == "sqlite":
        yield "", f"sqlite+aiosqlite:///{folder / 'data' / 'streamforge.db'}"
        return
    with postgres_database() as url:
        yield url, url


def run(workers: int, videos: int, source: Path, out: Path, db_kind: str) -> dict[str, Any]:
    folder = out / f"workers-{workers}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = []
    for i in range(videos):
        files.append(folder / f"video-{i:02d}{source.suffix}")
        os.link(source, files[-1])
    with (
        redis_database() as redis_url,
        database(db_kind, folder) as (config_url, read_url),
    ):
        config = write_config(folder, redis_url=redis_url, database_url=config_url)
        ensure_admin(config)  # creates the schema before the workers start
        procs = [Worker(config, folder / f"worker-{i}.log") for i in range(workers)]
        try:
            for w in procs:
                w.wait_consuming(120)
            writes0 = pg_writes(read_url)
            busy0, total0 = cpu_times()
            added = cli(config, "add", *map(str, files), timeout=600)
            if added.returncode != 0:
                raise SystemExit(f"add failed:\n{added.stderr}")
            while True:
                state = read_state(read_url)
                if all(r["status"] in ("ready", "failed") for r in state["rows"]):
                    break
                time.sleep(POLL)
            busy1, total1 = cpu_times()
            worker_cpu = sum(process_cpu(w.pid) for w in procs)
        finally:
            for w in procs:
                w.stop()
        time.sleep(1.5)  # exited backends' statistics reach pg_stat_database
        writes1 = pg_writes(read_url)
    rows = state["rows"]
    failed = [r["id"] for r in rows if r["status"] != "ready"]
    if failed:
        raise SystemExit(f"{len(failed)} video(s) failed; see {folder}/worker-*.log")
    makespan = (max(r["ready_at"] for r in rows) - state["first_start"]).total_seconds()
    latency = sorted((r["ready_at"] - r["created_at"]).total_seconds() for r in rows)
    service = sorted(state["service"])
    return {
        "workers": workers,
        "videos": videos,
        "makespan_s": round(makespan, 1),
        "videos_per_hour": round(videos * 3600 / makespan, 1),
        "latency_s": {
            "median": round(statistics.median(latency), 1),
            "max": round(latency[-1], 1),
            "all": [round(x, 1) for x in latency],
        },
        "service_s": {
            "median": round(statistics.median(service), 1),
            "max": round(service[-1], 1),
        },
        "machine_busy_pct": round(100 * (busy1 - busy0) / max(1, total1 - total0), 1),
        # CPU seconds the rest of the machine used meanwhile (other work on a shared box)
        "other_cpu_s": round((busy1 - busy0) / os.sysconf("SC_CLK_TCK") - worker_cpu, 1),
        "worker_cpu_s": round(worker_cpu, 1),
        "cpu_s_per_video": round(worker_cpu / videos, 1),
        # PostgreSQL rows written and transactions (incl. this script's polling reads) per
        # video, from `add` to the last worker's exit
        "db_per_video": (
            {k: round((writes1[k] - writes0[k]) / videos, 1) for k in writes0}
            if writes0 is not None and writes1 is not None
            else None
        ),
    }


def print_table(results: list[dict[str, Any]]) -> None:
    print()
    print(
        "| workers | videos | makespan s | videos/hour | latency median / max s "
        "| transcode median s | machine busy % | worker CPU s / video |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['workers']} | {r['videos']} | {r['makespan_s']} | {r['videos_per_hour']} "
            f"| {r['latency_s']['median']} / {r['latency_s']['max']} "
            f"| {r['service_s']['median']} | {r['machine_busy_pct']} | {r['cpu_s_per_video']} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--videos", type=int, default=6, help="videos per run (default 6)")
    parser.add_argument(
        "--workers", default="1,2,3", help="worker counts to measure, comma-separated"
    )
    parser.add_argument("--seconds", type=int, default=20, help="clip length (default 20)")
    parser.add_argument("--height", type=int, default=1080, help="clip height (default 1080)")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "streamforge-bench-scale",
        help="work and results folder; the clip is cached here",
    )
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    source = make_source(out, args.seconds, args.height)
    results = []
    for count in (int(x) for x in args.workers.split(",")):
        print(f"{count} worker(s), {args.videos} videos …", flush=True)
        results.append(run(count, args.videos, source, out, args.database))
        print(json.dumps(results[-1]), flush=True)
    report = {
        "machine": machine(),
        "source": {
            "path": str(source),
            "seconds": args.seconds,
            "height": args.height,
            "bytes": source.stat().st_size,
        },
        "database": args.database,
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(report, indent=2))
    print_table(results)
    print(f"\nresults: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
