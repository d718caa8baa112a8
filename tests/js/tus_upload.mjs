// Upload one file with the real tus-js-client in Node; print {"url", "bytes"} as JSON.
// usage: node tus_upload.mjs ENDPOINT FILE CHUNK_SIZE [STOP_AFTER_BYTES] [RESUME_URL]
// $STREAMFORGE_TOKEN, when set, is sent as the API token (Authorization: Bearer).
import fs from "node:fs";
import * as tus from "tus-js-client";

const [endpoint, file, chunk, stopAfter, resumeUrl] = process.argv.slice(2);
const size = fs.statSync(file).size;
const stopAt = stopAfter ? Number(stopAfter) : 0;

const upload = new tus.Upload(fs.createReadStream(file), {
  endpoint,
  uploadUrl: resumeUrl || null,
  uploadSize: size,
  chunkSize: Number(chunk),
  retryDelays: [0, 200, 500],
  headers: process.env.STREAMFORGE_TOKEN
    ? { Authorization: `Bearer ${process.env.STREAMFORGE_TOKEN}` }
    : {},
  metadata: { filename: file.split("/").pop(), title: "from tus-js-client (node)" },
  onProgress(sent) {
    if (stopAt && sent >= stopAt) {
      upload.abort().then(() => {
        console.log(JSON.stringify({ url: upload.url, stopped: true, bytes: sent }));
        process.exit(0);
      });
    }
  },
  onError(err) {
    console.error(String(err));
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, stopped: false, bytes: size }));
  },
});
upload.start();
