// The REST client: JSON in and out, errors as ApiError carrying the server's
// {"error": {"code", "message"}}. `missing(e)` tells "this server has no such endpoint yet"
// (a route 404 or 405) from "no such device" so views can say which it is.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(path, { method = 'GET', body, signal } = {}) {
  let r;
  try {
    r = await fetch(path, {
      method,
      signal,
      cache: 'no-store',
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
    throw new ApiError(r.status, err.code || `http_${r.status}`, err.message || r.statusText || `HTTP ${r.status}`);
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
