"""The adaptive player of the default theme in real Chromium: MSE playback, quality
choice and switching, seeking, thumbnails, keyboard, memory, failures, native HLS.

One transcoded video (three renditions, 40 s) per session, served by one server per
module and xdist worker (tests/browser/player_media.py). What the player decides is read
from its debug surface (``window.streamforgePlayer``) *and* checked against the segment
requests the page really made.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.player_media import PlayerMedia, serve_copy
from tests.chromium import ARGS, CHROMIUM, screenshot

pytestmark = pytest.mark.slow

WAIT = 90_000  # ms: generous, for a loaded 2-core machine; outcomes are checked strictly
PLAYER_JS = Path(__file__).resolve().parents[2] / "themes/default/static/js/player"
NO_MSE = "delete window.MediaSource; delete window.ManagedMediaSource;"
SEGMENT = re.compile(r"/hls/([^/]+)/seg_(\d+)\.m4s$")
OBSERVE = """
window.__sf = { playing: null, loadeddata: null };
for (const type of ["playing", "loadeddata"]) {
  document.addEventListener(type, () => { window.__sf[type] ??= performance.now(); }, true);
}
"""
STATE = """() => {
  const p = window.streamforgePlayer, v = p.video;
  return { mode: p.mode, rung: p.rung, loading: p.loadingRung, manual: p.manualQuality,
           bandwidth: p.bandwidth, metrics: p.metrics, switches: p.switches, stalls: p.stalls,
           events: p.events.filter((e) => e.type !== "segment"), error: p.error,
           time: v.currentTime, paused: v.paused, height: v.videoHeight, volume: v.volume,
           muted: v.muted, mediaError: v.error && v.error.code };
}"""


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[PlayerMedia]:
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # one build for all workers
    with serve_copy(shared, tmp_path_factory.mktemp("player")) as served:
        assert len(served.rungs) == 3, served.manifest
        yield served


@dataclass
class Fetch:
    at: float  # time.monotonic() when the request went out
    rung: str
    index: int


@dataclass
class Network:
    """Segment requests (and every media URL) the page made."""

    segments: list[Fetch] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> Network:
        page.on("request", self._request)
        return self

    def _request(self, request: Any) -> None:
        path = urlparse(request.url).path
        if "/media/" in path:
            self.urls.append(path)
        m = SEGMENT.search(path)
        if m:
            self.segments.append(Fetch(time.monotonic(), m.group(1), int(m.group(2))))

    def since(self, t: float) -> list[Fetch]:
        return [f for f in self.segments if f.at >= t]


def seed(key: str, value: Any) -> str:
    """An init script storing ``value`` under the player's localStorage ``key``."""
    stored = json.dumps(json.dumps(value))
    return f"try {{ localStorage.setItem('streamforge.player.{key}', {stored}); }} catch (e) {{}}"


def open_player(
    context: Any,
    media: PlayerMedia,
    *,
    width: int = 1280,
    height: int = 800,
    bandwidth: int | None = None,
    init_script: str | None = None,
) -> tuple[Any, Network]:
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.add_init_script(OBSERVE)
    if bandwidth is not None:
        page.add_init_script(seed("bandwidth", {"bps": bandwidth, "at": 0}))
    if init_script:
        page.add_init_script(init_script)
    network = Network().watch(page)
    page.goto(media.page_url)
    page.wait_for_function(
        "() => { const p = window.streamforgePlayer; return p && (p.mode || p.failed); }",
        timeout=WAIT,
    )
    return page, network


def state(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(STATE)
    return result


def wait_time(page: Any, past: float) -> None:
    page.wait_for_function(
        f"() => document.querySelector('video').currentTime > {past}", timeout=WAIT
    )


def wait_rung(page: Any, name: str, height: int) -> None:
    """Until the player says ``name`` is on screen and the picture has its height."""
    page.wait_for_function(
        f"""() => {{ const p = window.streamforgePlayer;
                    return p.rung === {json.dumps(name)} && p.video.videoHeight === {height}; }}""",
        timeout=WAIT,
    )


def saved_position_past(t: float) -> str:
    """A wait_for_function body: the position saved in localStorage is past ``t``."""
    return f"""() => {{
      const all = JSON.parse(localStorage.getItem('streamforge.player.positions') || '{{}}');
      const mine = Object.values(all)[0];
      return mine !== undefined && mine.t >= {t}; }}"""


def playback_stalls(st: dict[str, Any]) -> list[dict[str, Any]]:
    """Waits for data after playback first started, not caused by a seek."""
    first = st["metrics"]["playing"]
    return [
        s for s in st["stalls"] if not s["seeking"] and first is not None and s["start"] >= first
    ]


@contextmanager
def chromium(playwright: Any, **options: Any) -> Iterator[Any]:
    """A browser context like tests/chromium.py's ``browser``, with other options."""
    profile = tempfile.mkdtemp(prefix="sf-chromium-")
    context = playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=ARGS, **options
    )
    try:
        yield context
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------- playback


