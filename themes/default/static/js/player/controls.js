// The player's controls, built here (not in the template) so a player booted later by
// status.js looks the same. Every control is a real button, slider or menu with a label;
// themes restyle them through the sf-* classes and custom properties in player.css.

import { cueAt } from "./thumbnails.js";
import { clamp, el, formatTime, rangesOf } from "./util.js";

const svg = (body) => `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">${body}</svg>`;
const ICONS = {
  play: svg('<path d="M8 5.5v13l10.5-6.5z" fill="currentColor"/>'),
  pause: svg('<path d="M7 5h3.5v14H7zM13.5 5H17v14h-3.5z" fill="currentColor"/>'),
  volume: svg('<path d="M4 9.5v5h3.5l4.5 4v-13l-4.5 4z" fill="currentColor"/><path d="M15 9a4 4 0 0 1 0 6M17.5 6.5a7.5 7.5 0 0 1 0 11" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>'),
  muted: svg('<path d="M4 9.5v5h3.5l4.5 4v-13l-4.5 4z" fill="currentColor"/><path d="M15.5 9.5l5 5m0-5l-5 5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>'),
  enter: svg('<path d="M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>'),
  exit: svg('<path d="M9 4v5H4M20 9h-5V4M15 20v-5h5M4 15h5v5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>'),
};
const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
const IDLE_MS = 2500;
let menuCount = 0;

/**
 * A button opening a menu of radio items. `items()` -> [{ value, label, checked }];
 * `pick(value)` acts on a choice.
 */
function menu(root, { name, label, items, pick }) {
  const id = `sf-menu-${++menuCount}`;
  const button = el("button", {
    type: "button",
    class: `sf-button sf-${name}-button`,
    "aria-haspopup": "menu",
    "aria-expanded": "false",
    "aria-controls": id,
    "aria-label": label,
  });
  const list = el("div", { class: `sf-menu sf-${name}-menu`, id, role: "menu", "aria-label": label, hidden: true });
  const wrap = el("div", { class: `sf-menu-wrap sf-${name}` }, button, list);

  const render = () => {
    list.replaceChildren(...items().map((item) => el(
      "button",
      { type: "button", role: "menuitemradio", "aria-checked": String(item.checked), "data-value": item.value, tabindex: "-1" },
      item.label,
    )));
  };
  const close = (focusButton = false) => {
    if (list.hidden) return;
    list.hidden = true;
    button.setAttribute("aria-expanded", "false");
    root.classList.remove("sf-menu-open");
    if (focusButton) button.focus();
  };
  const open = () => {
    for (const other of root.querySelectorAll(".sf-menu:not([hidden])")) other.dispatchEvent(new Event("sf-close"));
    render();
    list.hidden = false;
    button.setAttribute("aria-expanded", "true");
    root.classList.add("sf-menu-open");
    (list.querySelector('[aria-checked="true"]') || list.firstElementChild)?.focus();
  };
  list.addEventListener("sf-close", () => close());
  button.addEventListener("click", () => (list.hidden ? open() : close()));
  list.addEventListener("click", (event) => {
    const item = event.target.closest("[role=menuitemradio]");
    if (!item) return;
    pick(item.dataset.value);
    close(true);
  });
  list.addEventListener("keydown", (event) => {
    const entries = [...list.querySelectorAll("[role=menuitemradio]")];
    const at = entries.indexOf(document.activeElement);
    const move = { ArrowDown: 1, ArrowUp: -1 }[event.key];
    if (move) entries[(at + move + entries.length) % entries.length]?.focus();
    else if (event.key === "Home") entries[0]?.focus();
    else if (event.key === "End") entries[entries.length - 1]?.focus();
    else if (event.key === "Escape") close(true);
    else if (event.key === "Tab") close();
    else return;
    if (event.key !== "Tab") event.preventDefault();
  });
  document.addEventListener("pointerdown", (event) => {
    if (!wrap.contains(event.target)) close();
  });
  return { wrap, button, list, render, close, isOpen: () => !list.hidden };
}

