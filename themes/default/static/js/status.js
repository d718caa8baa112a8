// Refreshes videos that are still queued or processing. A poll for now; live updates over
// the WebSocket replace it later. No build step: a plain ES module.
const POLL_MS = 3000;

function pending() {
  return [...document.querySelectorAll("[data-video-id]")].filter((el) =>
    ["queued", "processing", "uploading"].includes(el.dataset.status),
  );
}

async function refresh() {
  const items = pending();
  for (const el of items) {
    const res = await fetch(`/api/v1/videos/${encodeURIComponent(el.dataset.videoId)}`);
    if (!res.ok) continue;
    const video = await res.json();
    if (video.status !== el.dataset.status && ["ready", "failed"].includes(video.status)) {
      window.location.reload();
      return;
    }
    el.querySelectorAll("progress").forEach((p) => { p.value = video.progress; });
    el.querySelectorAll(".progress-text").forEach((t) => {
      t.textContent = `${Math.round(video.progress)}%`;
    });
  }
  if (pending().length) setTimeout(refresh, POLL_MS);
}

if (pending().length) setTimeout(refresh, POLL_MS);
