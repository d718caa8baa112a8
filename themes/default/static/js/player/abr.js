// Adaptive bitrate: a throughput estimate from segment downloads, and the choice of
// rendition from that estimate, the buffer level and the size the video is shown at.

/**
 * An exponentially weighted moving average whose samples carry weights (here: seconds
 * spent downloading), with the start-up bias removed so the first sample counts in full.
 */
class WeightedAverage {
  constructor(halfLife) {
    this.decay = Math.pow(0.5, 1 / halfLife);
    this.raw = 0;
    this.weight = 0;
  }

  add(value, weight) {
    const keep = Math.pow(this.decay, weight);
    this.raw = keep * this.raw + (1 - keep) * value;
    this.weight += weight;
  }

  get value() {
    return this.weight > 0 ? this.raw / (1 - Math.pow(this.decay, this.weight)) : NaN;
  }
}

/**
 * Throughput in bits per second. Each download weighs as much as the time it took, so
 * the estimate is "bits per second of downloading": a download that crawled for five
 * seconds outweighs a hundred that took a millisecond on a fast link, and a collapsing
 * link shows at once. Two half-lives (seconds of downloading): the estimate is the lower
 * of a fast and a slow average, so it drops fast and climbs on some evidence. Before any
 * sample it is `initial` (the last visit's estimate, or a modest default).
 */
export class BandwidthEstimator {
  constructor({ initial = 1_000_000, fastHalfLife = 2, slowHalfLife = 8 } = {}) {
    this.initial = initial;
    this.fast = new WeightedAverage(fastHalfLife);
    this.slow = new WeightedAverage(slowHalfLife);
    this.samples = 0;
  }

  /** One download (or the part of one so far): `bytes` in `ms` milliseconds. */
  sample(bytes, ms) {
    if (bytes < 2048 || !(ms >= 0)) return; // too small to say anything about the link
    const seconds = Math.max(ms, 1) / 1000;
    const bps = (bytes * 8) / seconds;
    this.fast.add(bps, seconds);
    this.slow.add(bps, seconds);
    this.samples += 1;
  }

  get estimate() {
    return this.samples ? Math.min(this.fast.value, this.slow.value) : this.initial;
  }
}

/**
 * The highest rendition index not bigger than the picture area: `width` × `height` device
 * pixels (the element's CSS size × devicePixelRatio). A rendition fits when neither side
 * exceeds the area by more than `slack`. The lowest rendition always qualifies.
 */
export function sizeCap(renditions, width, height, slack = 1.05) {
  if (!(width > 0) || !(height > 0)) return renditions.length - 1;
  let cap = 0;
  renditions.forEach((r, i) => {
    if (r.width <= width * slack && r.height <= height * slack) cap = i;
  });
  return cap;
}

/** Tuning knobs of `chooseRendition`, exported so docs/player.md and themes can refer to them. */
export const ABR = {
  /** Share of the estimate a higher rendition may need before we switch up to it. */
  upFactor: 0.7,
  /** Share of the estimate the current (or a lower) rendition may need to stay on it. */
  stayFactor: 0.85,
  /** With less than this many segments buffered, only take renditions needing half the estimate. */
  lowBufferSegments: 1,
  lowFactor: 0.5,
};

/**
 * Pick a rendition index. `renditions` are sorted by bandwidth, ascending. `current` is
 * the index being loaded now (-1 at start). Returns { index, reason }.
 */
export function chooseRendition(renditions, { bandwidth, bufferAhead, segmentDuration, cap, current, playbackRate = 1 }) {
  const rate = Math.max(1, playbackRate || 1);
  const lowBuffer = current >= 0 && bufferAhead < ABR.lowBufferSegments * segmentDuration;
  let best = 0;
  for (let i = 0; i <= Math.min(cap, renditions.length - 1); i++) {
    const factor = lowBuffer ? ABR.lowFactor : i > current ? ABR.upFactor : ABR.stayFactor;
    if (renditions[i].bandwidth * rate <= bandwidth * factor) best = i;
  }
  let reason = "bandwidth";
  if (current < 0) reason = "start";
  else if (best === cap && best < renditions.length - 1 && best !== current) reason = "size";
  else if (lowBuffer && best < current) reason = "buffer";
  return { index: best, reason };
}
