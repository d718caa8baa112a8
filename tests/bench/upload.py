"""Upload benchmark: a large tus upload to a real ``streamforge serve`` over loopback.

Run it by hand (it is not a pytest test and does not run in CI)::

    python tests/bench/upload.py [--size-mb 2048] [--chunk-mb 10] [--keep]

What it does, in one temp folder (so the file, the server's data dir and the ``dd``
output share one disk):

1. writes a file of ``--size-mb`` MiB (64 MiB of ``os.urandom`` repeated), hashing it;
2. times ``dd if=FILE of=OUT bs=10M conv=fsync`` (the disk's copy speed, the baseline);
3. starts ``streamforge serve`` (the e2e helpers of ``tests/e2e/cli.py``) and uploads
   the file with tuspy in ``--chunk-mb`` PATCH requests, while a thread samples the
   VmRSS of the server and of any child it starts every 50 ms (VmHWM is read at the end);
4. times ``dd`` once more (the faster of the two runs is the baseline: the stricter one);
5. stops the server and checks that the stored source's sha256 equals the file's.

Prints a table and the JSON of the results, and PASS/FAIL for the targets: upload
throughput at least 50 % of dd's, server RSS under 200 MB. Exit status 1 when one fails.
Needs ``tuspy`` (a dev dependency) and coreutils' ``dd``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e.cli import running_server, write_config  # noqa: E402

MIB = 1024 * 1024
#: Targets of the uploads issue.
MIN_SHARE_OF_DD = 0.5
MAX_SERVER_RSS_MB = 200.0
#: Processes whose presence means another benchmark is using the CPU.
BUSY_PATTERN = "reference_ladder|bench/transcode.py|ffmpeg"


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def wait_for_quiet(limit: float, poll: float = 30.0) -> bool:
    """Wait (up to ``limit`` s) until no other benchmark process runs; True when quiet."""
    deadline = time.monotonic() + limit
    while True:
        found = subprocess.run(
            ["pgrep", "-f", BUSY_PATTERN], capture_output=True, text=True
        ).stdout.split()
        found = [pid for pid in found if int(pid) != os.getpid()]
        if not found:
            return True
        if time.monotonic() >= deadline:
            print(f"  still busy after {limit:.0f} s (pids {', '.join(found)}); measuring anyway")
            return False
        print(f"  other benchmark running (pids {', '.join(found)}); waiting …", flush=True)
        time.sleep(poll)


# --------------------------------------------------------------------------- memory


def _status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (through /proc/<pid>/task/*/children)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as f:
                    kids = [int(v) for v in f.read().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            found += kids
            todo += kids
    return found


class RssSampler(threading.Thread):
    """Samples VmRSS of a process and of its descendants every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.stop_event = threading.Event()
        self.samples = 0
        self.peak_main_kib = 0
        self.peak_children_kib = 0  # largest sum over the children of one sample
        self.peak_tree_kib = 0  # largest sum over the server and its children
        self.children_seen: set[int] = set()
        self.child_hwm_kib: dict[int, int] = {}

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)

    def sample(self) -> None:
        main = _status_kib(self.pid, "VmRSS")
        kids = descendants(self.pid)
        children = 0
        for kid in kids:
            children += _status_kib(kid, "VmRSS")
            hwm = _status_kib(kid, "VmHWM")
            if hwm:
                self.child_hwm_kib[kid] = max(hwm, self.child_hwm_kib.get(kid, 0))
        self.children_seen.update(kids)
        self.samples += 1
        self.peak_main_kib = max(self.peak_main_kib, main)
        self.peak_children_kib = max(self.peak_children_kib, children)
        self.peak_tree_kib = max(self.peak_tree_kib, main + children)

    def stop(self) -> None:
        self.sample()
        self.stop_event.set()
        self.join(5)


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- steps


