// The MSE buffer controller: one SourceBuffer fed with init + segments of the chosen
// rendition, a forward buffer of a few segments, eviction behind the playhead, quality
// switches at segment boundaries that replace what is buffered ahead but never the
// segment that is playing.

import { chooseRendition } from "./abr.js";
import { segmentIndexAt } from "./manifest.js";
import { bufferedAhead, covers, fetchBytes, rangesOf, sleep } from "./util.js";

const TICK_MS = 250;
const RETRIES = 3;

const isAbort = (err) => err && (err.name === "AbortError" || err instanceof Abandon);

/** Thrown into a download that is given up for a lower rendition. */
class Abandon extends Error {
  constructor(to) {
    super("download abandoned");
    this.name = "Abandon";
    this.to = to;
  }
}

/** Runs SourceBuffer operations one after another, each ending at its `updateend`. */
class SourceBufferQueue {
  constructor(sourceBuffer) {
    this.sb = sourceBuffer;
    this.tail = Promise.resolve();
    this.pending = 0;
  }

  get busy() {
    return this.pending > 0 || this.sb.updating;
  }

  /** `op(sb)` starts an update, or returns false when it finished synchronously. */
  run(op) {
    this.pending += 1;
    const result = this.tail.then(() => new Promise((resolve, reject) => {
      const sb = this.sb;
      const cleanup = () => {
        sb.removeEventListener("updateend", done);
        sb.removeEventListener("error", failed);
      };
      const done = () => { cleanup(); resolve(); };
      const failed = () => { cleanup(); reject(new Error("the browser could not decode a segment")); };
      sb.addEventListener("updateend", done);
      sb.addEventListener("error", failed);
      try {
        if (op(sb) === false) done();
      } catch (err) {
        cleanup();
        reject(err);
      }
    }));
    this.tail = result.catch(() => {}).finally(() => { this.pending -= 1; });
    return result;
  }

  append(data) {
    return this.run((sb) => sb.appendBuffer(data));
  }

  remove(start, end) {
    return this.run((sb) => {
      if (!(end > start)) return false;
      sb.remove(start, end);
      return true;
    });
  }

  changeType(mime) {
    return this.run((sb) => {
      sb.changeType(mime);
      return false;
    });
  }
}

export class MseEngine {
  /**
   * `player` supplies the video element, the bandwidth estimator, the size cap and the
   * places to report to (recordSwitch, note, fail, rungChanged).
   */
  constructor(player, { forwardSegments = 3, backSegments = 1 } = {}) {
    this.mode = "mse";
    this.player = player;
    this.video = player.video;
    this.forwardSegments = forwardSegments;
    this.backSegments = backSegments;
    this.auto = true;
    this.manual = -1;
    this.loading = -1; // rendition index of the next downloads
    this.playing = -1; // rendition index of the segment at currentTime
    this.appended = new Map(); // segment index -> rendition index in the buffer
    this.initFor = -1; // rendition whose init segment was appended last
    this.inits = new Map(); // rendition index -> Promise<Uint8Array>
    this.generation = 0; // bumped by seeks and switches: late downloads are dropped
    this.inflight = null;
    this.ended = false;
    this.destroyed = false;
    this.pendingStart = null;
    this.hold = -1; // rendition forced for the next download after an abandon
    this.wake = null;
    this.listeners = [];
  }

  /** Attach a MediaSource to the video now, before the manifest has arrived. */
  attach() {
    this.ms = new MediaSource();
    this.opened = new Promise((resolve) => this.ms.addEventListener("sourceopen", resolve, { once: true }));
    this.objectUrl = URL.createObjectURL(this.ms);
    this.video.src = this.objectUrl;
  }

  get renditionNames() {
    return this.renditions ? this.renditions.map((r) => r.name) : [];
  }

  get playingName() {
    return this.playing >= 0 ? this.renditions[this.playing].name : null;
  }

  get loadingName() {
    return this.loading >= 0 ? this.renditions[this.loading].name : null;
  }

  get manualName() {
    return this.auto || this.manual < 0 ? null : this.renditions[this.manual].name;
  }

