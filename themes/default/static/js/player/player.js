// The player: ties a <video> to an engine (MSE over manifest.json, or native HLS), the
// controls, the keyboard, thumbnails and what is remembered between visits. It is also
// the debug/test surface: window.streamforgePlayer, root.streamforgePlayer and
// video.streamforgePlayer all point at it (see docs/player.md).

import { BandwidthEstimator, sizeCap } from "./abr.js";
import { buildControls } from "./controls.js";
import { bindKeyboard } from "./keyboard.js";
import { loadManifest } from "./manifest.js";
import { MseEngine } from "./mse.js";
import { NativeEngine } from "./native.js";
import * as persist from "./persist.js";
import { loadThumbnails } from "./thumbnails.js";
import { clamp, HttpError } from "./util.js";

const LOG_LIMIT = 1000;
const DEFAULT_BANDWIDTH = 1_000_000;
const HLS_TYPE = "application/vnd.apple.mpegurl";
const MEDIA_ERRORS = {
  1: "playback was aborted",
  2: "a network error interrupted the download",
  3: "the video could not be decoded",
  4: "this browser cannot play this video",
};

/** A sentence for people from whatever went wrong. */
export function describeError(err) {
  if (err instanceof HttpError) {
    return err.status === 404
      ? `a part of the video is missing on the server (HTTP 404)`
      : `the server answered HTTP ${err.status}`;
  }
  if (err && typeof err.code === "number" && MEDIA_ERRORS[err.code]) {
    return MEDIA_ERRORS[err.code] + (err.message ? ` (${err.message})` : "");
  }
  if (err instanceof TypeError) return "the network connection failed";
  return (err && err.message) || String(err);
}

let active = null;

export class Player extends EventTarget {
  constructor(root, options = {}) {
    super();
    const data = root.dataset;
    this.root = root;
    this.options = {
      videoId: data.videoId || null,
      manifestUrl: data.manifestUrl || null,
      hlsUrl: data.hlsUrl || null,
      thumbnailsUrl: data.thumbnailsUrl || null,
      duration: Number(data.duration) || 0,
      autoplay: data.autoplay !== undefined && data.autoplay !== "false",
      forwardSegments: Number(data.forwardSegments) || 3,
      ...options,
    };
    this.video = root.querySelector("video") || root.appendChild(document.createElement("video"));
    /** Everything that happened, oldest first: { type, at (ms since navigation), time, ... }. */
    this.events = [];
    /** Quality decisions: { from, to, reason, auto, at, time }. */
    this.switches = [];
    /** Waits for data: { start, duration (ms), time, seeking }. */
    this.stalls = [];
    this.metrics = { boot: performance.now(), manifest: null, firstFrame: null, playing: null };
    this.failed = false;
    this.error = null;
    this.switchingEngine = false;
    this.manifest = null;
    this.engine = null;
    this.thumbnails = [];
    this.estimator = new BandwidthEstimator({ initial: persist.bandwidth.load() ?? DEFAULT_BANDWIDTH });

    root.classList.add("sf-player");
    root.streamforgePlayer = this;
    this.video.streamforgePlayer = this;
    window.streamforgePlayer = this;
    active = this;
    this.video.controls = false;
    this.video.playsInline = true;
    this.video.removeAttribute("src"); // the no-JS fallback; we attach our own source
    this.ui = buildControls(this);
    this.unbindKeys = bindKeyboard(this, () => active === this);
    root.addEventListener("pointerdown", () => { active = this; });
    this.watch();
    this.restoreVolume();
    this.boot();
  }

  // ------------------------------------------------------------------ start-up

  async boot() {
    const { manifestUrl, hlsUrl, thumbnailsUrl, videoId } = this.options;
    const saved = persist.positions.load(videoId);
    if (thumbnailsUrl) this.loadThumbs(thumbnailsUrl);
    if (typeof window.MediaSource !== "function" || !manifestUrl) {
      this.startNative(persist.resumeTime(saved, this.options.duration || saved?.d), "no MediaSource");
      return;
    }
    const engine = new MseEngine(this, { forwardSegments: this.options.forwardSegments });
    this.engine = engine;
    engine.attach(); // the video gets its source now; the manifest comes in parallel
    this.autoplay();
    let manifest;
    try {
      manifest = await loadManifest(manifestUrl);
    } catch (err) {
      this.fail(err, { what: "manifest" });
      return;
    }
    this.manifest = manifest;
    this.metrics.manifest = performance.now();
    if (!thumbnailsUrl && manifest.thumbnails) this.loadThumbs(manifest.thumbnails);
    const start = persist.resumeTime(saved, manifest.duration);
    const playable = manifest.renditions.filter((r) => window.MediaSource.isTypeSupported(r.mime));
    if (!playable.length) {
      this.switchingEngine = true; // detaching the MediaSource is not a playback error
      engine.destroy();
      this.switchingEngine = false;
      this.startNative(start, "codecs not supported by MediaSource");
      return;
    }
    if (start > 0) this.note("resume", { from: start });
    this.ui.showQuality();
    await engine.start(manifest, playable, start);
  }

