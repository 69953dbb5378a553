// The REST client: JSON in and out, errors as ApiError carrying the server's
// {"error": {"code", "message"}}. `missing(e)` tells "this server has no such endpoint yet"
// (a route 404 or 405) from "no such device" so views can say which it is. Credentials are
// the session cookie, which same-origin requests carry by themselves; a 401 anywhere means
// the login is gone, and the handler set with `onUnauthorized` takes the user to the login
// view (requests that expect a 401, such as the login itself, pass `unauthorized: false`).

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    // Seconds to wait, from a 429's or 503's Retry-After (null when absent).
    this.retryAfter = retryAfter;
  }
}

let unauthorizedHandler = null;
// Counts logins: a 401 to a request sent before the latest login is about the old session
// and must not log the new one out.
let credentialsEpoch = 0;

export function credentialsChanged() {
  credentialsEpoch++;
}

// `fn(error)` runs on every 401 answer (at most once per answer).
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

// Tells the handler a 401 came by another way (an event stream or a WebSocket refused).
export function unauthorized(error) {
  if (unauthorizedHandler) unauthorizedHandler(error);
}

// Retry-After as seconds: delta-seconds or an HTTP date; null when absent or unreadable.
export function retryAfterSeconds(value, now = Date.now()) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

export async function api(path, { method = 'GET', body, signal, unauthorized: on401 = true } = {}) {
  const epoch = credentialsEpoch;
  let r;
  try {
    r = await fetch(path, {
      method,
      signal,
      cache: 'no-store',
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'cannot reach the server');
  }
  const text = await r.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!r.ok) {
    const err = data && data.error ? data.error : {};
    const e = new ApiError(r.status, err.code || `http_${r.status}`, err.message || r.statusText || `HTTP ${r.status}`,
      retryAfterSeconds(r.headers.get('retry-after')));
    if (r.status === 401 && on401 && epoch === credentialsEpoch) unauthorized(e);
    throw e;
  }
  return data;
}

// The server does not have this endpoint (older build, or a feature not landed yet).
export function missing(e) {
  return e instanceof ApiError && (e.status === 405 || (e.status === 404 && /no such route/i.test(e.message)));
}

// A list answer as an array, whether the server sends {items: [...]} or a bare array.
export function items(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.items)) return data.items;
  if (data && Array.isArray(data.sessions)) return data.sessions;
  return [];
}

// A WebSocket URL for a server-given URL: absolute ws(s):// kept, http(s):// and paths
// mapped onto this page's origin scheme.
export function wsUrl(url) {
  if (/^wss?:\/\//i.test(url)) return url;
  const u = new URL(url, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}