export function buildControls(player) {
  const { root, video } = player;

  // ---------------------------------------------------------------- markup
  const played = el("div", { class: "sf-played" });
  const buffered = el("div", { class: "sf-buffered" });
  const handle = el("div", { class: "sf-handle" });
  const previewImage = el("div", { class: "sf-preview-image" });
  const previewTime = el("div", { class: "sf-preview-time" });
  const preview = el("div", { class: "sf-preview", "aria-hidden": "true", hidden: true }, previewImage, previewTime);
  const seek = el(
    "div",
    {
      class: "sf-seek",
      role: "slider",
      tabindex: "0",
      "aria-label": "Seek",
      "aria-valuemin": "0",
      "aria-valuemax": "0",
      "aria-valuenow": "0",
      "aria-valuetext": "0:00",
    },
    el("div", { class: "sf-rail" }, buffered, played, handle),
    preview,
  );
  const playButton = el("button", { type: "button", class: "sf-button sf-play", "aria-label": "Play", html: ICONS.play });
  const muteButton = el("button", { type: "button", class: "sf-button sf-mute", "aria-label": "Mute", html: ICONS.volume });
  const volume = el("input", { type: "range", class: "sf-volume", min: "0", max: "1", step: "0.05", "aria-label": "Volume" });
  const current = el("span", { class: "sf-current" }, "0:00");
  const total = el("span", { class: "sf-duration" }, "0:00");
  const time = el("div", { class: "sf-time", "aria-live": "off" }, current, el("span", { class: "sf-time-sep" }, " / "), total);
  const fullscreen = el("button", { type: "button", class: "sf-button sf-fullscreen-button", "aria-label": "Full screen", html: ICONS.enter });
  const speed = menu(root, {
    name: "speed",
    label: "Playback speed",
    items: () => SPEEDS.map((rate) => ({ value: String(rate), label: rate === 1 ? "Normal" : `${rate}×`, checked: video.playbackRate === rate })),
    pick: (value) => player.setSpeed(Number(value)),
  });
  const quality = menu(root, {
    name: "quality",
    label: "Quality",
    items: () => {
      const names = player.qualities;
      const manual = player.manualQuality;
      return [
        { value: "auto", label: player.rung ? `Auto (${player.rung})` : "Auto", checked: !manual },
        ...[...names].reverse().map((name) => ({ value: name, label: name, checked: manual === name })),
      ];
    },
    pick: (value) => player.setQuality(value),
  });
  const bar = el(
    "div",
    { class: "sf-bar" },
    playButton,
    el("div", { class: "sf-volume-group" }, muteButton, volume),
    time,
    el("div", { class: "sf-spacer" }),
    speed.wrap,
    quality.wrap,
    fullscreen,
  );
  const controls = el("div", { class: "sf-controls" }, seek, bar);
  const bigPlay = el("button", { type: "button", class: "sf-big-play", "aria-label": "Play", html: ICONS.play });
  const spinner = el("div", { class: "sf-spinner", "aria-hidden": "true" });
  const errorBox = el("div", { class: "sf-error", role: "alert", hidden: true });
  root.append(spinner, bigPlay, errorBox, controls);
  root.classList.add("sf-paused");
  if (!document.fullscreenEnabled && !video.webkitEnterFullscreen) fullscreen.hidden = true;

  // ---------------------------------------------------------------- state -> view
  let scrubbing = null; // time under the pointer while dragging the seek bar
  const duration = () => player.duration;

  const showTime = (t) => {
    const d = duration();
    const fraction = d > 0 ? clamp(t / d, 0, 1) : 0;
    played.style.width = `${fraction * 100}%`;
    handle.style.left = `${fraction * 100}%`;
    current.textContent = formatTime(t);
    total.textContent = formatTime(d);
    seek.setAttribute("aria-valuemax", String(Math.round(d)));
    seek.setAttribute("aria-valuenow", String(Math.round(t)));
    seek.setAttribute("aria-valuetext", `${formatTime(t)} of ${formatTime(d)}`);
  };

  const drawBuffered = () => {
    const d = duration();
    const ranges = d > 0 ? rangesOf(video.buffered) : [];
    const parts = ranges.map(([s, e]) => el("div", {
      class: "sf-range",
      style: `left:${(clamp(s / d, 0, 1) * 100).toFixed(3)}%;width:${(clamp((e - s) / d, 0, 1) * 100).toFixed(3)}%`,
    }));
    buffered.replaceChildren(...parts);
  };

  const update = () => {
    if (scrubbing === null) showTime(video.currentTime);
    drawBuffered();
  };

  const showPlayState = () => {
    const paused = video.paused;
    root.classList.toggle("sf-paused", paused);
    root.classList.toggle("sf-playing", !paused);
    playButton.setAttribute("aria-label", paused ? "Play" : "Pause");
    playButton.innerHTML = paused ? ICONS.play : ICONS.pause;
  };

  const showVolume = () => {
    const silent = video.muted || video.volume === 0;
    muteButton.setAttribute("aria-label", video.muted ? "Unmute" : "Mute");
    muteButton.innerHTML = silent ? ICONS.muted : ICONS.volume;
    volume.value = String(video.muted ? 0 : video.volume);
    volume.setAttribute("aria-valuetext", video.muted ? "muted" : `${Math.round(video.volume * 100)}%`);
  };

  const showQuality = () => {
    const names = player.qualities;
    quality.wrap.hidden = names.length < 2;
    const manual = player.manualQuality;
    const text = manual || (player.rung ? `Auto · ${player.rung}` : "Auto");
    quality.button.textContent = text;
    quality.button.setAttribute("aria-label", `Quality: ${text}`);
    if (quality.isOpen()) quality.render();
  };

  const showSpeed = () => {
    const rate = video.playbackRate;
    speed.button.textContent = `${rate}×`;
    speed.button.setAttribute("aria-label", `Playback speed: ${rate === 1 ? "normal" : `${rate}×`}`);
    if (speed.isOpen()) speed.render();
  };

  const showFullscreen = () => {
    const on = document.fullscreenElement === root;
    root.classList.toggle("sf-fullscreen", on);
    fullscreen.setAttribute("aria-label", on ? "Exit full screen" : "Full screen");
    fullscreen.innerHTML = on ? ICONS.exit : ICONS.enter;
  };

  let waitingTimer = 0;
  const setWaiting = (on) => {
    clearTimeout(waitingTimer);
    if (on) waitingTimer = setTimeout(() => root.classList.add("sf-waiting"), 250);
    else root.classList.remove("sf-waiting");
  };

  for (const type of ["timeupdate", "durationchange", "progress", "seeking", "seeked", "loadedmetadata", "emptied"]) {
    video.addEventListener(type, update);
  }
  for (const type of ["play", "pause", "playing", "ended"]) video.addEventListener(type, showPlayState);
  video.addEventListener("play", () => root.classList.add("sf-started"));
  video.addEventListener("volumechange", showVolume);
  video.addEventListener("ratechange", showSpeed);
  video.addEventListener("waiting", () => setWaiting(true));
  for (const type of ["playing", "canplay", "pause", "seeked", "ended"]) video.addEventListener(type, () => setWaiting(false));
  document.addEventListener("fullscreenchange", showFullscreen);

  // ---------------------------------------------------------------- input -> player
  playButton.addEventListener("click", () => player.togglePlay());
  bigPlay.addEventListener("click", () => player.play());
  muteButton.addEventListener("click", () => player.toggleMute());
  volume.addEventListener("input", () => player.setVolume(Number(volume.value)));
  fullscreen.addEventListener("click", () => player.toggleFullscreen());

  let idleTimer = 0;
  const wake = () => {
    root.classList.remove("sf-idle");
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      const keyboardFocus = controls.querySelector(":focus-visible");
      if (!video.paused && !quality.isOpen() && !speed.isOpen() && scrubbing === null && !keyboardFocus) {
        root.classList.add("sf-idle");
      }
    }, IDLE_MS);
  };
  // a touch while the controls are hidden only shows them (no hover on touch screens)
  let tapWoke = false;
  root.addEventListener("pointerdown", (event) => {
    tapWoke = event.pointerType !== "mouse" && root.classList.contains("sf-idle");
    wake();
  }, { capture: true });
  root.addEventListener("pointermove", (event) => { if (event.pointerType === "mouse") wake(); });
  root.addEventListener("focusin", wake);
  video.addEventListener("pause", wake);
  video.addEventListener("play", wake);

  // the picture: a click toggles playback, except the tap that brought the controls back
  video.addEventListener("click", () => {
    if (player.failed || tapWoke) return;
    player.togglePlay();
  });
  video.addEventListener("dblclick", () => player.toggleFullscreen());

  // seek bar: hover previews, drag (mouse or touch) scrubs, release seeks
  const timeAt = (event) => {
    const rect = seek.getBoundingClientRect();
    return clamp((event.clientX - rect.left) / Math.max(1, rect.width), 0, 1) * duration();
  };
  const showPreview = (event) => {
    const d = duration();
    if (!(d > 0)) return;
    const t = timeAt(event);
    const cue = cueAt(player.thumbnails, t);
    if (cue && cue.w && cue.h) {
      previewImage.hidden = false;
      previewImage.style.backgroundImage = `url("${cue.url}")`;
      previewImage.style.backgroundPosition = `${-cue.x}px ${-cue.y}px`;
      previewImage.style.width = `${cue.w}px`;
      previewImage.style.height = `${cue.h}px`;
      previewImage.dataset.cueStart = String(cue.start);
    } else {
      previewImage.hidden = true;
    }
    previewTime.textContent = formatTime(t);
    preview.hidden = false;
    const rect = seek.getBoundingClientRect();
    const width = preview.offsetWidth;
    const x = clamp(event.clientX - rect.left - width / 2, 0, Math.max(0, rect.width - width));
    preview.style.left = `${x}px`;
    preview.dataset.time = t.toFixed(3);
  };
  seek.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || !(duration() > 0)) return;
    seek.setPointerCapture(event.pointerId);
    scrubbing = timeAt(event);
    showTime(scrubbing);
    showPreview(event);
    root.classList.add("sf-scrubbing");
  });
  seek.addEventListener("pointermove", (event) => {
    if (scrubbing !== null) {
      scrubbing = timeAt(event);
      showTime(scrubbing);
      showPreview(event);
    } else if (event.pointerType === "mouse") {
      showPreview(event);
    }
  });
  const endScrub = (commit) => {
    if (scrubbing === null) return;
    const t = scrubbing;
    scrubbing = null;
    root.classList.remove("sf-scrubbing");
    if (commit) player.seek(t);
    update();
  };
  seek.addEventListener("pointerup", (event) => {
    endScrub(true);
    if (event.pointerType !== "mouse") preview.hidden = true;
  });
  seek.addEventListener("pointercancel", () => { endScrub(false); preview.hidden = true; });
  seek.addEventListener("pointerleave", () => { if (scrubbing === null) preview.hidden = true; });

  showPlayState();
  showVolume();
  showSpeed();
  showQuality();
  showFullscreen();
  update();
  wake();

  return {
    update,
    showQuality,
    openQualityMenu: () => { if (!quality.isOpen()) quality.button.click(); },
    showError(message) {
      errorBox.replaceChildren(el("p", { class: "sf-error-message" }, message));
      errorBox.hidden = false;
      root.classList.add("sf-failed");
      setWaiting(false);
    },
  };
}
