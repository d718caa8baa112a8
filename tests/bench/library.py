"""Library benchmark: the library page and ``GET /api/v1/videos`` over 100,000 videos.

Run it by hand (it is not a pytest test and does not run in CI)::

    python tests/bench/library.py [--videos 100000] [--runs 7] [--out DIR]

It builds a real SQLite database (migrated like ``serve`` does) in ``--out`` (default
``$TMPDIR/streamforge-bench-library``, reused while its video count matches), filled by
bulk inserts through SQLAlchemy core: titles and descriptions of dictionary-like words,
creation times spread over five years, 90 % public, 3 % not ready. Then the real app, through
its test client, answers each request ``--runs`` times; the table shows the median and the
worst run in milliseconds (template rendering and JSON included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import func, insert, select  # noqa: E402

from streamforge.app import create_app  # noqa: E402
from streamforge.config import Settings, load_settings  # noqa: E402
from streamforge.db.models import Privacy, Video, VideoStatus  # noqa: E402
from streamforge.runtime import Runtime  # noqa: E402
from streamforge.web.events_ws import snapshot  # noqa: E402

SYLLABLES = ["ka", "lo", "mi", "ren", "to", "sa", "vel", "do", "ri", "an", "ek", "zu", "por", "ni"]
#: Words every bench title may contain, with a known frequency (for the search cases).
COMMON_WORD = "holiday"  # in ~10 % of titles
RARE_WORD = "zeppelin"  # in ~0.05 % of descriptions
BATCH = 5_000


def _vocabulary(rng: random.Random, size: int = 3_000) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    words = _vocabulary(rng)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    span = int(timedelta(days=5 * 365).total_seconds() * 1_000_000)
    rows = []
    for n in range(count):
        title = [rng.choice(words) for _ in range(rng.randint(2, 6))]
        if rng.random() < 0.10:
            title.insert(rng.randrange(len(title) + 1), COMMON_WORD)
        description = " ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.0005:
            description += f" {RARE_WORD}"
        roll = rng.random()
        privacy = (
            Privacy.PUBLIC if roll < 0.90 else Privacy.UNLISTED if roll < 0.95 else Privacy.PRIVATE
        )
        status = VideoStatus.READY if rng.random() < 0.97 else VideoStatus.FAILED
        created = start + timedelta(microseconds=rng.randrange(span))
        rows.append(
            {
                "id": f"bench{n:07d}",
                "title": " ".join(title).capitalize()[:200],
                "description": description,
                "status": status,
                "progress": 100.0 if status == VideoStatus.READY else 0.0,
                "error": None if status == VideoStatus.READY else "not a supported video file",
                "privacy": privacy,
                "duration": rng.uniform(5, 3600),
                "width": 1920,
                "height": 1080,
                "outputs": {"master": "hls/master.m3u8", "poster": "poster.jpg"},
                "created_at": created,
                "updated_at": created,
                "ready_at": created if status == VideoStatus.READY else None,
            }
        )
    return rows


async def fill(rt: Runtime, count: int) -> float:
    """Insert ``count`` videos unless the database already has exactly that many."""
    async with rt.db.read() as s:
        have = (await s.execute(select(func.count()).select_from(Video))).scalar_one()
    if have == count:
        return 0.0
    if have:
        raise SystemExit(f"{rt.settings.database_url} holds {have} videos; use another --out")
    began = time.perf_counter()
    rows = _rows(count)
    async with rt.db.engine.begin() as conn:
        for i in range(0, count, BATCH):
            await conn.execute(insert(Video.__table__), rows[i : i + BATCH])
    return time.perf_counter() - began


def cases(api_cursor: bool) -> list[tuple[str, str]]:
    """``(name, path)``; paths that start with ``@next:`` follow the page's next link."""
    found = [
        ("page: first (newest)", "/"),
        ("page: 2 (next link)", "@next:/"),
        ("page: oldest", "/?sort=oldest"),
        ("page: title", "/?sort=title"),
        ("page: ?page=2000 (old link)", "/?page=2000"),
        (f"page: search common ({COMMON_WORD})", f"/?q={COMMON_WORD}"),
        (f"page: search rare ({RARE_WORD})", f"/?q={RARE_WORD}"),
        ("page: search, no match", "/?q=qqqqq"),
        ("page: search broad (ka, 87 %)", "/?q=ka"),
        ("api: first", "/api/v1/videos"),
        ("api: offset=50000", "/api/v1/videos?offset=50000"),
        ("api: sort=title offset=50000", "/api/v1/videos?sort=title&offset=50000"),
        ("api: status=failed", "/api/v1/videos?status=failed"),
        (f"api: q={COMMON_WORD}", f"/api/v1/videos?q={COMMON_WORD}"),
        (f"api: q={RARE_WORD}", f"/api/v1/videos?q={RARE_WORD}"),
    ]
    if api_cursor:
        found.append(("api: cursor (deep, newest)", "@deep:newest"))
        found.append(("api: cursor (deep, title)", "@deep:title"))
    return found