def test_plays_over_mse_and_measures_the_first_frame(
    browser: Any, media: PlayerMedia, record_property: Any
) -> None:
    page, network = open_player(browser, media)
    wait_time(page, 2.0)
    st = state(page)
    assert st["mode"] == "mse"
    assert st["error"] is None
    assert st["mediaError"] is None
    assert page.locator(".sf-error").is_hidden()
    # init + the first segment first; the manifest and segments by our own fetches
    first = network.segments[0]
    assert first.index == 0
    assert any(u.endswith(f"/hls/{first.rung}/init.mp4") for u in network.urls)
    # the preview track waits for the first frame: it does not compete with the start
    first_segment = network.urls.index(f"/media/{media.video_id}/hls/{first.rung}/seg_00000.m4s")
    assert network.urls.index(f"/media/{media.video_id}/thumbs/thumbnails.vtt") > first_segment
    first_frame = st["metrics"]["firstFrame"]
    playing = page.evaluate("window.__sf.playing")
    assert first_frame is not None
    assert playing is not None
    assert 0 < first_frame < 30_000
    assert 0 < playing < 30_000
    print(f"\nfirst frame {first_frame:.0f} ms, 'playing' {playing:.0f} ms after navigation")
    record_property("first_frame_ms", round(first_frame))
    record_property("playing_ms", round(playing))
    # the bar shows what is buffered, the slider where we are
    assert page.locator(".sf-buffered .sf-range").count() >= 1
    width = page.eval_on_selector(".sf-buffered .sf-range", "r => parseFloat(r.style.width)")
    assert width > 5  # at least the first segments of 40 s
    now = page.get_attribute(".sf-seek", "aria-valuenow")
    assert now is not None
    assert int(now) >= 2
    assert page.get_attribute(".sf-seek", "aria-valuemax") == "40"


def test_narrow_viewport_starts_on_the_lowest_rung(browser: Any, media: PlayerMedia) -> None:
    lowest = media.rungs[0]
    page, network = open_player(browser, media, width=400, height=800)
    wait_time(page, 2.0)
    assert network.segments[0].rung == lowest
    assert network.segments[0].index == 0
    # the link is fast (loopback), so only the size holds it down
    assert {f.rung for f in network.segments} == {lowest}
    st = state(page)
    assert st["rung"] == lowest
    assert st["height"] == media.rendition(lowest)["height"]
    assert st["bandwidth"] > 3 * media.rendition(media.rungs[-1])["bandwidth"]
    # every control fits in the narrow player
    box = page.locator(".sf-player").bounding_box()
    for control in page.locator(".sf-bar > :not([hidden])").all():
        b = control.bounding_box()
        assert b is not None
        assert b["x"] >= box["x"] - 1
        assert b["x"] + b["width"] <= box["x"] + box["width"] + 1, control.get_attribute("class")


def test_phone_at_2x_takes_a_sharper_rung_and_works_by_touch(
    playwright: Any, media: PlayerMedia
) -> None:
    # 360 CSS px × devicePixelRatio 2 = 720 device px: the 640×360 rung fits
    top = media.rungs[-1]
    with chromium(
        playwright,
        viewport={"width": 400, "height": 800},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ) as context:
        page, network = open_player(context, media, width=400, height=800)
        wait_time(page, 1.0)
        assert network.segments[0].rung == top
        # while it plays untouched the controls hide; a tap on the picture brings them
        # back without pausing, then the (real, labelled) buttons take taps
        page.wait_for_selector(".sf-player.sf-idle", timeout=WAIT)
        assert page.locator(".sf-play").is_hidden()
        page.tap("video")
        page.wait_for_selector(".sf-player:not(.sf-idle)", timeout=WAIT)
        assert page.evaluate("document.querySelector('video').paused") is False
        page.tap(".sf-play")
        page.wait_for_function("() => document.querySelector('video').paused", timeout=WAIT)
        box = page.locator(".sf-seek").bounding_box()
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function(
            "() => Math.abs(document.querySelector('video').currentTime - 20) < 1", timeout=WAIT
        )
        page.tap(".sf-play")
        wait_time(page, 20.5)
        assert state(page)["error"] is None


