// The admin page's Retry buttons: POST /api/v1/jobs/{id}/retry, then show the job queued.

import { csrfHeaders } from "./csrf.js";

const message = document.querySelector(".admin-message");

function say(text, failed = false) {
  if (!message) return;
  message.textContent = text;
  message.classList.toggle("error", failed);
}

async function retry(button) {
  const row = button.closest("tr");
  button.disabled = true;
  const response = await fetch(`/api/v1/jobs/${encodeURIComponent(button.dataset.retryJob)}/retry`, {
    method: "POST",
    headers: { Accept: "application/json", ...csrfHeaders() },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    button.disabled = false;
    say(body.error ? body.error.message : `Retry failed (${response.status})`, true);
    return;
  }
  row.className = row.className.replace(/\bstate-\w+/, `state-${body.state}`);
  row.querySelector(".state").textContent = body.state;
  row.cells[2].textContent = `${body.attempts} / ${body.max_attempts}`;
  button.remove();
  say(`Job ${body.id} is queued again.`);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-retry-job]");
  if (button) retry(button).catch((error) => {
    button.disabled = false;
    say(`Retry failed: ${error.message}`, true);
  });
});
