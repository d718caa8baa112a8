// Live status over the WebSocket at /api/v1/events: progress bars move, a video turns
// playable the moment it is ready, a failure shows its reason. Reconnects with backoff
// and resubscribes; every (re)subscribe starts with a snapshot, so nothing is missed.

const cards = () => [...document.querySelectorAll("[data-video-id]")];
const watchPage = document.querySelector(".watch[data-video-id]");

function setProgress(el, percent) {
  el.querySelectorAll("progress").forEach((p) => { p.value = percent; });
  el.querySelectorAll(".progress-text").forEach((t) => { t.textContent = `${Math.round(percent)}%`; });
}

function setStatus(el, status) {
  el.dataset.status = status;
  el.className = el.className.replace(/\bstatus-\w+/, `status-${status}`);
  el.querySelectorAll(".badge").forEach((b) => {
    if (status === "ready") b.remove();
    else b.firstChild.textContent = `${status} `;
  });
}

// The page's own player module (the same URL, so the same module instance), or ours.
function playerModule() {
  const script = document.querySelector("script[data-sf-player-module]");
  return import(script ? script.src : new URL("./player/index.js", import.meta.url).href);
}

async function showPlayer(el, video) {
  const box = el.querySelector(".player");
  if (!box || box.querySelector("video") || box.dataset.booting) return;
  box.dataset.booting = "true";
  try {
    // a video that is not public: its media URLs carry a link token only the page's own
    // request for the video gets (events are the same for every client)
    if (!video) {
      const response = await fetch(`/api/v1/videos/${encodeURIComponent(el.dataset.videoId)}`);
      if (!response.ok) return;
      video = await response.json();
    }
    const { createPlayerElement, bootPlayer } = await playerModule();
    const root = createPlayerElement(video);
    box.replaceChildren(root);
    bootPlayer(root);
  } finally {
    delete box.dataset.booting;
  }
}

// The card's or page's line of the given class, made under the not-ready box if missing.
function noteLine(el, className) {
  let p = el.querySelector(`.${className}`);
  if (!p) {
    p = document.createElement("p");
    p.className = className;
    (el.querySelector(".not-ready") || el).append(p);
  }
  return p;
}

function showFailure(el, message) {
  const p = noteLine(el, "error");
  p.textContent = watchPage ? `This video could not be processed: ${message}` : message;
  el.querySelectorAll("progress").forEach((bar) => bar.remove());
}

// Something worth knowing that does not stop the transcode (a hardware encoder that fell
// back to software, no worker taking the job); the newest one is shown, on the watch page.
function showWarning(el, message) {
  if (el !== watchPage) return;
  const p = noteLine(el, "warning");
  p.setAttribute("role", "status");
  p.textContent = message;
}

function clearWarning(el) {
  el.querySelectorAll(".warning").forEach((p) => p.remove());
}

function showReadyCard(el, video) {
  el.querySelectorAll("progress").forEach((bar) => bar.remove());
  const thumb = el.querySelector(".thumb");
  if (thumb && video.poster_url && !thumb.querySelector("img")) {
    const img = document.createElement("img");
    img.src = video.poster_url;
    img.alt = "";
    thumb.prepend(img);
  }
}

function apply(event) {
  for (const el of cards().filter((c) => c.dataset.videoId === event.video_id)) {
    const video = event.video;
    if (event.type === "video.progress") {
      if (el.dataset.status !== "processing") setStatus(el, "processing");
      setProgress(el, event.percent);
    } else if (event.type === "video.processing") {
      setStatus(el, "processing");
      clearWarning(el);
    } else if (event.type === "video.warning") {
      showWarning(el, event.message);
    } else if (event.type === "video.queued") {
      setStatus(el, "queued");
      setProgress(el, 0);
    } else if (event.type === "video.ready" || (event.type === "video.state" && video.status === "ready")) {
      setStatus(el, "ready");
      clearWarning(el);
      if (el === watchPage) showPlayer(el, video.privacy === "public" ? video : null);
      else showReadyCard(el, video);
    } else if (event.type === "video.failed") {
      if (event.final) { setStatus(el, "failed"); showFailure(el, event.error); }
      else setStatus(el, "queued");
    } else if (event.type === "video.state") {
      setStatus(el, video.status);
      setProgress(el, video.progress);
      if (video.status === "failed") showFailure(el, video.error);
    }
  }
}

let delay = 500;
function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/api/v1/events`);
  ws.addEventListener("open", () => {
    delay = 500;
    ws.send(JSON.stringify({ type: "subscribe", video_id: watchPage ? watchPage.dataset.videoId : null }));
  });
  ws.addEventListener("message", (m) => {
    const event = JSON.parse(m.data);
    if (event.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
    else apply(event);
  });
  ws.addEventListener("close", () => {
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  });
}

if (cards().some((el) => el.dataset.status !== "ready")) connect();