def test_wide_viewport_climbs_to_the_top_rung(browser: Any, media: PlayerMedia) -> None:
    lowest, top = media.rungs[0], media.rungs[-1]
    # a slow link remembered from an earlier visit: start low, then measure and climb
    page, network = open_player(browser, media, width=1920, height=1080, bandwidth=50_000)
    wait_rung(page, top, media.rendition(top)["height"])
    assert network.segments[0].rung == lowest
    assert any(f.rung == top for f in network.segments)
    st = state(page)
    assert st["switches"][0]["to"] == lowest
    assert st["switches"][0]["reason"] == "start"
    assert any(s["to"] == top and s["reason"] == "bandwidth" for s in st["switches"])
    remembered = page.evaluate("JSON.parse(localStorage.getItem('streamforge.player.bandwidth'))")
    assert remembered["bps"] > media.rendition(top)["bandwidth"]


def test_throttled_link_comes_down_without_long_stalls(browser: Any, media: PlayerMedia) -> None:
    lowest, top = media.rungs[0], media.rungs[-1]
    page, network = open_player(browser, media, width=1920, height=1080, bandwidth=20_000_000)
    wait_rung(page, top, media.rendition(top)["height"])
    cdp = browser.new_cdp_session(page)
    cdp.send("Network.enable")
    # room for the lowest rung only
    throughput = 1.3 * media.rendition(lowest)["bandwidth"] / 8
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 40, "downloadThroughput": throughput, "uploadThroughput": -1},
    )
    throttled_at = time.monotonic()
    page.wait_for_function(
        f"() => window.streamforgePlayer.loadingRung === {json.dumps(lowest)}", timeout=WAIT
    )
    wait_rung(page, lowest, media.rendition(lowest)["height"])
    after = network.since(throttled_at)
    assert any(f.rung == lowest for f in after)
    st = state(page)
    downs = [s for s in st["switches"] if s["auto"] and s["time"] > 0 and s["to"] != top]
    assert downs, st["switches"]
    assert st["error"] is None
    segment_ms = media.manifest["segment_duration"] * 1000
    long_stalls = [s for s in playback_stalls(st) if s["duration"] >= segment_ms]
    assert long_stalls == [], st["stalls"]


def test_quality_menu_switches_without_reload_and_keeps_position(
    browser: Any, media: PlayerMedia, record_property: Any
) -> None:
    lowest, top = media.rungs[0], media.rungs[-1]
    page, network = open_player(browser, media, width=1920, height=1080, bandwidth=20_000_000)
    wait_rung(page, top, media.rendition(top)["height"])
    wait_time(page, 1.0)
    page.evaluate("window.__sameDocument = true")
    page.click(".sf-quality-button")
    menu = page.locator(".sf-quality-menu")
    menu.wait_for(state="visible")
    items = [i.strip() for i in menu.locator("[role=menuitemradio]").all_inner_texts()]
    assert items[0].startswith("Auto")
    assert items[1:] == list(reversed(media.rungs))
    screenshot(page, "video-playing-menu-default")

    before = page.evaluate("document.querySelector('video').currentTime")
    clicked = time.monotonic()
    page.get_by_role("menuitemradio", name=lowest, exact=True).click()
    playing_segment = math.floor(before / media.manifest["segment_duration"])
    wait_rung(page, lowest, media.rendition(lowest)["height"])
    took = time.monotonic() - clicked
    print(f"\nmanual switch visible after {took * 1000:.0f} ms")
    record_property("manual_switch_ms", round(took * 1000))

    after = network.since(clicked)
    assert after
    assert {f.rung for f in after} == {lowest}
    # the segment playing at the click stays; the new rung comes right after it
    assert after[0].index in (playing_segment + 1, playing_segment + 2), (before, after[0])
    st = state(page)
    assert st["time"] >= before
    change = next(e for e in reversed(st["events"]) if e["type"] == "rungchange")
    assert change["to"] == lowest
    assert change["time"] >= before
    assert page.evaluate("window.__sameDocument") is True
    reloads = [e for e in st["events"] if e["type"] in ("emptied", "loadstart") and e["at"] > 0]
    assert all(e["time"] == 0 for e in reloads), reloads  # only the start-up ones
    assert st["switches"][-1]["to"] == lowest
    assert st["switches"][-1]["reason"] == "manual"
    assert st["manual"] == lowest
    assert page.inner_text(".sf-quality-button") == lowest
    segment_ms = media.manifest["segment_duration"] * 1000
    assert all(s["duration"] < segment_ms for s in playback_stalls(st)), st["stalls"]
    wait_time(page, st["time"] + 1)  # still playing

    page.click(".sf-quality-button")
    page.get_by_role("menuitemradio", name=re.compile("^Auto")).click()
    assert state(page)["manual"] is None