  /** Start loading `renditions` (the playable ones of `manifest`) at `startTime`. */
  async start(manifest, renditions, startTime = 0) {
    this.manifest = manifest;
    this.renditions = renditions;
    this.timeline = manifest.timeline;
    await this.opened;
    if (this.destroyed) return;
    this.ms.duration = manifest.duration;
    if (startTime > 0) this.pendingStart = startTime;
    const first = this.choose(true);
    this.sb = this.ms.addSourceBuffer(renditions[first].mime);
    this.mime = renditions[first].mime;
    this.queue = new SourceBufferQueue(this.sb);
    this.listen("loadedmetadata", () => {
      if (this.pendingStart !== null) this.video.currentTime = this.pendingStart;
      this.pendingStart = null;
    });
    this.listen("seeking", () => this.onSeeking());
    for (const type of ["timeupdate", "play", "ratechange", "progress", "seeked"]) {
      this.listen(type, () => { this.updatePlaying(); this.poke(); });
    }
    this.timer = setInterval(() => { this.skipGap(); this.poke(); }, TICK_MS);
    this.loop();
  }

  listen(type, handler) {
    this.video.addEventListener(type, handler);
    this.listeners.push([type, handler]);
  }

  destroy() {
    this.destroyed = true;
    clearInterval(this.timer);
    this.inflight?.controller.abort();
    for (const [type, handler] of this.listeners) this.video.removeEventListener(type, handler);
    this.poke();
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.video.removeAttribute("src");
    this.video.load();
  }

  // ------------------------------------------------------------------ position & buffer

  position() {
    return this.pendingStart ?? this.video.currentTime;
  }

  ranges() {
    try {
      return rangesOf(this.sb.buffered);
    } catch {
      return []; // the SourceBuffer was removed (media source closed)
    }
  }

  /** Whether segment `i` is in the buffer (by our books and by the browser's). */
  have(i, ranges = this.ranges()) {
    if (!this.appended.has(i)) return false;
    const seg = this.timeline[i];
    if (covers(ranges, seg.start, seg.end)) return true;
    this.appended.delete(i); // the browser evicted it
    return false;
  }

  bufferAhead() {
    return bufferedAhead(this.ranges(), this.video.currentTime);
  }

  /** Seconds a download of segment `index` of rendition `r` should take now. */
  expectedSeconds(r, index) {
    const seg = this.renditions[r].segments[Math.min(index, this.timeline.length - 1)];
    const bits = (seg.bytes || (this.renditions[r].bandwidth * seg.duration) / 8) * 8;
    return bits / Math.max(1, this.player.estimator.estimate);
  }

  updatePlaying() {
    if (!this.timeline || this.video.readyState < 2) return;
    const r = this.appended.get(segmentIndexAt(this.timeline, this.video.currentTime));
    if (r !== undefined && r !== this.playing) {
      const from = this.playingName;
      this.playing = r;
      this.player.rungChanged(from, this.playingName);
    }
  }

  // ------------------------------------------------------------------ quality

  /** The rendition for the next download (auto: from bandwidth, buffer and size). */
  choose(starting = false) {
    if (!this.auto) return this.manual;
    if (this.hold >= 0) {
      // right after an abandoned download: take the lower copy before judging again
      const index = this.hold;
      this.hold = -1;
      return index;
    }
    const { index, reason } = chooseRendition(this.renditions, {
      bandwidth: this.player.estimator.estimate,
      bufferAhead: starting ? 0 : this.bufferAhead(),
      segmentDuration: this.manifest.segmentDuration,
      cap: this.player.sizeCap(this.renditions),
      current: this.loading,
      playbackRate: this.video.playbackRate,
    });
    if (index !== this.loading) this.switchTo(index, reason);
    return index;
  }

  switchTo(index, reason) {
    const from = this.loading;
    this.loading = index;
    this.player.recordSwitch({
      from: from >= 0 ? this.renditions[from].name : null,
      to: this.renditions[index].name,
      reason,
      auto: this.auto,
    });
    if (from < 0) return;
    // Manual switches show the new quality from the next segment on. Automatic ones do so
    // going up when the link has room to spare for downloading the buffer again; going
    // down they keep what is buffered (throwing it away would make a stall likelier).
    const rate = Math.max(1, this.video.playbackRate);
    const roomy = this.player.estimator.estimate >= 3 * this.renditions[index].bandwidth * rate;
    if (reason === "manual" || (index > from && roomy)) this.replaceAhead();
  }

