"""Transcoding benchmark: StreamForge's one-pass ladder against two FFmpeg CLI references.

Run it by hand (it is not a pytest test and does not run in CI)::

    python tests/bench/transcode.py [--seconds 60] [--runs 1] [--out DIR]

It needs Debian's ``ffmpeg`` and ``ffprobe`` on ``PATH`` (``apt-get install -y ffmpeg``)
for the test source, the two references and the PSNR measurements; StreamForge itself
uses PyAV's bundled FFmpeg as in production.

Contenders, run on the same machine, in the same run, one after the other:

(a) ``per-rung``    three ffmpeg processes, one per rung (PeerTube style)
(b) ``split``       one ffmpeg process: decode once, ``split`` + ``scale`` to three rungs
(c) ``streamforge`` the app's own path: sandboxed probe, then the sandboxed ladder pass
                    (every rung + thumbnail sprites/VTT + poster + manifests)

The references come from ``shared/bench/reference_ladder.sh`` (libx264 veryfast, GOP 4 s,
no scene cuts, HLS fMP4 4 s, 360p/720p/1080p at 0.8/2.5/5 Mb/s); StreamForge's plan is
built exactly as ``streamforge.library.transcoding.plan_transcode`` builds it, with the
x264 plugin's default config (preset veryfast, 2 threads per rung).

Each contender runs in a fresh wrapper process (this script with ``--measure``), so
``getrusage(RUSAGE_CHILDREN)`` gives that contender's CPU time (user + sys of every
process it started) and peak RSS (the largest single process: for StreamForge, the media
child). Results: a Markdown table on stdout, ``results.json`` in the output folder, and
PASS/FAIL for the targets of the "Transcoding engine" issue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CONTENDERS = ("per-rung", "split", "streamforge")
LABELS = {
    "per-rung": "(a) ffmpeg, one process per rung",
    "split": "(b) ffmpeg, one process, split",
    "streamforge": "(c) StreamForge ladder + thumbnails + poster",
}
#: The reference rungs (name, width, height), as in reference_ladder.sh.
REFERENCE_RUNGS = (("360p", 640, 360), ("720p", 1280, 720), ("1080p", 1920, 1080))

# Targets of the issue.
MIN_SPEEDUP_VS_PER_RUNG = 1.5
MAX_RSS_MB = 600.0
MAX_PSNR_LOSS_DB = 0.3
THREADS_ENV = "STREAMFORGE_BENCH_X264_THREADS"  # --x264-threads, passed to the child run


def reference_script() -> Path:
    here = Path(__file__).resolve()
    candidate = here.parents[3] / "shared/bench/reference_ladder.sh"
    if candidate.is_file():
        return candidate
    return Path("/work/shared/bench/reference_ladder.sh")


def need_ffmpeg() -> None:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"{' and '.join(missing)} not found: install Debian's ffmpeg "
            "(sudo apt-get install -y ffmpeg) and run again"
        )


def make_source(out: Path, seconds: int) -> Path:
    source = out / f"source-{seconds}s.mp4"
    if source.is_file():
        print(f"source: {source} (cached)", flush=True)
        return source
    print(f"source: making {seconds} s of 1080p30 in {source} …", flush=True)
    partial = source.with_suffix(".partial.mp4")
    started = time.perf_counter()
    subprocess.run(
        ["bash", str(reference_script()), "source", str(seconds), str(partial)], check=True
    )
    partial.rename(source)
    print(f"source: done in {time.perf_counter() - started:.1f} s", flush=True)
    return source


def media_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
         str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return float(out.strip())


# --------------------------------------------------------------------------- measuring


def system_busy_seconds() -> float:
    """CPU seconds (all cores, busy = not idle nor iowait) the whole machine has used."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def wait_for_idle(limit: float) -> float:
    """Wait (up to ``limit`` s) until the machine is idle; returns the last busy share."""
    deadline = time.monotonic() + limit
    cores = os.cpu_count() or 1
    while True:
        b0, t0 = system_busy_seconds(), time.monotonic()
        time.sleep(2.0)
        share = (system_busy_seconds() - b0) / ((time.monotonic() - t0) * cores)
        if share < 0.1 or time.monotonic() >= deadline:
            return share
        print(f"  machine {share:.0%} busy with other work; waiting …", flush=True)


def _children_usage() -> tuple[float, int]:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss  # maxrss in KiB on Linux