def test_seek_to_75_percent_and_thumbnail_preview(
    browser: Any, media: PlayerMedia, record_property: Any
) -> None:
    page, network = open_player(browser, media)
    wait_time(page, 1.0)
    page.evaluate(
        """() => {
          const v = document.querySelector("video");
          window.__seek = {};
          const released = () => { window.__seek.released = performance.now(); };
          document.querySelector(".sf-seek").addEventListener(
            "pointerup", released, { capture: true, once: true });
          v.addEventListener("seeked", () => {
            window.__seek.seeked = performance.now();
            v.requestVideoFrameCallback((now) => { window.__seek.frame = now; });
          }, { once: true });
        }"""
    )
    bar = page.locator(".sf-seek").bounding_box()
    y = bar["y"] + bar["height"] / 2
    clicked = time.monotonic()
    page.mouse.click(bar["x"] + 0.75 * bar["width"], y)
    page.wait_for_function(
        "() => window.__seek.frame && document.querySelector('video').currentTime > 30.5",
        timeout=WAIT,
    )
    marks = page.evaluate("window.__seek")
    seek_ms = marks["frame"] - marks["released"]
    print(f"\nseek to 75 %: frame shown {seek_ms:.0f} ms after the click")
    record_property("seek_ms", round(seek_ms))
    assert 0 < seek_ms < 30_000
    st = state(page)
    assert st["error"] is None
    assert 30.0 <= st["time"] < 36
    # it fetched the segment holding 30 s (the 8th) after the click
    assert any(f.index == 7 for f in network.since(clicked))

    for fraction in (0.45, 0.85):  # 18 s and 34 s: inside a 4-s cue, not on an edge
        page.mouse.move(bar["x"] + fraction * bar["width"], y)
        preview = page.locator(".sf-preview")
        preview.wait_for(state="visible")
        t = float(preview.get_attribute("data-time") or "nan")
        assert abs(t - fraction * 40) < 0.5
        cue = media.cue_at(t)
        image = page.locator(".sf-preview-image")
        style = image.evaluate(
            """(el) => { const s = getComputedStyle(el);
                         return { image: s.backgroundImage, position: s.backgroundPosition,
                                  width: s.width, height: s.height }; }"""
        )
        assert style["image"].endswith(f'/media/{media.video_id}/thumbs/{cue.file}")')
        assert style["position"] == f"{-cue.x}px {-cue.y}px"
        assert (style["width"], style["height"]) == (f"{cue.w}px", f"{cue.h}px")
    page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] - 200)
    page.locator(".sf-preview").wait_for(state="hidden")