def make_file(path: Path, size: int) -> str:
    """Write ``size`` bytes (64 MiB of random bytes repeated), fsynced; return its sha256."""
    block = os.urandom(64 * MIB)
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
        f.flush()
        os.fsync(f.fileno())
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def time_dd(source: Path, out: Path) -> float:
    """Wall seconds of ``dd if=source of=out bs=10M conv=fsync``; ``out`` is removed."""
    start = time.perf_counter()
    subprocess.run(
        ["dd", f"if={source}", f"of={out}", "bs=10M", "conv=fsync"],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    out.unlink()
    return seconds


def upload(config: Path, source: Path, chunk: int) -> dict[str, Any]:
    """Start the server, upload ``source`` with tuspy, stop the server; the measurements."""
    from tusclient import client

    with running_server(config) as server:
        pid = server.proc.pid
        sampler = RssSampler(pid)
        idle_rss_kib = _status_kib(pid, "VmRSS")
        cpu0 = cpu_seconds(pid)
        sampler.start()
        start = time.perf_counter()
        uploader = client.TusClient(server.url + "/api/v1/uploads", headers=server.auth).uploader(
            str(source), chunk_size=chunk, metadata={"filename": source.name}
        )
        uploader.upload()
        seconds = time.perf_counter() - start
        sampler.stop()
        server_cpu = cpu_seconds(pid) - cpu0
        hwm_kib = _status_kib(pid, "VmHWM")
        assert uploader.url is not None
        with urllib.request.urlopen(uploader.url, timeout=30) as response:
            status = json.loads(response.read())
    if not status["complete"] or not status["video_id"]:
        raise SystemExit(f"the upload did not complete: {status}")
    return {
        "seconds": seconds,
        "server_pid": pid,
        "server_cpu_s": server_cpu,
        "idle_rss_kib": idle_rss_kib,
        "peak_main_kib": max(sampler.peak_main_kib, hwm_kib),
        "sampled_main_kib": sampler.peak_main_kib,
        "hwm_main_kib": hwm_kib,
        "peak_children_kib": sampler.peak_children_kib,
        "peak_tree_kib": max(sampler.peak_tree_kib, hwm_kib),
        "children": len(sampler.children_seen),
        "child_hwm_kib": max(sampler.child_hwm_kib.values(), default=0),
        "samples": sampler.samples,
        "video_id": status["video_id"],
    }


# --------------------------------------------------------------------------- report


def table(results: dict[str, Any]) -> str:
    r = results
    mb = lambda kib: f"{kib / 1024:.0f} MiB"  # noqa: E731
    rows = [
        ("file", f"{r['size_mib']} MiB, tus chunks of {r['chunk_mib']} MiB"),
        (
            "dd bs=10M conv=fsync",
            f"{r['dd_mib_s']:.0f} MiB/s (runs: "
            + ", ".join(f"{s:.1f} s" for s in r["dd_seconds"])
            + ")",
        ),
        (
            "tus upload (tuspy)",
            f"{r['upload_mib_s']:.0f} MiB/s ({r['upload_seconds']:.1f} s), "
            f"{r['share_of_dd']:.0%} of dd",
        ),
        ("server CPU during upload", f"{r['server_cpu_s']:.1f} s"),
        (
            "server RSS idle / peak",
            f"{mb(r['idle_rss_kib'])} / {mb(r['peak_main_kib'])} (VmHWM {mb(r['hwm_main_kib'])})",
        ),
        ("children", f"{r['children']} seen, peak {mb(r['peak_children_kib'])} together"),
        ("server + children peak", mb(r["peak_tree_kib"])),
        ("sha256 stored == file", "yes" if r["sha256_ok"] else "NO"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'measure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {k:<{width}} | {v} |" for k, v in rows]
    return "\n".join(lines)


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rss_mb = results["peak_tree_kib"] * 1024 / 1e6
    return [
        {
            "target": f"upload throughput >= {MIN_SHARE_OF_DD:.0%} of dd",
            "value": f"{results['share_of_dd']:.0%}",
            "ok": results["share_of_dd"] >= MIN_SHARE_OF_DD,
        },
        {
            "target": f"server RSS (with children) < {MAX_SERVER_RSS_MB:.0f} MB",
            "value": f"{rss_mb:.0f} MB",
            "ok": rss_mb < MAX_SERVER_RSS_MB,
        },
        {"target": "stored source sha256 matches", "value": "", "ok": results["sha256_ok"]},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=2048, help="file size, MiB")
    parser.add_argument("--chunk-mb", type=int, default=10, help="tus PATCH size, MiB")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temp folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=1200,
        help="seconds to wait for other benchmarks (ffmpeg, transcode.py) to end; 0: don't",
    )
    args = parser.parse_args(argv)
    size, chunk = args.size_mb * MIB, args.chunk_mb * MIB

    folder = Path(tempfile.mkdtemp(prefix="streamforge-bench-upload-", dir=args.dir))
    try:
        free = shutil.disk_usage(folder).free
        if free < 3.2 * size:  # the file, the stored source, one dd copy, some slack
            raise SystemExit(
                f"{folder}: {free / MIB:.0f} MiB free, need about {3.2 * size / MIB:.0f}; "
                "pass a smaller --size-mb or another --dir"
            )
        config = write_config(folder)
        data_dir = folder / "data"
        data_dir.mkdir()
        source = folder / "bench-upload.bin"
        if os.stat(folder).st_dev != os.stat(data_dir).st_dev:
            raise SystemExit("the data dir is not on the file's disk")

        print(f"writing {args.size_mb} MiB to {source} …", flush=True)
        file_sha = make_file(source, size)
        if args.wait_idle > 0:
            wait_for_quiet(args.wait_idle)
        print("dd baseline …", flush=True)
        dd = [time_dd(source, folder / "dd.out")]
        print(f"  {size / MIB / dd[0]:.0f} MiB/s; tus upload …", flush=True)
        up = upload(config, source, chunk)
        print(f"  {size / MIB / up['seconds']:.0f} MiB/s; dd again …", flush=True)
        dd.append(time_dd(source, folder / "dd.out"))

        stored = data_dir / "media" / "videos" / up["video_id"] / "source" / source.name
        stored_sha = sha256_of(stored) if stored.is_file() else "missing"
        dd_best = min(dd)
        results = {
            "machine": machine(),
            "size_mib": args.size_mb,
            "chunk_mib": args.chunk_mb,
            "folder": str(folder),
            "dd_seconds": dd,
            "dd_mib_s": size / MIB / dd_best,
            "upload_seconds": up["seconds"],
            "upload_mib_s": size / MIB / up["seconds"],
            "share_of_dd": dd_best / up["seconds"],
            **{k: v for k, v in up.items() if k != "seconds"},
            "sha256_file": file_sha,
            "sha256_stored": stored_sha,
            "sha256_ok": stored_sha == file_sha,
        }
        results["targets"] = check_targets(results)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    print()
    print(table(results))
    print()
    for t in results["targets"]:
        print(f"{'PASS' if t['ok'] else 'FAIL'}  {t['target']}: {t['value']}")
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if all(t["ok"] for t in results["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
