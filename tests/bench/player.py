"""Player benchmark: time to first frame, seek time and manual quality-switch time of the
default theme's player in headless Chromium, against ``streamforge serve`` on loopback.

Run it by hand (it is not a pytest test and does not run in CI)::

    python tests/bench/player.py [--runs 7] [--out DIR]

The video is the player tests' (``tests/browser/player_media.py``: 40 s, 640×360 at
10 fps, rungs 144p/240p/360p, 4-s segments), transcoded once into ``--out`` (default
``$TMPDIR/streamforge-bench-player``) and reused. Each run opens the video page in a fresh
browser context (empty HTTP cache and storage: a first visit) and, for "warm", a second
page in the same context (modules cached, bandwidth remembered: a returning viewer). Then,
on the warm page, once the video plays past 1 s:

- **first frame**: navigation start to the first frame presented
  (``requestVideoFrameCallback``), and to the ``playing`` event;
- **seek**: a click on the seek bar at 75 % (30 s, not buffered) to the first frame
  presented after ``seeked``;
- **switch**: a click on the lowest rung in the quality menu (while the top rung plays) to
  the first frame of the new size (the video's ``resize`` event); the player replaces what
  is buffered after the segment playing, so this is at most one segment (4 s) by design,
  and about half a segment on average.

The table shows the median and the worst of ``--runs`` runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from playwright.sync_api import sync_playwright  # noqa: E402

import tests.conftest  # noqa: E402, F401  (first: tests.chromium is imported through it)
from tests.browser.player_media import PlayerMedia, serve_copy  # noqa: E402
from tests.chromium import ARGS, CHROMIUM  # noqa: E402

TIMEOUT = 60_000
TARGETS = {"first frame (cold)": 500, "first frame (warm)": 500, "seek": 300}
MARKS = """
window.__bench = {};
document.addEventListener("playing", () => { window.__bench.playing ??= performance.now(); }, true);
"""
FIRST_FRAME = "() => window.streamforgePlayer && window.streamforgePlayer.metrics.firstFrame"
SEEK = """() => {
  const v = document.querySelector("video");
  const marks = (window.__bench.seek = {});
  document.querySelector(".sf-seek").addEventListener("pointerup", () => {
    marks.released = performance.now();
  }, { capture: true, once: true });
  v.addEventListener("seeked", () => {
    v.requestVideoFrameCallback((now) => { marks.frame = now; });
  }, { once: true });
}"""
SWITCH = """(height) => {
  const v = document.querySelector("video");
  const marks = (window.__bench.switch = {});
  document.querySelector(".sf-quality-menu").addEventListener("pointerup", () => {
    marks.clicked = performance.now();
    marks.at = v.currentTime;
  }, { capture: true, once: true });
  const onResize = () => {
    if (v.videoHeight !== height) return;
    v.removeEventListener("resize", onResize);
    marks.shown = performance.now();
  };
  v.addEventListener("resize", onResize);
}"""


def first_frame(page: Any, url: str) -> tuple[float, float]:
    """Open ``url``; ms from navigation to the first frame and to ``playing``."""
    page.goto(url)
    page.wait_for_function(FIRST_FRAME, timeout=TIMEOUT)
    page.wait_for_function("() => window.__bench.playing", timeout=TIMEOUT)
    frame: float = page.evaluate(FIRST_FRAME)
    playing: float = page.evaluate("window.__bench.playing")
    return frame, playing


def seek(page: Any, fraction: float) -> float:
    """Click the seek bar at ``fraction``; ms from the release to the next frame shown."""
    page.evaluate(SEEK)
    bar = page.locator(".sf-seek").bounding_box()
    page.mouse.click(bar["x"] + fraction * bar["width"], bar["y"] + bar["height"] / 2)
    page.wait_for_function("() => window.__bench.seek.frame", timeout=TIMEOUT)
    marks = page.evaluate("window.__bench.seek")
    return float(marks["frame"] - marks["released"])


def switch(page: Any, media: PlayerMedia) -> tuple[float, float]:
    """Pick the lowest rung by hand; ms from the click to the first frame of its size, and
    ms of playback left in the segment playing at the click."""
    lowest = media.rungs[0]
    page.evaluate(SWITCH, media.rendition(lowest)["height"])
    page.click(".sf-quality-button")
    page.get_by_role("menuitemradio", name=lowest, exact=True).click()
    page.wait_for_function("() => window.__bench.switch.shown", timeout=TIMEOUT)
    marks = page.evaluate("window.__bench.switch")
    step = media.manifest["segment_duration"]
    left = (marks["at"] // step + 1) * step - marks["at"]
    return float(marks["shown"] - marks["clicked"]), left * 1000


def one_run(browser: Any, media: PlayerMedia, offset: float) -> dict[str, float]:
    """One run; the quality switch is clicked ``offset`` s after the seek target (30 s)."""
    top = media.rendition(media.rungs[-1])
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_init_script(MARKS)
    # no resuming from the previous page of the run: every page starts at 0
    context.add_init_script("localStorage.removeItem('streamforge.player.positions')")
    try:
        cold = context.new_page()
        cold_frame, cold_playing = first_frame(cold, media.page_url)
        cold.close()
        page = context.new_page()
        warm_frame, warm_playing = first_frame(page, media.page_url)
        page.wait_for_function(
            """(height) => { const v = document.querySelector("video");
                             return v.currentTime > 1 && v.videoHeight === height; }""",
            arg=top["height"],
            timeout=TIMEOUT,
        )
        seek_ms = seek(page, 0.75)
        page.wait_for_function(
            "(t) => document.querySelector('video').currentTime > t",
            arg=30 + offset,
            timeout=TIMEOUT,
        )
        switch_ms, left_ms = switch(page, media)
        error = page.evaluate("window.streamforgePlayer.error")
        if error:
            raise RuntimeError(f"the player failed: {error}")
        return {
            "first frame (cold)": cold_frame,
            "playing (cold)": cold_playing,
            "first frame (warm)": warm_frame,
            "playing (warm)": warm_playing,
            "seek": seek_ms,
            "switch": switch_ms,
            "segment left at click": left_ms,
        }
    finally:
        context.close()


def report(runs: list[dict[str, float]], segment_ms: float) -> None:
    targets = {**TARGETS, "switch": segment_ms}
    print(f"\n{len(runs)} runs, ms | median | worst | target | met (median)")
    print("|---|--:|--:|--:|---|")
    for name in runs[0]:
        values = [r[name] for r in runs]
        median = statistics.median(values)
        target = targets.get(name)
        met = "" if target is None else ("yes" if median < target else "**no**")
        shown = "" if target is None else f"< {target:.0f}"
        print(f"| {name} | {median:.0f} | {max(values):.0f} | {shown} | {met} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "streamforge-bench-player"
    )
    args = parser.parse_args()
    served = Path(tempfile.mkdtemp(prefix="sf-bench-player-"))
    try:
        with serve_copy(args.out, served) as media, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                runs = []
                for n in range(args.runs):
                    # clicks spread over the segment (28-32 s): the switch shows at its end
                    runs.append(one_run(browser, media, offset=(0.1 + 0.3 * n) % 1.9))
                    marks = ", ".join(f"{k} {v:.0f}" for k, v in runs[-1].items())
                    print(f"run {n + 1}: {marks}", flush=True)
            finally:
                browser.close()
    finally:
        shutil.rmtree(served, ignore_errors=True)
    report(runs, media.manifest["segment_duration"] * 1000)


if __name__ == "__main__":
    main()
