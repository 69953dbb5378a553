// Who is logged in: GET /api/v1/me at start, POST /api/v1/login and /api/v1/logout. The
// session is an HttpOnly cookie the page never sees; the password goes from the login form
// straight into the login request and is kept nowhere. Other tabs of this browser hear of
// a login or logout here (BroadcastChannel; no credentials in the messages).

import { api } from './api.js';

export const session = {
  // Whether this server asks for a login (false also for servers without /api/v1/me).
  authEnabled: false,
  // {id, username, is_admin} when logged in; null with auth off or logged out.
  user: null,
};

const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('vigil.auth') : null;

// `fn('login' | 'logout')` when another tab logs in or out.
export function onOtherTab(fn) {
  if (channel) channel.onmessage = (ev) => fn(ev.data && ev.data.type);
}

function announce(type) {
  if (channel) channel.postMessage({ type });
}

// Asks the server who we are: true when the dashboard may be shown (logged in, or auth
// off), false when a login is needed.
export async function whoami() {
  try {
    const me = await api('/api/v1/me', { unauthorized: false });
    session.authEnabled = !!(me && me.auth_enabled);
    session.user = (me && me.user) || null;
    return true;
  } catch (e) {
    if (e.status === 401) {
      session.authEnabled = true;
      session.user = null;
      return false;
    }
    // No /me on this server (404/405), or it cannot be reached: show the dashboard, whose
    // views say what fails; a 401 later still brings the login view.
    session.user = null;
    return true;
  }
}

// Logs in; throws the ApiError of a refusal (401 wrong credentials, 429 too many tries).
export async function login(user, password) {
  const r = await api('/api/v1/login', { method: 'POST', body: { user, password }, unauthorized: false });
  session.authEnabled = true;
  session.user = (r && r.user) || { username: user };
  announce('login');
  return session.user;
}

// Ends the session on the server. A 401 means it had ended already; other failures throw
// (the session may still be valid, so the page must not pretend it is gone).
export async function logout() {
  try {
    await api('/api/v1/logout', { method: 'POST', unauthorized: false });
  } catch (e) {
    if (e.status !== 401) throw e;
  }
  session.user = null;
  announce('logout');
}

// After a stream failed to open (the browser does not tell a WebSocket's or an event
// stream's HTTP status): asks whether the session is still alive, so a dead one leads to
// the login view through the 401 handler.
export async function checkSession() {
  if (!session.authEnabled) return;
  try {
    await api('/api/v1/me');
  } catch {
    // A 401 is handled by the 401 handler; anything else is the stream's own trouble.
  }
}