  /** "auto" or a rendition name. */
  setQuality(name) {
    if (!this.renditions) return;
    if (name === "auto") {
      this.auto = true;
      this.manual = -1;
      this.player.note("quality", { choice: "auto" });
      this.poke();
      return;
    }
    const index = this.renditions.findIndex((r) => r.name === name);
    if (index < 0) throw new Error(`no rendition named ${name}`);
    this.auto = false;
    this.manual = index;
    this.player.note("quality", { choice: name });
    if (index !== this.loading) this.switchTo(index, "manual");
    else if ([...this.appended].some(([i, r]) => r !== index && i > segmentIndexAt(this.timeline, this.position()))) {
      this.replaceAhead();
    }
    this.poke();
  }

  /**
   * Drop what is buffered after the segment playing now (or after the next one, when
   * the playhead is too close to the boundary to download a replacement in time), so
   * the new rendition is appended from there.
   */
  replaceAhead() {
    const t = this.position();
    const current = segmentIndexAt(this.timeline, t);
    let keep = current;
    const margin = 0.3 + 1.5 * this.expectedSeconds(this.loading, current + 1);
    if (this.timeline[current].end - t < margin && this.have(current + 1)) keep = current + 1;
    for (const i of [...this.appended.keys()]) if (i > keep) this.appended.delete(i);
    if (this.inflight && (this.inflight.index > keep || this.inflight.rendition !== this.loading)) {
      this.generation += 1;
      this.inflight.controller.abort();
    }
    const from = this.timeline[keep].end;
    if (from < this.ms.duration - 0.05) {
      this.ended = false;
      this.queue.remove(from, Infinity).catch((err) => this.player.note("remove-failed", { message: String(err) }));
    }
    this.player.note("replace-ahead", { from, keep });
  }

  // ------------------------------------------------------------------ scheduling