def test_player_modules_are_content_addressed(browser: Any, media: PlayerMedia) -> None:
    """Every module, imported by relative URL, is fetched once by its hashed URL (the
    import map), so a browser cannot mix modules of two versions after an upgrade."""
    page = browser.new_page()
    fetched: dict[str, list[Any]] = {}

    def response(r: Any) -> None:
        path = urlparse(r.url).path
        if path.startswith("/static/js/player/"):
            fetched.setdefault(path.rsplit("/", 1)[1], []).append(r)

    page.on("response", response)
    page.add_init_script(
        """window.__csp = [];
           document.addEventListener("securitypolicyviolation",
                                     (e) => window.__csp.push(e.violatedDirective));"""
    )
    page.goto(media.page_url)
    wait_time(page, 0.5)
    assert page.evaluate("window.__csp") == []  # the inline import map is allowed by its hash
    on_disk = {p.name for p in PLAYER_JS.glob("*.js")}
    assert set(fetched) == on_disk  # every module in the map (and no stray URL)
    for name, responses in fetched.items():
        assert len(responses) == 1, (name, [r.url for r in responses])
        response = responses[0]
        version = parse_qs(urlparse(response.url).query).get("v", [""])[0]
        assert version == hashlib.sha256(response.body()).hexdigest()[:12], name
        assert "immutable" in response.headers["cache-control"], name


# --------------------------------------------------------------------------- controls


def test_keyboard_shortcuts_and_fullscreen(browser: Any, media: PlayerMedia) -> None:
    page, _ = open_player(browser, media)
    wait_time(page, 0.5)
    video = "document.querySelector('video')"

    def at(t: float) -> None:
        page.wait_for_function(f"() => Math.abs({video}.currentTime - {t}) < 0.3", timeout=WAIT)

    def paused(flag: bool) -> None:
        page.wait_for_function(f"() => {video}.paused === {json.dumps(flag)}", timeout=WAIT)

    page.keyboard.press("k")
    paused(True)
    page.keyboard.press("k")
    paused(False)
    page.keyboard.press(" ")
    paused(True)
    for digit in range(10):
        page.keyboard.press(str(digit))
        at(digit * 4.0)  # 0–90 % of 40 s
    page.keyboard.press("5")
    at(20)
    for key, t in (("l", 30), ("j", 20), ("ArrowRight", 25), ("ArrowLeft", 20)):
        page.keyboard.press(key)
        at(t)
    assert page.get_attribute(".sf-seek", "aria-valuenow") == "20"
    assert page.get_attribute(".sf-seek", "aria-valuetext") == "0:20 of 0:40"

    assert page.evaluate(f"{video}.volume") == 1
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.evaluate(f"{video}.volume") == pytest.approx(0.9)
    page.keyboard.press("ArrowUp")
    assert page.evaluate(f"{video}.volume") == pytest.approx(0.95)
    page.keyboard.press("m")
    assert page.evaluate(f"{video}.muted") is True
    # labels follow at the (queued) volumechange event
    page.wait_for_selector('.sf-mute[aria-label="Unmute"]', timeout=WAIT)
    page.keyboard.press("m")
    assert page.evaluate(f"{video}.muted") is False

    page.keyboard.press("f")
    page.wait_for_function(
        "() => document.fullscreenElement === document.querySelector('.sf-player')", timeout=WAIT
    )
    # the button follows at the fullscreenchange event (a frame later)
    page.wait_for_selector('.sf-fullscreen-button[aria-label="Exit full screen"]', timeout=WAIT)
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null", timeout=WAIT)

    # typing in a text field is not a shortcut
    page.fill("input[type=search]", "")
    page.type("input[type=search]", "k5")
    assert page.evaluate(f"{video}.paused") is True
    at(20)
    # the controls are real, labelled, focusable elements in a sensible order
    page.focus(".sf-seek")
    page.keyboard.press("ArrowRight")
    at(25)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('sf-play')")
    page.keyboard.press("Enter")
    paused(False)
    for control in page.locator(".sf-controls button:not([hidden])").all():
        name = control.get_attribute("aria-label") or control.inner_text()
        assert name.strip(), control.evaluate("b => b.outerHTML")


def test_resumes_position_and_remembers_volume(browser: Any, media: PlayerMedia) -> None:
    page, network = open_player(browser, media)
    wait_time(page, 0.5)
    page.keyboard.press("5")  # 20 s
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    wait_time(page, 21.0)
    page.wait_for_function(
        saved_position_past(21),
        timeout=WAIT,
    )
    network.segments.clear()
    page.reload()
    page.wait_for_function("() => window.streamforgePlayer && window.streamforgePlayer.mode")
    wait_time(page, 21.0)
    assert network.segments[0].index == 5  # straight to the segment holding 21 s
    st = state(page)
    assert st["volume"] == pytest.approx(0.8)
    assert st["muted"] is False
    assert any(e["type"] == "resume" and e["from"] >= 21 for e in st["events"])

    # near the end: not resumed
    page.keyboard.press("k")
    page.keyboard.press("9")  # 36 s of 40
    page.wait_for_function(
        saved_position_past(35.9),
        timeout=WAIT,
    )
    network.segments.clear()
    page.reload()
    page.wait_for_function("() => window.streamforgePlayer && window.streamforgePlayer.mode")
    wait_time(page, 0.5)
    assert network.segments[0].index == 0
    assert state(page)["time"] < 10