async def _resolve(client: Any, path: str) -> str:
    """Turn the ``@`` cases into a concrete URL (not timed)."""
    if path.startswith("@next:"):
        base = path.removeprefix("@next:")
        html = await (await client.get(base)).get_data(as_text=True)
        link = re.search(r'<a [^>]*rel="next"[^>]*>', html)
        assert link is not None, "no next link"
        href = re.search(r'href="([^"]+)"', link.group(0))
        assert href is not None
        return urljoin(base, href.group(1).replace("&amp;", "&"))
    if path.startswith("@deep:"):
        sort = path.removeprefix("@deep:")
        # the cursor of the item at offset 50,000, taken from an offset page
        body = await (
            await client.get(f"/api/v1/videos?sort={sort}&offset=49999&limit=1")
        ).get_json()
        return f"/api/v1/videos?sort={sort}&cursor={body['next_cursor']}"
    return path


async def measure(settings: Settings, runs: int) -> list[dict[str, Any]]:
    app = create_app(settings, run_jobs=False)
    results = []
    async with app.test_app():
        client = app.test_client()
        spec = await (await client.get("/openapi.json")).get_json()
        params = spec["paths"]["/api/v1/videos"]["get"].get("parameters", [])
        api_cursor = any(p["name"] == "cursor" for p in params)
        for name, raw in cases(api_cursor):
            path = await _resolve(client, raw)
            timings = []
            for _ in range(runs + 1):  # the first run warms caches and is dropped
                began = time.perf_counter()
                response = await client.get(path)
                await response.get_data()
                timings.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            results.append(_row(name, path, timings[1:]))
        # what a library page with unfinished videos asks for over the WebSocket
        rt = app.extensions["streamforge"].runtime
        timings = []
        for _ in range(runs + 1):
            began = time.perf_counter()
            await snapshot(rt, None)
            timings.append((time.perf_counter() - began) * 1000)
        results.append(_row("ws: snapshot (unfinished videos)", "events_ws.snapshot", timings[1:]))
    return results


def _row(name: str, path: str, timings: list[float]) -> dict[str, Any]:
    return {
        "case": name,
        "path": path if len(path) < 90 else path[:87] + "...",
        "median_ms": round(statistics.median(timings), 1),
        "max_ms": round(max(timings), 1),
    }


def _settings(out: Path) -> Settings:
    return load_settings(None, environ={"STREAMFORGE_SERVER__DATA_DIR": str(out / "data")})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "streamforge-bench-library"
    )
    args = parser.parse_args()
    settings = _settings(args.out)
    rt = await Runtime.create(settings).open()
    try:
        filled = await fill(rt, args.videos)
    finally:
        await rt.close()
    if filled:
        print(f"inserted {args.videos} videos in {filled:.1f} s")
    load_before = os.getloadavg()[0]
    results = await measure(settings, args.runs)
    load_after = os.getloadavg()[0]
    width = max(len(r["case"]) for r in results)
    print(f"{'case':<{width}}  median ms  max ms")
    for r in results:
        print(f"{r['case']:<{width}}  {r['median_ms']:>9}  {r['max_ms']:>6}")
    # other work on the machine shows in the figures: say how busy it was
    print(f"load average (1 min) before {load_before:.2f}, after {load_after:.2f}")
    record = {
        "videos": args.videos,
        "runs": args.runs,
        "load_average": [load_before, load_after],
        "results": results,
    }
    (args.out / "results.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