  startNative(start, why) {
    if (!this.options.hlsUrl) {
      this.fail(new Error("this browser cannot play this video"));
      return;
    }
    this.note("native", { why });
    if (!this.video.canPlayType(HLS_TYPE)) {
      // nothing would ever play: say so now instead of showing a poster that never moves
      this.fail(new Error(`this browser supports neither Media Source Extensions nor HLS (${why})`), { mode: "native" });
      return;
    }
    this.engine = new NativeEngine(this, this.options.hlsUrl, this.manifest);
    this.engine.start(start);
    if (start > 0) this.note("resume", { from: start });
    this.ui.showQuality();
    this.autoplay();
  }

  autoplay() {
    if (!this.options.autoplay) return;
    this.video.play().catch((err) => this.note("autoplay-blocked", { message: String(err.message || err) }));
  }

  /**
   * Load the preview track once the first frame is in (or the pointer is over the player
   * before that), so its download does not compete with the manifest and first segment.
   */
  loadThumbs(url) {
    if (this.thumbsRequested) return;
    this.thumbsRequested = true;
    const load = () => {
      this.video.removeEventListener("loadeddata", load);
      this.root.removeEventListener("pointerover", load);
      this.fetchThumbs(url);
    };
    if (this.video.readyState >= 2) {
      load();
      return;
    }
    this.video.addEventListener("loadeddata", load);
    this.root.addEventListener("pointerover", load);
  }

  async fetchThumbs(url) {
    try {
      this.thumbnails = await loadThumbnails(url);
    } catch (err) {
      this.note("thumbnails-failed", { message: String(err.message || err) });
    }
  }

  restoreVolume() {
    const saved = persist.volume.load();
    if (saved) {
      this.video.volume = saved.volume;
      this.video.muted = saved.muted;
    }
  }

  watch() {
    const v = this.video;
    const log = ["loadstart", "emptied", "loadedmetadata", "loadeddata", "canplay", "play", "playing",
      "pause", "waiting", "seeking", "seeked", "ended", "ratechange", "stalled"];
    for (const type of log) v.addEventListener(type, () => this.note(type));
    v.addEventListener("resize", () => this.note("frame-size", { width: v.videoWidth, height: v.videoHeight }));
    let stall = null;
    v.addEventListener("waiting", () => {
      stall ??= { start: performance.now(), time: v.currentTime, seeking: v.seeking };
    });
    const stallOver = () => {
      if (!stall) return;
      const record = { ...stall, duration: Math.round(performance.now() - stall.start) };
      record.start = Math.round(record.start);
      this.stalls.push(record);
      stall = null;
    };
    v.addEventListener("playing", () => {
      this.metrics.playing ??= performance.now();
      stallOver();
    });
    v.addEventListener("pause", stallOver);
    v.addEventListener("error", () => {
      if (v.error && this.engine && !this.switchingEngine) this.fail(v.error);
    });
    if (typeof v.requestVideoFrameCallback === "function") {
      v.requestVideoFrameCallback((now) => { this.metrics.firstFrame = now; this.note("first-frame"); });
    } else {
      v.addEventListener("loadeddata", () => { this.metrics.firstFrame ??= performance.now(); }, { once: true });
    }
    // what is remembered
    v.addEventListener("volumechange", () => persist.volume.save(v.volume, v.muted));
    let savedAt = 0;
    const savePosition = (force) => {
      const now = performance.now();
      if (!this.engine || this.engine.pendingStart !== null || v.readyState < 1) return;
      if (!force && now - savedAt < 1000) return;
      savedAt = now;
      persist.positions.save(this.options.videoId, v.currentTime, this.duration);
    };
    v.addEventListener("timeupdate", () => savePosition(false));
    v.addEventListener("pause", () => savePosition(true));
    v.addEventListener("seeked", () => savePosition(true));
    v.addEventListener("ended", () => persist.positions.clear(this.options.videoId));
    window.addEventListener("pagehide", () => { if (!v.ended) savePosition(true); });
  }

  // ------------------------------------------------------------------ engine callbacks

