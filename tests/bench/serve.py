"""Media serving benchmark: ``/media/<video_id>/…`` segments under wrk, beside nginx.

Run it by hand (it is not a pytest test and does not run in CI)::

    python tests/bench/serve.py [--segments 50] [--segment-mb 2] [--duration 15]

It needs ``wrk`` and ``nginx`` on ``PATH`` (``apt-get install -y -qq nginx-light wrk``).

One temp folder holds a StreamForge data dir with one ready video (put there through
``streamforge.runtime.Runtime`` as ``tests/web/helpers.py`` does, before the server
starts) whose ``hls/360p/`` has ``--segments`` random segments of ``--segment-mb`` MiB.
Contenders, the same files, one after the other in the same run:

``nginx``         nginx serving the storage folder directly (sendfile on, 2 workers)
``streamforge``   ``streamforge serve`` as shipped (Quart under Hypercorn, one process)
``sf+x-accel``    nginx in front of ``streamforge serve`` run with ``[server] sendfile =
                  "x-accel-redirect"``: StreamForge checks the video and answers with
                  headers only, nginx sends the file (skip with ``--no-accel``)

Each is loaded with ``wrk -t2 -c50 -d15s`` and a Lua script cycling through the
segments, twice: whole segments (``full``) and with a ``Range`` header asking for 1 MiB
from the middle of each (``range``, answered 206). Prints a table and the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.bench.upload import cpu_seconds, machine, wait_for_quiet  # noqa: E402
from tests.e2e.cli import free_port, running_server, write_config  # noqa: E402

MIB = 1024 * 1024
VIDEO_ID = "benchvideo01"
RENDITION = "hls/360p/"
#: FACTS.md: Quart's send_file is ~70x slower than nginx; a plain ASGI app ~760 req/s.
UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


# --------------------------------------------------------------------------- setup


def segment_name(i: int) -> str:
    return f"seg_{i:05d}.m4s"


async def _populate(config: Path, count: int, size: int) -> None:
    from streamforge.config import load_settings
    from streamforge.runtime import Runtime
    from tests.web.helpers import add_ready_video

    rt = await Runtime.create(load_settings(config)).open()
    try:
        await add_ready_video(rt, VIDEO_ID, title="Serving benchmark")
        for i in range(count):
            key = f"videos/{VIDEO_ID}/{RENDITION}{segment_name(i)}"
            await rt.storage.put_bytes(key, os.urandom(size))
    finally:
        await rt.close()


def nginx_config(
    folder: Path, media: Path, static_port: int, front_port: int, sf_port: int
) -> Path:
    """nginx serving ``media/videos`` on ``static_port``; on ``front_port`` a proxy to
    StreamForge at ``sf_port`` that serves X-Accel-Redirect answers from ``media``."""
    temp = "\n".join(
        f"  {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""  # the files are 0600, owned by us
    conf = folder / "nginx.conf"
    conf.write_text(f"""
daemon off;
{user}
worker_processes 2;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
  sendfile on;
  tcp_nopush on;
  access_log off;
  default_type application/octet-stream;
  types {{ video/iso.segment m4s; }}
{temp}
  upstream streamforge {{ server 127.0.0.1:{sf_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{static_port};
    root {media / "videos"};
  }}
  server {{
    listen 127.0.0.1:{front_port};
    location /media/ {{
      proxy_pass http://streamforge;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
    }}
    location /internal-media/ {{
      internal;
      alias {media}/;
    }}
  }}
}}
""")
    return conf


@contextmanager
def running_nginx(conf: Path, port: int) -> Any:
    folder = conf.parent
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(folder), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            except urllib.error.HTTPError:
                break  # 403/404: it answers
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(
                        f"nginx did not start: {proc.stderr.read() if proc.stderr else ''}"
                    ) from None
                time.sleep(0.1)
            else:
                break
        yield proc
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --------------------------------------------------------------------------- measuring


def check(url: str, expected: bytes, range_header: str | None) -> None:
    """One request through urllib: the right status and the right bytes."""
    headers = {"Range": range_header} if range_header else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            body, status = r.read(), r.status
    except urllib.error.HTTPError as err:
        body, status = err.read(), err.code
    if range_header:
        first, last = (int(v) for v in range_header.split("=")[1].split("-"))
        want = (206, expected[first : last + 1])
    else:
        want = (200, expected)
    if (status, body) != want:
        raise SystemExit(
            f"{url}: got {status} and {len(body)} bytes, expected {want[0]} "
            f"and {len(want[1])} matching bytes"
        )


def lua_script(folder: Path, prefix: str, count: int) -> Path:
    path = folder / f"cycle-{abs(hash(prefix))}.lua"
    path.write_text(f"""
local n = 0
request = function()
  local path = string.format("{prefix}seg_%05d.m4s", n % {count})
  n = n + 1
  return wrk.format("GET", path)