# --------------------------------------------------------------------------- failures


def manifest_without_segment(route: Any) -> None:
    """The real manifest with the second segment of every rung pointing at a 404."""
    response = route.fetch()
    manifest = response.json()
    for r in manifest["renditions"]:
        r["segments"][1]["url"] = f"{r['name']}/seg_99999.m4s"
    route.fulfill(response=response, json=manifest)


BREAKAGES = {
    # what is broken: (route pattern, handler, words the message must contain)
    "manifest": (
        "**/hls/manifest.json",
        lambda route: route.fulfill(status=200, body="{ not json", content_type="application/json"),
        ["manifest", "not valid JSON"],
    ),
    "missing-segment": ("**/hls/manifest.json", manifest_without_segment, ["missing", "404"]),
    "corrupt-segment": (
        "**/seg_00001.m4s",
        lambda route: route.fulfill(status=200, body=b"\x00\x00\x00\x08junk" * 500),
        ["decode"],
    ),
}


@pytest.mark.parametrize("broken", list(BREAKAGES))
def test_broken_media_shows_an_error(browser: Any, media: PlayerMedia, broken: str) -> None:
    pattern, handler, words = BREAKAGES[broken]
    page = browser.new_page()
    page.route(pattern, handler)
    page.goto(media.page_url)
    text = expect_error_overlay(page)
    for word in words:
        assert word in text, text
    assert state(page)["mode"] == "mse"
    screenshot(page, f"video-error-{broken}-default")


def expect_error_overlay(page: Any) -> str:
    """Wait for the player's error message; check it covers the picture; its text."""
    error = page.locator(".sf-error")
    error.wait_for(state="visible", timeout=WAIT)
    text: str = error.inner_text()
    assert "cannot be played" in text
    st = state(page)
    assert st["error"] is not None
    assert st["paused"] is True
    assert error.bounding_box() == page.locator(".sf-player").bounding_box()
    assert page.locator(".sf-controls").is_hidden()  # no controls over a dead picture
    return text


def test_native_hls_when_media_source_is_missing(browser: Any, media: PlayerMedia) -> None:
    page, network = open_player(browser, media, init_script=NO_MSE)
    wait_time(page, 2.0)
    st = state(page)
    assert st["mode"] == "native"
    assert st["error"] is None
    assert st["mediaError"] is None
    assert page.evaluate("typeof window.MediaSource") == "undefined"
    assert f"/media/{media.video_id}/hls/master.m3u8" in network.urls
    assert any(u.endswith("/playlist.m3u8") for u in network.urls)
    assert page.evaluate("document.querySelector('video').currentSrc").endswith("/master.m3u8")


def test_no_media_source_and_no_hls_says_it_cannot_play(browser: Any, media: PlayerMedia) -> None:
    # a browser with neither MSE nor native HLS (Chromium without its HLS player)
    no_hls = """
      const canPlay = HTMLMediaElement.prototype.canPlayType;
      HTMLMediaElement.prototype.canPlayType = function (type) {
        return /mpegurl/i.test(type) ? "" : canPlay.call(this, type);
      };"""
    page, network = open_player(browser, media, init_script=NO_MSE + no_hls)
    text = expect_error_overlay(page)
    assert "neither Media Source Extensions nor HLS" in text
    assert state(page)["mode"] is None
    assert not [u for u in network.urls if u.endswith((".m4s", ".m3u8"))]


def test_native_hls_failure_shows_an_error(browser: Any, media: PlayerMedia) -> None:
    page = browser.new_page()
    page.add_init_script(NO_MSE)
    page.route("**/master.m3u8", lambda route: route.fulfill(status=404, body="gone"))
    page.goto(media.page_url)
    expect_error_overlay(page)
    assert state(page)["mode"] == "native"