async def _streamforge(source: Path, out_dir: Path) -> dict[str, Any]:
    """The app's path: probe in the sandbox, plan as plan_transcode does, transcode."""
    from streamforge_x264 import X264Encoder

    from streamforge.config import load_settings
    from streamforge.library.transcoding import build_plan, configured_rungs, limits_from
    from streamforge.media import ladder, sandbox

    settings = load_settings(None, environ={})
    threads = os.environ.get(THREADS_ENV)
    # the plugin's default config (preset veryfast), unless --x264-threads overrides it
    encoder = X264Encoder(X264Encoder.Config(threads=int(threads)) if threads else None)
    limits = limits_from(settings)
    t0 = time.perf_counter()
    probe = await sandbox.probe(str(source), limits)
    t_probe = time.perf_counter() - t0
    rungs, frame_rate = ladder.plan_ladder(
        probe, configured_rungs(settings), max_frame_rate=settings.transcode.max_frame_rate
    )
    plan = build_plan(settings, rungs, frame_rate, source, out_dir, encoder)
    result = await sandbox.transcode(plan)
    for rel in (result.master_playlist, result.manifest, result.thumbnails_vtt, result.poster):
        if rel is None or not (out_dir / rel).is_file():
            raise SystemExit(f"StreamForge did not produce {rel}")
    return {
        "probe_seconds": round(t_probe, 3),
        "rungs": [
            {"name": r.name, "width": r.width, "height": r.height, "playlist": r.playlist}
            for r in result.renditions
        ],
        "files": len(result.files),
    }


