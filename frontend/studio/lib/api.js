// JSON calls to the studio's server (contract in /work/briefs/studio-common.md, owned by the studio app):
// every POST carries the CSRF token; errors answer {"error": "<code>", "message": "<italiano>"}.

function csrfToken() {
  // base.html puts the token in <body hx-headers='{"X-CSRFToken": "..."}'> for htmx: the same one.
  try {
    const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    if (headers["X-CSRFToken"]) { return headers["X-CSRFToken"]; }
  } catch (_) { /* fall through to the cookie */ }
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || "error";
  }
}

async function answer(response) {
  let body = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try { body = await response.json(); } catch (_) { body = null; }
  }
  if (!response.ok) {
    const message = body && (body.message || (body.error && body.error.message));
    const code = body && (typeof body.error === "string" ? body.error : body.error && body.error.code);
    throw new ApiError(message || `Il server ha risposto con l'errore ${response.status}.`, code || `http_${response.status}`);
  }
  return body;
}

export async function getText(url, params) {
  const target = new URL(url, window.location.href);
  Object.entries(params || {}).forEach(([key, value]) => target.searchParams.set(key, value));
  const response = await fetch(target, { credentials: "same-origin", headers: { Accept: "text/plain, application/json" } });
  if (!response.ok) { await answer(response); }
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("application/json")) {
    // A server may wrap the text: {"content": "..."}.
    const body = await response.json();
    return typeof body === "string" ? body : body.content;
  }
  return response.text();
}

export async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  return answer(response);
}

export async function postJSON(url, payload, { signal } = {}) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    signal,
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(payload),
  });
  return answer(response);
}
