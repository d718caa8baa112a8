// Native HLS (master.m3u8) where MSE is missing (older iOS Safari) or cannot play our
// codecs. The browser picks the quality itself; we only report what it shows.

export class NativeEngine {
  constructor(player, url, manifest = null) {
    this.mode = "native";
    this.player = player;
    this.video = player.video;
    this.url = url;
    this.renditions = manifest ? manifest.renditions : [];
    this.auto = true;
    this.playing = null;
    this.pendingStart = null;
    this.onResize = () => {
      const h = this.video.videoHeight;
      if (!h) return;
      const match = this.renditions.find((r) => r.height === h);
      const name = match ? match.name : `${h}p`;
      if (name !== this.playing) {
        const from = this.playing;
        this.playing = name;
        this.player.rungChanged(from, name);
      }
    };
    this.onMetadata = () => {
      if (this.pendingStart !== null) this.video.currentTime = this.pendingStart;
      this.pendingStart = null;
    };
  }

  get renditionNames() {
    return []; // no manual choice: the browser decides
  }

  get playingName() {
    return this.playing;
  }

  get loadingName() {
    return this.playing;
  }

  get manualName() {
    return null;
  }

  start(startTime = 0) {
    if (startTime > 0) this.pendingStart = startTime;
    this.video.addEventListener("resize", this.onResize);
    this.video.addEventListener("loadedmetadata", this.onMetadata);
    this.video.preload = "auto";
    this.video.src = this.url;
  }

  setQuality(name) {
    if (name !== "auto") throw new Error("the browser chooses the quality of native HLS");
  }

  bufferAhead() {
    return 0;
  }

  destroy() {
    this.video.removeEventListener("resize", this.onResize);
    this.video.removeEventListener("loadedmetadata", this.onMetadata);
    this.video.removeAttribute("src");
    this.video.load();
  }
}
