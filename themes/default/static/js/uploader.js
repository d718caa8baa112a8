// The upload page: drop or pick several files; each uploads with tus (resumable across
// reloads and dropped connections), with progress, speed, pause/resume and clear errors.
import { Upload } from "./tus.js";

const root = document.querySelector("[data-uploader]");
const endpoint = root.dataset.endpoint;
const maxSize = Number(root.dataset.maxSize || 0);
const list = root.querySelector(".uploads");
const input = root.querySelector("input[type=file]");
const drop = root.querySelector(".dropzone");
const VIDEO_EXT = /\.(mp4|m4v|mov|mkv|webm|avi|ts|mts|m2ts|flv|ogv|ogg|mpg|mpeg|wmv|3gp)$/i;

function human(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i += 1; }
  return `${bytes.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function row(file) {
  const li = document.createElement("li");
  li.className = "upload";
  li.innerHTML = `<span class="name"></span>
    <progress max="100" value="0"></progress>
    <span class="stats" aria-live="polite"></span>
    <button type="button" class="toggle">Pause</button>
    <span class="result"></span>`;
  li.querySelector(".name").textContent = file.name;
  list.append(li);
  return li;
}

function check(file) {
  if (!(file.type.startsWith("video/") || VIDEO_EXT.test(file.name))) {
    return `${file.name} does not look like a video file`;
  }
  if (maxSize && file.size > maxSize) {
    return `${file.name} is too large (${human(file.size)}; the limit is ${human(maxSize)})`;
  }
  if (file.size === 0) return `${file.name} is empty`;
  return null;
}

function add(file) {
  const li = row(file);
  const stats = li.querySelector(".stats");
  const result = li.querySelector(".result");
  const toggle = li.querySelector(".toggle");
  const problem = check(file);
  if (problem) {
    li.classList.add("failed");
    result.textContent = problem;
    toggle.remove();
    return;
  }
  const upload = new Upload(file, { endpoint, metadata: { title: file.name.replace(/\.[^.]+$/, "") } });
  let running = false;
  let retries = 0;
  upload.onProgress = (sent, total, speed) => {
    li.querySelector("progress").value = total ? (100 * sent) / total : 100;
    stats.textContent = `${human(sent)} of ${human(total)} · ${human(speed)}/s`;
  };
  const run = async () => {
    running = true;
    toggle.textContent = "Pause";
    li.classList.remove("failed", "paused");
    result.textContent = "";
    try {
      const videoId = await upload.start();
      li.classList.add("done");
      toggle.remove();
      result.innerHTML = "";
      const link = document.createElement("a");
      link.href = `/v/${encodeURIComponent(videoId)}`;
      link.textContent = "Uploaded — open the video";
      result.append(link);
    } catch (err) {
      running = false;
      if (err.status === -1) { li.classList.add("paused"); toggle.textContent = "Resume"; return; }
      if (err.status === 0 && retries < 8) {
        // dropped connection: try again with backoff, resuming from the server's offset
        retries += 1;
        result.textContent = `connection lost, retrying (${retries})…`;
        setTimeout(run, Math.min(30000, 500 * 2 ** retries));
        return;
      }
      li.classList.add("failed");
      toggle.textContent = "Retry";
      result.textContent = err.message;
    }
  };
  toggle.addEventListener("click", () => (running ? upload.pause() : run()));
  run();
}

input.addEventListener("change", () => { [...input.files].forEach(add); input.value = ""; });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  [...e.dataTransfer.files].forEach(add);
});
