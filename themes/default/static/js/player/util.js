// Small helpers shared by the player modules: time formatting, TimeRanges, DOM, fetch.

export const clamp = (value, lo, hi) => Math.min(hi, Math.max(lo, value));

/** 83.4 -> "1:23"; 3723 -> "1:02:03". */
export function formatTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const total = Math.floor(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A TimeRanges object as [[start, end], ...]. */
export function rangesOf(timeRanges) {
  const out = [];
  if (!timeRanges) return out;
  for (let i = 0; i < timeRanges.length; i++) out.push([timeRanges.start(i), timeRanges.end(i)]);
  return out;
}

/**
 * Seconds buffered from `time` on, bridging holes up to `gap` seconds (audio and video
 * frames of neighbouring segments rarely meet exactly).
 */
export function bufferedAhead(ranges, time, gap = 0.25) {
  let end = time;
  for (const [start, stop] of ranges) {
    if (stop <= end) continue;
    if (start > end + gap) break;
    end = stop;
  }
  return end - time;
}

/** Whether [start, end] is buffered, with `slack` seconds of tolerance at both ends. */
export function covers(ranges, start, end, slack = 0.1) {
  const a = start + Math.min(slack, (end - start) / 4);
  const b = end - Math.min(slack, (end - start) / 4);
  return ranges.some(([s, e]) => s <= a && e >= b);
}

/** Create an element: el("button", { class: "x", "aria-label": "Play" }, child, "text"). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "html") node.innerHTML = value; // only ever our own static icon markup
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

export class HttpError extends Error {
  constructor(status, url) {
    super(`HTTP ${status} for ${url}`);
    this.name = "HttpError";
    this.status = status;
    this.url = url;
  }
}

/**
 * GET `url` as bytes, reporting progress as it streams in. `onProgress(loaded, elapsedMs)`
 * may abort through the signal's controller. Resolves to { data, bytes, ms }.
 */
export async function fetchBytes(url, { signal, onProgress } = {}) {
  const started = performance.now();
  const response = await fetch(url, { signal });
  if (!response.ok) throw new HttpError(response.status, url);
  if (!response.body || !onProgress) {
    const data = new Uint8Array(await response.arrayBuffer());
    return { data, bytes: data.byteLength, ms: performance.now() - started };
  }
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress(loaded, performance.now() - started);
  }
  const data = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { data, bytes: loaded, ms: performance.now() - started };
}

export const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });
