// Preview thumbnails: a WebVTT file whose cues name a sprite sheet region,
// "sprite_000.jpg#xywh=160,0,160,90", relative to the VTT file's URL.

function seconds(stamp) {
  const parts = stamp.trim().split(":").map(Number);
  if (parts.some((n) => !Number.isFinite(n))) return NaN;
  return parts.reduce((total, n) => total * 60 + n, 0);
}

/** Cues as [{ start, end, url, x, y, w, h }], sorted by start. */
export function parseThumbnailVtt(text, base) {
  const cues = [];
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes("-->")) continue;
    const [from, rest] = lines[i].split("-->");
    const start = seconds(from);
    const end = seconds(rest.trim().split(/\s+/)[0]);
    const target = (lines[i + 1] || "").trim();
    if (!target || !Number.isFinite(start) || !Number.isFinite(end)) continue;
    const hash = target.indexOf("#");
    const file = hash >= 0 ? target.slice(0, hash) : target;
    const match = /xywh=(\d+),(\d+),(\d+),(\d+)/.exec(hash >= 0 ? target.slice(hash) : "");
    const [x, y, w, h] = match ? match.slice(1).map(Number) : [0, 0, 0, 0];
    cues.push({ start, end, url: new URL(file, base).href, x, y, w, h });
  }
  return cues.sort((a, b) => a.start - b.start);
}

export async function loadThumbnails(url, { signal } = {}) {
  const response = await fetch(url, { signal });
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
  return parseThumbnailVtt(await response.text(), new URL(url, location.href).href);
}

/** The cue shown at `time`, or null. */
export function cueAt(cues, time) {
  let lo = 0;
  let hi = cues.length - 1;
  let found = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cues[mid].start <= time) {
      found = cues[mid];
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (!found) return null;
  // past the last cue's end (the very end of the video) the last picture still applies
  return time < found.end || found === cues[cues.length - 1] ? found : null;
}
