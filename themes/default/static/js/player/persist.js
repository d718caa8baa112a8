// What the player remembers in localStorage: the bandwidth estimate, the volume, and the
// position in each video. Every access is guarded: storage may be full, disabled or
// shared with other tabs, and none of that may break playback.

const PREFIX = "streamforge.player.";
const MAX_POSITIONS = 200;

function read(key) {
  try {
    const raw = window.localStorage.getItem(PREFIX + key);
    return raw === null ? null : JSON.parse(raw);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(PREFIX + key);
    else window.localStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // full or disabled storage: remembering is a convenience
  }
}

export const bandwidth = {
  /** Bits per second from an earlier visit, or null. */
  load() {
    const saved = read("bandwidth");
    return saved && Number.isFinite(saved.bps) && saved.bps > 0 ? saved.bps : null;
  },
  save(bps) {
    if (Number.isFinite(bps) && bps > 0) write("bandwidth", { bps: Math.round(bps), at: Date.now() });
  },
};

export const volume = {
  /** { volume: 0..1, muted: bool } or null. */
  load() {
    const saved = read("volume");
    if (!saved || !Number.isFinite(saved.volume)) return null;
    return { volume: Math.min(1, Math.max(0, saved.volume)), muted: Boolean(saved.muted) };
  },
  save(level, muted) {
    write("volume", { volume: level, muted });
  },
};

export const positions = {
  /** The saved { t, d } of a video, or null. */
  load(videoId) {
    const all = read("positions") || {};
    const saved = videoId ? all[videoId] : null;
    return saved && Number.isFinite(saved.t) ? saved : null;
  },
  save(videoId, time, duration) {
    if (!videoId) return;
    const all = read("positions") || {};
    all[videoId] = { t: Math.round(time * 10) / 10, d: duration, at: Date.now() };
    const ids = Object.keys(all);
    if (ids.length > MAX_POSITIONS) {
      ids.sort((a, b) => (all[a].at || 0) - (all[b].at || 0));
      for (const id of ids.slice(0, ids.length - MAX_POSITIONS)) delete all[id];
    }
    write("positions", all);
  },
  clear(videoId) {
    const all = read("positions");
    if (all && videoId in all) {
      delete all[videoId];
      write("positions", all);
    }
  },
};

/**
 * Where to resume: the saved position, unless it is near the start (nothing to resume)
 * or near the end (the video was watched; start over).
 */
export function resumeTime(saved, duration) {
  if (!saved || !(duration > 0)) return 0;
  const tail = Math.max(10, duration * 0.05);
  return saved.t >= 3 && saved.t < duration - tail ? saved.t : 0;
}