def measure(name: str, source: Path, out_dir: Path) -> dict[str, Any]:
    """Run one contender in this (fresh) process; CPU and RSS are its children's."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    cpu0, _ = _children_usage()
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    busy0 = system_busy_seconds()
    started = time.perf_counter()
    extra: dict[str, Any]
    if name == "streamforge":
        extra = asyncio.run(_streamforge(source, out_dir))
    else:
        subprocess.run(["bash", str(reference_script()), name, str(source), str(out_dir)],
                       check=True)  # fmt: skip
        extra = {
            "rungs": [
                {"name": n, "width": w, "height": h, "playlist": f"{n}/index.m3u8"}
                for n, w, h in REFERENCE_RUNGS
            ]
        }
    wall = time.perf_counter() - started
    cpu1, maxrss_kib = _children_usage()
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    own_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    # CPU the rest of the machine used meanwhile: the noise in this measurement.
    foreign = system_busy_seconds() - busy0 - (cpu1 - cpu0) - own_cpu
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu1 - cpu0, 2),
        "wrapper_cpu_s": round(own_cpu, 2),  # StreamForge's parent side (asyncio, pipes)
        "peak_rss_mb": round(maxrss_kib / 1024, 1),
        "foreign_cpu_s": round(max(0.0, foreign), 1),
        **extra,
    }


def run_contender(name: str, source: Path, out_dir: Path) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        report = Path(tmp.name)
    try:
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--measure", name,
             "--source", str(source), "--dir", str(out_dir), "--report", str(report)],
            check=True,
        )  # fmt: skip
        data: dict[str, Any] = json.loads(report.read_text())
        return data
    finally:
        report.unlink(missing_ok=True)


# --------------------------------------------------------------------------- quality

PSNR_AVERAGE = re.compile(r"PSNR .*?average:(inf|[0-9.]+)")


def psnr(rendition: Path, source: Path, width: int, height: int) -> float:
    """Average PSNR (all planes) of ``rendition`` against ``source`` scaled to its size."""
    graph = (
        f"[1:v]scale={width}:{height},setpts=PTS-STARTPTS[ref];"
        "[0:v]setpts=PTS-STARTPTS[dist];[dist][ref]psnr"
    )
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(rendition), "-i", str(source),
         "-lavfi", graph, "-an", "-f", "null", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    found = PSNR_AVERAGE.findall(proc.stderr)
    if proc.returncode != 0 or not found:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"PSNR of {rendition} failed: {' / '.join(tail)}")
    return float("inf") if found[-1] == "inf" else float(found[-1])


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    ffmpeg_version = subprocess.run(
        ["ffmpeg", "-version"], capture_output=True, text=True
    ).stdout.split("\n", 1)[0]
    import av

    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pyav": av.__version__,
        "pyav_ffmpeg": ".".join(str(v) for v in av.library_versions["libavcodec"]),
        "ffmpeg_cli": ffmpeg_version,
    }


def summarize(runs: list[dict[str, Any]], duration: float) -> dict[str, Any]:
    wall = statistics.median(r["wall_s"] for r in runs)
    return {
        "wall_s": round(wall, 2),
        "x_realtime": round(duration / wall, 3),
        "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 1),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "foreign_cpu_s": round(statistics.median(r["foreign_cpu_s"] for r in runs), 1),
        "runs": runs,
    }


def table(results: dict[str, Any]) -> str:
    rung_names = [n for n, _w, _h in REFERENCE_RUNGS]
    head = (
        "| contender | wall s | × realtime | CPU s | peak RSS MB | other load CPU s | "
        + " | ".join(f"PSNR {n} dB" for n in rung_names)
        + " |"
    )
    lines = [head, "|" + "---|" * (6 + len(rung_names))]
    for name in CONTENDERS:
        r = results["contenders"].get(name)
        if r is None:
            continue
        cells = [f"{r['psnr'].get(n, float('nan')):.2f}" for n in rung_names]
        lines.append(
            f"| {LABELS[name]} | {r['wall_s']:.1f} | {r['x_realtime']:.2f} | {r['cpu_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {r.get('foreign_cpu_s', float('nan')):.1f} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    c = results["contenders"]
    if not all(name in c for name in CONTENDERS):
        return []
    sf, per_rung, split = c["streamforge"], c["per-rung"], c["split"]
    checks = [
        {
            "target": "StreamForge at least as fast as (b) split",
            "measured": f"{sf['wall_s']:.1f} s vs {split['wall_s']:.1f} s "
            f"({split['wall_s'] / sf['wall_s']:.3f}×)",
            "ok": sf["wall_s"] <= split["wall_s"],
        },
        {
            "target": f"StreamForge ≥ {MIN_SPEEDUP_VS_PER_RUNG}× faster than (a) per-rung",
            "measured": f"{per_rung['wall_s'] / sf['wall_s']:.2f}×",
            "ok": per_rung["wall_s"] / sf["wall_s"] >= MIN_SPEEDUP_VS_PER_RUNG,
        },
        {
            "target": f"StreamForge peak RSS < {MAX_RSS_MB:.0f} MB",
            "measured": f"{sf['peak_rss_mb']:.0f} MB",
            "ok": sf["peak_rss_mb"] < MAX_RSS_MB,
        },
    ]
    for name, _w, _h in REFERENCE_RUNGS:
        ours, ref = sf["psnr"].get(name), split["psnr"].get(name)
        ok = ours is not None and ref is not None and ours >= ref - MAX_PSNR_LOSS_DB
        delta = "missing" if ours is None or ref is None else f"{ours - ref:+.2f} dB"
        checks.append({
            "target": f"PSNR {name} not more than {MAX_PSNR_LOSS_DB} dB below (b)",
            "measured": f"{ours} vs {ref} ({delta})",
            "ok": ok,
        })  # fmt: skip
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=60, help="source length (default 60)")
    parser.add_argument("--runs", type=int, default=1, help="runs per contender; median wall")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "streamforge-bench",
        help="work and results folder; the source is cached here",
    )
    parser.add_argument(
        "--only",
        choices=CONTENDERS,
        action="append",
        help="run only these contenders; the others are taken from the previous "
        "results.json in --out (same --seconds), if any",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=120.0,
        metavar="S",
        help="before each contender, wait up to S s for other work to stop (0: never)",
    )
    parser.add_argument("--no-psnr", action="store_true", help="skip the PSNR measurements")
    parser.add_argument(
        "--x264-threads",
        type=int,
        metavar="N",
        help="x264 threads per rung for StreamForge (default: the plugin's default)",
    )
    # internal: one contender in a fresh process
    parser.add_argument("--measure", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure:
        data = measure(args.measure, args.source, args.dir)
        args.report.write_text(json.dumps(data))
        return 0

    need_ffmpeg()
    if args.x264_threads is not None:
        os.environ[THREADS_ENV] = str(args.x264_threads)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    source = make_source(out, args.seconds)
    duration = media_duration(source)
    selected = args.only or list(CONTENDERS)

    previous: dict[str, Any] = {}
    results_file = out / "results.json"
    if args.only and results_file.is_file():
        old = json.loads(results_file.read_text())
        if old.get("source_seconds") == duration:
            previous = old.get("contenders", {})

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in selected}
    for i in range(args.runs):
        for name in CONTENDERS:
            if name not in selected:
                continue
            print(f"run {i + 1}/{args.runs}: {name} …", flush=True)
            if args.wait_idle > 0:
                wait_for_idle(args.wait_idle)
            r = run_contender(name, source, out / name)
            print(
                f"  {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
                f"{r['peak_rss_mb']:.0f} MB peak RSS, "
                f"{r['foreign_cpu_s']:.1f} s CPU used by other processes meanwhile",
                flush=True,
            )
            runs[name].append(r)

    contenders: dict[str, Any] = {}
    for name in CONTENDERS:
        if name in runs:
            summary = summarize(runs[name], duration)
            summary["psnr"] = {}
            if not args.no_psnr:
                for rung in runs[name][-1]["rungs"]:
                    print(f"PSNR {name} {rung['name']} …", flush=True)
                    playlist = out / name / rung["playlist"]
                    value = psnr(playlist, source, rung["width"], rung["height"])
                    summary["psnr"][rung["name"]] = round(value, 3)
            contenders[name] = summary
        elif name in previous:
            contenders[name] = {**previous[name], "reused": True}

    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python tests/bench/transcode.py " + " ".join(sys.argv[1:]),
        "source_seconds": duration,
        "machine": machine(),
        "contenders": contenders,
    }
    results["targets"] = check_targets(results)
    results_file.write_text(json.dumps(results, indent=2))

    m = results["machine"]
    print()
    print(f"{m['cores']} cores, {m['cpu_model']}; source {duration:.1f} s 1080p30; "
          f"runs {args.runs}; {results['date']}")  # fmt: skip
    print()
    print(table(results))
    print()
    failed = 0
    for check in results["targets"]:
        failed += not check["ok"]
        print(f"{'PASS' if check['ok'] else 'FAIL'}  {check['target']}: {check['measured']}")
    if not results["targets"]:
        print("(targets not checked: not every contender has a result)")
    print(f"\nresults: {results_file}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