  poke() {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  idle(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => { clearTimeout(timer); resolve(); };
    });
  }

  onSeeking() {
    const target = this.video.currentTime;
    this.pendingStart = null;
    const wanted = segmentIndexAt(this.timeline, target);
    if (this.inflight && this.inflight.index !== wanted) {
      this.generation += 1;
      this.inflight.controller.abort();
    }
    this.ended = false;
    this.poke();
  }

  /** The next segment to download as { index, rendition }, or null when the buffer is full. */
  nextJob() {
    if (!this.sb || this.player.failed) return null;
    const t = this.position();
    const first = segmentIndexAt(this.timeline, t);
    let missing = this.firstMissing(first, this.ranges());
    if (missing < 0) {
      this.maybeEnd();
      return null;
    }
    if (this.timeline[missing].start >= t + this.forwardSegments * this.manifest.segmentDuration) return null;
    const rendition = this.choose();
    // a switch may have dropped the buffer ahead: look again from the playhead
    missing = this.firstMissing(first, this.ranges());
    return missing < 0 ? null : { index: missing, rendition };
  }

  firstMissing(from, ranges) {
    for (let i = from; i < this.timeline.length; i++) if (!this.have(i, ranges)) return i;
    return -1;
  }

  maybeEnd() {
    if (this.ended || this.queue.busy || this.ms.readyState !== "open") return;
    this.ended = true;
    try {
      this.ms.endOfStream();
    } catch {
      this.ended = false;
    }
  }

  async loop() {
    let quotaHits = 0;
    while (!this.destroyed) {
      const job = this.nextJob();
      if (!job) {
        await this.idle(TICK_MS);
        continue;
      }
      try {
        await this.load(job);
        quotaHits = 0;
      } catch (err) {
        if (this.destroyed) return;
        if (err instanceof Abandon) {
          this.switchTo(err.to, "emergency");
          this.hold = err.to;
          continue;
        }
        if (isAbort(err)) continue;
        if (err && err.name === "QuotaExceededError" && quotaHits++ < 3) {
          // the browser's buffer is full: keep less around and try again
          this.forwardSegments = Math.max(1, this.forwardSegments - 1);
          this.evictBehind(0);
          this.player.note("quota", { forwardSegments: this.forwardSegments });
          continue;
        }
        this.player.fail(err, { segment: job.index, rendition: this.renditions[job.rendition].name });
        return;
      }
    }
  }

  initData(r) {
    if (!this.inits.has(r)) {
      const promise = fetchBytes(this.renditions[r].init).then((res) => res.data);
      promise.catch(() => this.inits.delete(r)); // try again next time
      this.inits.set(r, promise);
    }
    return this.inits.get(r);
  }

  async load({ index, rendition }) {
    const r = this.renditions[rendition];
    const seg = r.segments[index];
    const generation = this.generation;
    const controller = new AbortController();
    const needInit = this.initFor !== rendition;
    const init = needInit ? this.initData(rendition) : null; // in parallel with the segment
    this.inflight = { index, rendition, controller };
    let result;
    try {
      result = await this.download(seg, rendition, controller);
    } finally {
      this.inflight = null;
    }
    const stale = () => this.destroyed || generation !== this.generation;
    if (stale()) return;
    this.player.estimator.sample(result.bytes, result.ms);
    this.player.bandwidthMeasured();
    this.player.note("segment", { index, rendition: r.name, bytes: result.bytes, ms: Math.round(result.ms) });
    if (needInit) {
      const data = await init;
      if (stale()) return;
      if (this.mime !== r.mime && typeof this.sb.changeType === "function") {
        await this.queue.changeType(r.mime);
        this.mime = r.mime;
      }
      await this.queue.append(data);
      this.initFor = rendition;
    }
    if (stale()) return;
    this.ended = false;
    await this.queue.append(result.data);
    this.appended.set(index, rendition);
    this.updatePlaying();
    this.evictBehind(this.backSegments);
  }

  async download(seg, rendition, controller) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fetchBytes(seg.url, {
          signal: controller.signal,
          onProgress: (loaded, ms) => this.checkAbandon(seg, rendition, loaded, ms, controller),
        });
      } catch (err) {
        if (controller.signal.aborted) throw controller.signal.reason ?? err;
        if (attempt >= RETRIES) throw err;
        this.player.note("retry", { url: seg.url, attempt, message: String(err.message || err) });
        await sleep(300 * attempt, controller.signal);
      }
    }
  }

  /**
   * While a segment streams in: when it will not arrive before the buffer runs dry and a
   * lower rendition's copy would (or would at least arrive much sooner), give it up.
   */
  checkAbandon(seg, rendition, loaded, ms, controller) {
    if (!this.auto || rendition === 0 || ms < 500 || this.video.paused || !seg.bytes || loaded >= seg.bytes) return;
    const bytesPerSecond = loaded / (ms / 1000);
    const remaining = (seg.bytes - loaded) / bytesPerSecond;
    const budget = Math.max(0, this.bufferAhead() / Math.max(0.25, this.video.playbackRate) - 0.5);
    if (remaining <= budget) return;
    let to = -1;
    for (let j = rendition - 1; j >= 0; j--) {
      if (this.renditions[j].segments[seg.index].bytes / bytesPerSecond <= budget) {
        to = j;
        break;
      }
    }
    if (to < 0 && this.renditions[0].segments[seg.index].bytes / bytesPerSecond < remaining * 0.7) to = 0;
    if (to < 0) return;
    this.player.estimator.sample(loaded, ms);
    this.player.note("abandon", { index: seg.index, from: this.renditions[rendition].name, to: this.renditions[to].name });
    controller.abort(new Abandon(to));
  }

  /** Remove what lies more than `segments` segments behind the one playing. */
  evictBehind(segments) {
    const current = segmentIndexAt(this.timeline, this.video.currentTime);
    const keepIndex = current - segments;
    if (keepIndex <= 0) return;
    const keepFrom = this.timeline[keepIndex].start;
    const ranges = this.ranges();
    if (!ranges.length || ranges[0][0] >= keepFrom - 0.5) return;
    for (const i of [...this.appended.keys()]) if (i < keepIndex) this.appended.delete(i);
    this.queue.remove(0, keepFrom).catch((err) => this.player.note("remove-failed", { message: String(err) }));
  }

  /** Jump over a small hole in the buffer that playback would otherwise wait at forever. */
  skipGap() {
    const v = this.video;
    if (!this.sb || v.paused || v.seeking || v.readyState >= 3 || this.player.failed) return;
    const t = v.currentTime;
    const ranges = rangesOf(v.buffered);
    if (ranges.some(([s, e]) => s <= t && t < e - 0.05)) return;
    const next = ranges.find(([s]) => s > t);
    if (next && next[0] - t < 1) {
      this.player.note("gap-skip", { from: t, to: next[0] });
      v.currentTime = next[0] + 0.01;
    }
  }
}