  note(type, detail = {}) {
    this.events.push({ type, at: Math.round(performance.now()), time: Number(this.video.currentTime.toFixed(3)), ...detail });
    if (this.events.length > LOG_LIMIT) this.events.splice(0, this.events.length - LOG_LIMIT);
  }

  recordSwitch(entry) {
    const record = { ...entry, at: Math.round(performance.now()), time: Number(this.video.currentTime.toFixed(3)) };
    this.switches.push(record);
    this.note("switch", entry);
    this.ui.showQuality();
    this.dispatchEvent(new CustomEvent("switch", { detail: record }));
  }

  rungChanged(from, to) {
    this.note("rungchange", { from, to });
    this.ui.showQuality();
    this.dispatchEvent(new CustomEvent("rungchange", { detail: { from, to } }));
  }

  bandwidthMeasured() {
    persist.bandwidth.save(this.estimator.estimate);
  }

  /** The largest rendition index worth showing at the element's size on this screen. */
  sizeCap(renditions) {
    const dpr = window.devicePixelRatio || 1;
    return sizeCap(renditions, this.video.clientWidth * dpr, this.video.clientHeight * dpr);
  }

  fail(err, context = {}) {
    if (this.failed) return;
    this.failed = true;
    const message = describeError(err);
    this.error = { message, ...context };
    this.note("error", this.error);
    this.ui.showError(`This video cannot be played: ${message}.`);
    this.video.pause();
    this.dispatchEvent(new CustomEvent("error", { detail: this.error }));
  }

  // ------------------------------------------------------------------ public API

  get mode() {
    return this.engine ? this.engine.mode : null;
  }

  /** Name of the rendition on screen now (MSE: the one of the segment at currentTime). */
  get rung() {
    return this.engine ? this.engine.playingName : null;
  }

  /** Name of the rendition being downloaded. */
  get loadingRung() {
    return this.engine ? this.engine.loadingName : null;
  }

  /** Rendition names, lowest first, that can be chosen by hand. */
  get qualities() {
    return this.engine ? this.engine.renditionNames : [];
  }

  /** The rendition chosen by hand, or null in Auto. */
  get manualQuality() {
    return this.engine ? this.engine.manualName : null;
  }

  get auto() {
    return !this.manualQuality;
  }

  /** Bits per second the ABR works with now. */
  get bandwidth() {
    return Math.round(this.estimator.estimate);
  }

  get duration() {
    if (this.manifest) return this.manifest.duration;
    return Number.isFinite(this.video.duration) ? this.video.duration : this.options.duration;
  }

  play() {
    return this.video.play().catch((err) => this.note("play-refused", { message: String(err.message || err) }));
  }

  pause() {
    this.video.pause();
  }

  togglePlay() {
    if (this.failed) return;
    if (this.video.paused || this.video.ended) this.play();
    else this.pause();
  }

  seek(time) {
    const d = this.duration;
    const t = clamp(time, 0, d > 0 ? Math.max(0, d - 0.1) : time);
    this.note("seek", { to: t });
    if (this.engine && this.engine.pendingStart !== null) this.engine.pendingStart = t;
    else this.video.currentTime = t;
    this.ui.update();
  }

  seekBy(delta) {
    const from = this.engine && this.engine.pendingStart !== null ? this.engine.pendingStart : this.video.currentTime;
    this.seek(from + delta);
  }

  seekToFraction(fraction) {
    this.seek(clamp(fraction, 0, 1) * this.duration);
  }

  setVolume(level) {
    this.video.volume = clamp(level, 0, 1);
    this.video.muted = this.video.volume === 0;
  }

  changeVolume(delta) {
    const base = this.video.muted ? 0 : this.video.volume;
    this.setVolume(Math.round((base + delta) * 100) / 100);
  }

  toggleMute() {
    if (this.video.muted && this.video.volume === 0) this.video.volume = 0.5;
    this.video.muted = !this.video.muted;
  }

  setSpeed(rate) {
    this.video.playbackRate = rate;
  }

  /** "auto" or a rendition name; switches without reloading and keeps the position. */
  setQuality(name) {
    if (this.engine) this.engine.setQuality(name);
    this.ui.showQuality();
  }

  toggleFullscreen() {
    if (document.fullscreenElement) {
      return document.exitFullscreen().catch(() => {});
    }
    if (this.root.requestFullscreen) {
      return this.root.requestFullscreen({ navigationUI: "hide" }).catch((err) => this.note("fullscreen-refused", { message: String(err.message || err) }));
    }
    if (this.video.webkitEnterFullscreen) this.video.webkitEnterFullscreen(); // iOS Safari
    return Promise.resolve();
  }

  destroy() {
    this.engine?.destroy();
    this.unbindKeys();
    if (active === this) active = null;
  }
}
