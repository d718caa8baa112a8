// The video's manifest.json (written by streamforge/media/package.py): renditions with
// aligned, fixed-length CMAF segments. URLs inside are relative to the manifest's URL.

import { HttpError } from "./util.js";

export class ManifestError extends Error {
  constructor(message) {
    super(message);
    this.name = "ManifestError";
  }
}

const abs = (rel, base) => new URL(rel, base).href;

/** Check and normalise a parsed manifest; `base` is the URL it came from. */
export function parseManifest(json, base) {
  if (!json || json.version !== 1) throw new ManifestError("unsupported manifest version");
  const list = Array.isArray(json.renditions) ? json.renditions : [];
  if (!list.length) throw new ManifestError("the manifest lists no renditions");
  const renditions = list.map((r) => {
    if (!r.name || !r.mime || !r.init || !Array.isArray(r.segments) || !r.segments.length) {
      throw new ManifestError(`rendition ${r.name || "?"} is incomplete`);
    }
    return {
      name: String(r.name),
      width: Number(r.width) || 0,
      height: Number(r.height) || 0,
      bandwidth: Number(r.bandwidth) || 0,
      averageBandwidth: Number(r.average_bandwidth) || Number(r.bandwidth) || 0,
      codecs: String(r.codecs || ""),
      mime: String(r.mime),
      frameRate: Number(r.frame_rate) || 0,
      init: abs(r.init, base),
      segments: r.segments.map((s, index) => {
        const start = Number(s.start);
        const duration = Number(s.duration);
        return { index, url: abs(s.url, base), start, duration, end: start + duration, bytes: Number(s.bytes) || 0 };
      }),
    };
  });
  renditions.sort((a, b) => a.bandwidth - b.bandwidth || a.height - b.height);
  // Switching happens at segment boundaries, so every rendition must cut at the same times.
  const timeline = renditions[0].segments;
  for (const r of renditions) {
    const aligned = r.segments.length === timeline.length &&
      r.segments.every((s, i) => Math.abs(s.start - timeline[i].start) < 0.1);
    if (!aligned) throw new ManifestError(`rendition ${r.name} is not aligned with ${renditions[0].name}`);
  }
  const last = timeline[timeline.length - 1];
  return {
    url: base,
    duration: Number(json.duration) || last.end,
    segmentDuration: Number(json.segment_duration) || timeline[0].duration,
    renditions,
    timeline,
    thumbnails: json.thumbnails ? abs(json.thumbnails, base) : null,
    poster: json.poster ? abs(json.poster, base) : null,
  };
}

export async function loadManifest(url, { signal } = {}) {
  const response = await fetch(url, { signal });
  if (!response.ok) throw new HttpError(response.status, url);
  let json;
  try {
    json = await response.json();
  } catch {
    throw new ManifestError("the manifest is not valid JSON");
  }
  // Relative to the URL we asked for, not to where a redirect led (a presigned storage URL
  // would not sign its neighbours): every segment goes through /media/ and its own redirect.
  return parseManifest(json, new URL(url, location.href).href);
}

/** Index of the segment that holds `time` (clamped to the first and last). */
export function segmentIndexAt(timeline, time) {
  let lo = 0;
  let hi = timeline.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (timeline[mid].start <= time + 1e-3) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
