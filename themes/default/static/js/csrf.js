// The session's CSRF token, for requests that change something: the server refuses a
// cookie-authenticated POST, PATCH or DELETE without it (docs/accounts.md).
export function csrfHeaders() {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  return token ? { "X-CSRF-Token": token } : {};
}