end
""")
    return path


def _amount(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([KMGT]?B)", text.strip())
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * UNITS[m.group(2)]


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[m.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    result: dict[str, Any] = {"non_2xx": 0, "socket_errors": 0}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            result["req_s"] = float(line.split()[1])
        elif line.startswith("Transfer/sec:"):
            result["mib_s"] = _amount(line.split()[1]) / MIB
        elif line.startswith("Latency"):
            parts = line.split()
            result["latency_avg_ms"] = _ms(parts[1])
            result["latency_max_ms"] = _ms(parts[3])
        elif line.startswith("Non-2xx or 3xx responses:"):
            result["non_2xx"] = int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            result["socket_errors"] = sum(int(v) for v in re.findall(r"\d+", line))
        elif "requests in" in line:
            result["requests"] = int(line.split()[0])
    return result


def run_wrk(
    base: str, script: Path, args: argparse.Namespace, range_header: str | None, pid: int | None
) -> dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    if range_header:
        cmd += ["-H", f"Range: {range_header}"]
    if args.warmup > 0:
        subprocess.run([*cmd, f"-d{args.warmup}s", base], capture_output=True, check=True)
    cpu0 = cpu_seconds(pid) if pid else 0.0
    t0 = time.monotonic()
    out = subprocess.run(
        [*cmd, f"-d{args.duration}s", base], capture_output=True, text=True, check=True
    ).stdout
    result = parse_wrk(out)
    if pid:
        result["server_cpu_pct"] = 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    result["command"] = " ".join([*cmd, f"-d{args.duration}s", base])
    return result


# --------------------------------------------------------------------------- report


def table(results: dict[str, Any]) -> str:
    rows = results["runs"]
    nginx = {r["scenario"]: r for r in rows if r["contender"] == "nginx"}
    lines = [
        "| contender | request | req/s | MiB/s | avg latency | vs nginx | server CPU | errors |",
        "|-----------|---------|------:|------:|------------:|---------:|-----------:|-------:|",
    ]
    for r in rows:
        ref = nginx.get(r["scenario"])
        ratio = f"1/{ref['req_s'] / r['req_s']:.1f}" if ref and r["req_s"] else "-"
        if r["contender"] == "nginx":
            ratio = "1"
        cpu = f"{r['server_cpu_pct']:.0f} %" if "server_cpu_pct" in r else "-"
        lines.append(
            f"| {r['contender']} | {r['scenario']} | {r['req_s']:,.0f} | {r['mib_s']:,.0f} | "
            f"{r['latency_avg_ms']:.1f} ms | {ratio} | {cpu} | "
            f"{r['non_2xx'] + r['socket_errors']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--segment-mb", type=float, default=2.0, help="segment size, MiB")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk before each run")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c")
    parser.add_argument("--no-accel", action="store_true", help="skip nginx + X-Accel-Redirect")
    parser.add_argument("--no-range", action="store_true", help="skip the Range variant")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=1200,
        help="seconds to wait for other benchmarks (ffmpeg, transcode.py) to end; 0: don't",
    )
    args = parser.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install -y -qq nginx-light wrk")
    size = int(args.segment_mb * MIB)
    half = size // 2
    range_header = f"bytes={half // 2}-{half // 2 + half - 1}"  # the middle half
    scenarios = [("full", None)] + ([] if args.no_range else [("range", range_header)])

    folder = Path(tempfile.mkdtemp(prefix="streamforge-bench-serve-"))
    results: dict[str, Any] = {
        "machine": machine(),
        "segments": args.segments,
        "segment_bytes": size,
        "range": range_header,
        "runs": [],
    }
    try:
        sf_port, static_port, front_port = free_port(), free_port(), free_port()
        plain = write_config(folder, port=sf_port)
        accel_dir = folder / "accel"
        accel_dir.mkdir()
        accel = write_config(accel_dir, port=sf_port)
        text = accel.read_text().replace(
            f'data_dir = "{accel_dir / "data"}"',
            f'data_dir = "{folder / "data"}"\nsendfile = "x-accel-redirect"',
        )
        accel.write_text(text)
        asyncio.run(_populate(plain, args.segments, size))
        media = folder / "data" / "media"
        first = (media / "videos" / VIDEO_ID / RENDITION / segment_name(0)).read_bytes()
        conf = nginx_config(folder, media, static_port, front_port, sf_port)
        if args.wait_idle > 0:
            wait_for_quiet(args.wait_idle)

        sf_prefix = f"/media/{VIDEO_ID}/{RENDITION}"
        contenders = [
            ("nginx", None, static_port, f"/{VIDEO_ID}/{RENDITION}"),
            ("streamforge", plain, sf_port, sf_prefix),
        ]
        if not args.no_accel:
            contenders.append(("sf+x-accel", accel, front_port, sf_prefix))
        with running_nginx(conf, static_port):
            for name, config, port, prefix in contenders:
                with ExitStack() as stack:
                    pid = None
                    if config is not None:
                        server = stack.enter_context(running_server(config))
                        pid = server.proc.pid
                    base = f"http://127.0.0.1:{port}"
                    script = lua_script(folder, prefix, args.segments)
                    for scenario, header in scenarios:
                        check(base + prefix + segment_name(0), first, header)
                        print(f"{name} {scenario}: wrk {args.duration} s …", flush=True)
                        run = run_wrk(base, script, args, header, pid)
                        results["runs"].append({"contender": name, "scenario": scenario, **run})
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    print()
    print(table(results))
    print()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
