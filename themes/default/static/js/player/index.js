// Entry point of the StreamForge player. Boots every [data-sf-player] element on the page;
// status.js imports it (by this module's own URL) to boot a player for a video that
// becomes ready while its page is open.

import { Player } from "./player.js";
import { el } from "./util.js";

export { Player };

/** The Player of `root`, created on first call. */
export function bootPlayer(root, options = {}) {
  return root.streamforgePlayer || new Player(root, options);
}

/** Player markup for a video as the API serialises it (video_to_dict). */
export function createPlayerElement(video, { autoplay = false } = {}) {
  const largest = (video.renditions || []).at(-1);
  const width = (largest && largest.width) || video.width;
  const height = (largest && largest.height) || video.height;
  const root = el("div", {
    class: "sf-player",
    "data-sf-player": true,
    "data-video-id": video.id,
    "data-manifest-url": video.manifest_url || false,
    "data-hls-url": video.hls_url || false,
    "data-thumbnails-url": video.thumbnails_url || false,
    "data-duration": video.duration || false,
    "data-autoplay": autoplay ? "true" : false,
  });
  if (width && height) root.style.setProperty("--sf-aspect", `${width} / ${height}`);
  root.append(el("video", { id: "player", playsinline: true, preload: "none", poster: video.poster_url || false }));
  return root;
}

export function bootAll(scope = document) {
  return [...scope.querySelectorAll("[data-sf-player]")].map((root) => bootPlayer(root));
}

bootAll();
