// Edit, poster and delete on the video page. The form PATCHes /api/v1/videos/{id} and updates the
// page in place (the player keeps playing); Delete asks first, DELETEs, then goes to the
// library. A chosen poster image is PUT as it is (the server re-encodes it). The section
// stays hidden without JavaScript: the page is then read-only.

import { csrfHeaders } from "./csrf.js";

const box = document.querySelector("[data-video-actions]");

function explain(body, status) {
  const error = body && body.error;
  if (!error) return `The server answered ${status}.`;
  const details = (error.details || []).map((d) => `${d.field}: ${d.message}`);
  return [error.message, ...details].join("; ");
}

async function send(url, method, data) {
  const file = data instanceof Blob;
  const response = await fetch(url, {
    method,
    headers: {
      Accept: "application/json",
      ...csrfHeaders(),
      ...(data ? { "Content-Type": file ? data.type : "application/json" } : {}),
    },
    body: data && !file ? JSON.stringify(data) : data,
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(explain(body, response.status));
  return body;
}

function showVideo(video) {
  const heading = document.querySelector(".watch h1");
  if (heading) heading.textContent = video.title;
  const [, ...site] = document.title.split(" – ");
  document.title = [video.title, ...site].join(" – ");
  let description = document.querySelector(".watch .description");
  if (!description && video.description) {
    description = document.createElement("div");
    description.className = "description";
    box.before(description);
  }
  if (description) {
    description.textContent = video.description;
    description.hidden = !video.description;
  }
  box.querySelector("[name=title]").value = video.title;
}

if (box) {
  const url = `/api/v1/videos/${encodeURIComponent(box.dataset.videoActions)}`;
  const form = box.querySelector("form");
  const status = box.querySelector("[role=status]");
  const say = (text, failed = false) => {
    status.textContent = text;
    status.classList.toggle("error", failed);
  };
  box.hidden = false;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const save = form.querySelector("[type=submit]");
    save.disabled = true;
    say("Saving…");
    try {
      showVideo(await send(url, "PATCH", Object.fromEntries(new FormData(form))));
      say("Saved.");
    } catch (error) {
      say(`Not saved: ${error.message}`, true);
    } finally {
      save.disabled = false;
    }
  });

  const posterForm = box.querySelector(".video-poster");
  const showPoster = (video) => {
    const player = document.querySelector("video");
    if (player && video.poster_url) player.poster = video.poster_url;
  };
  posterForm?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [picture] = posterForm.querySelector("[name=poster]").files;
    if (!picture) return;
    say("Uploading the poster…");
    try {
      showPoster(await send(`${url}/poster`, "PUT", picture));
      say("Poster saved.");
      posterForm.reset();
    } catch (error) {
      say(`Poster not saved: ${error.message}`, true);
    }
  });
  posterForm?.querySelector("[data-reset-poster]").addEventListener("click", async () => {
    say("Restoring the generated poster…");
    try {
      showPoster(await send(`${url}/poster`, "DELETE"));
      say("The generated poster is back.");
    } catch (error) {
      say(`Not restored: ${error.message}`, true);
    }
  });

  const remove = box.querySelector("[data-delete-video]");
  remove.addEventListener("click", async () => {
    const title = document.querySelector(".watch h1")?.textContent || "this video";
    if (!window.confirm(`Delete “${title}” and all its files? This cannot be undone.`)) return;
    remove.disabled = true;
    say("Deleting…");
    try {
      await send(url, "DELETE");
      window.location.assign("/");
    } catch (error) {
      say(`Not deleted: ${error.message}`, true);
      remove.disabled = false;
    }
  });
}
