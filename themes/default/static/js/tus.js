// A small tus 1.0 client (creation, core, termination) for the uploader: plain ES module,
// no build step. Uses XMLHttpRequest because fetch() cannot report upload progress.

import { csrfHeaders } from "./csrf.js";

const TUS = { "Tus-Resumable": "1.0.0" };

function b64(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

export class UploadError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

function request(method, url, { headers = {}, body = null, onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    const all = { ...TUS, ...(method === "GET" || method === "HEAD" ? {} : csrfHeaders()), ...headers };
    for (const [k, v] of Object.entries(all)) xhr.setRequestHeader(k, v);
    if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => reject(new UploadError("network error", 0));
    xhr.onabort = () => reject(new UploadError("paused", -1));
    if (signal) signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

function errorFrom(xhr, fallback) {
  try {
    const body = JSON.parse(xhr.responseText);
    if (body && body.error && body.error.message) return new UploadError(body.error.message, xhr.status);
  } catch (_) { /* not JSON */ }
  return new UploadError(`${fallback} (HTTP ${xhr.status})`, xhr.status);
}

/** One file's upload. Events: onProgress(sent, total, bytesPerSecond), resumable via storage. */
export class Upload {
  constructor(file, { endpoint, metadata = {}, chunkSize = 8 * 1024 * 1024, storage = window.localStorage } = {}) {
    this.file = file;
    this.endpoint = endpoint;
    this.metadata = metadata;
    this.chunkSize = chunkSize;
    this.storage = storage;
    this.url = null;
    this.offset = 0;
    this.videoId = null;
    this.controller = null;
    this.onProgress = () => {};
    this.samples = [];
  }

  get fingerprint() {
    const f = this.file;
    return `streamforge-tus:${this.endpoint}:${f.name}:${f.size}:${f.lastModified}`;
  }

  async start() {
    this.controller = new AbortController();
    const signal = this.controller.signal;
    this.url = this.url || this.storage.getItem(this.fingerprint);
    if (this.url) {
      const head = await request("HEAD", this.url, { signal });
      if (head.status === 200) {
        this.offset = parseInt(head.getResponseHeader("Upload-Offset"), 10) || 0;
      } else {
        this.url = null; // expired or gone: start over
        this.storage.removeItem(this.fingerprint);
      }
    }
    if (!this.url) await this.create(signal);
    while (this.offset < this.file.size) await this.sendChunk(signal);
    this.storage.removeItem(this.fingerprint);
    if (!this.videoId) await this.fetchStatus(signal);
    return this.videoId;
  }

  async create(signal) {
    const meta = Object.entries({ filename: this.file.name, filetype: this.file.type, ...this.metadata })
      .filter(([, v]) => v)
      .map(([k, v]) => `${k} ${b64(String(v))}`)
      .join(",");
    const xhr = await request("POST", this.endpoint, {
      headers: { "Upload-Length": String(this.file.size), "Upload-Metadata": meta },
      signal,
    });
    if (xhr.status !== 201) throw errorFrom(xhr, "the server refused the upload");
    this.url = new URL(xhr.getResponseHeader("Location"), window.location.href).href;
    this.offset = 0;
    this.storage.setItem(this.fingerprint, this.url);
  }

  async sendChunk(signal) {
    const end = Math.min(this.offset + this.chunkSize, this.file.size);
    const start = this.offset;
    const xhr = await request("PATCH", this.url, {
      headers: { "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream" },
      body: this.file.slice(start, end),
      signal,
      onProgress: (loaded) => this.report(start + loaded),
    });
    if (xhr.status === 409) {
      // someone (an earlier tab, a dropped connection) moved the offset: ask the server
      const head = await request("HEAD", this.url, { signal });
      this.offset = parseInt(head.getResponseHeader("Upload-Offset"), 10) || 0;
      return;
    }
    if (xhr.status !== 204) throw errorFrom(xhr, "the upload failed");
    this.offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
    this.videoId = xhr.getResponseHeader("StreamForge-Video-Id") || this.videoId;
    this.report(this.offset);
  }

  async fetchStatus(signal) {
    const xhr = await request("GET", this.url, { signal, headers: { Accept: "application/json" } });
    if (xhr.status === 200) this.videoId = JSON.parse(xhr.responseText).video_id;
  }

  report(sent) {
    const now = performance.now();
    this.samples.push([now, sent]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
    const [t0, b0] = this.samples[0];
    const speed = now > t0 ? ((sent - b0) * 1000) / (now - t0) : 0;
    this.onProgress(sent, this.file.size, speed);
  }

  pause() {
    if (this.controller) this.controller.abort();
  }

  async cancel() {
    this.pause();
    if (this.url) await request("DELETE", this.url).catch(() => {});
    this.storage.removeItem(this.fingerprint);
  }
}
