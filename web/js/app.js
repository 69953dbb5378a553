// The dashboard's entry point: the header with tabs (Devices, Live, Sessions; the URL hash
// says which), the connection indicator, alarms, the account (user name, Log out), and the
// event feed that keeps every view current. When the server asks for a login (GET /api/v1/me
// answers 401, or any request does later) the login view replaces the dashboard; the hash
// is left alone, so after the login the user lands where they were headed.

import { api, credentialsChanged, onUnauthorized } from './api.js';
import { alarmsControl } from './alarms.js';
import { checkSession, logout, onOtherTab, session, whoami } from './auth.js';
import { h, setText, toast } from './dom.js';
import { devicesView } from './devices.js';
import { feed } from './events.js';
import { liveView } from './live.js';
import { loginView } from './login.js';
import { sessionsView } from './sessions.js';
import { loadDevices, loadSessions, resetState } from './state.js';

const main = document.getElementById('main');
const conn = document.getElementById('conn');
const version = document.getElementById('version');
const nav = document.querySelector('nav[role="tablist"]');
const account = document.getElementById('account');
const accountUser = document.getElementById('account-user');
const logoutButton = document.getElementById('logout');
const alarms = alarmsControl();
alarms.root.hidden = true;
account.before(alarms.root);

const live = liveView();
const views = {
  devices: devicesView({
    onPlay: (channel, device) => {
      location.hash = '#/live';
      live.play(channel, device);
    },
  }),
  live,
  sessions: sessionsView(),
};
for (const v of Object.values(views)) {
  v.root.hidden = true;
  main.append(v.root);
}

const login = loginView({ onLoggedIn: () => signedIn() });
login.root.hidden = true;
main.append(login.root);

// 'loading' until /api/v1/me answers, then 'in' (dashboard) or 'out' (login view).
let mode = 'loading';

const tabs = [...document.querySelectorAll('[role="tab"]')];

function show() {
  if (mode !== 'in') return;
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1];
  const current = views[name] ? name : 'devices';
  for (const [k, v] of Object.entries(views)) v.root.hidden = k !== current;
  for (const t of tabs) {
    const on = t.dataset.view === current;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
  }
  document.title = `${{ devices: 'Devices', live: 'Live', sessions: 'Sessions' }[current]} · vigil`;
  if (views[current].onShow) views[current].onShow();
}

// Arrow keys move between tabs (WAI-ARIA tabs pattern).
document.querySelector('[role="tablist"]').addEventListener('keydown', (e) => {
  const i = tabs.indexOf(document.activeElement);
  if (i < 0) return;
  let j = null;
  if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
  if (e.key === 'ArrowLeft') j = (i + tabs.length - 1) % tabs.length;
  if (e.key === 'Home') j = 0;
  if (e.key === 'End') j = tabs.length - 1;
  if (j === null) return;
  e.preventDefault();
  tabs[j].focus();
  tabs[j].click();
});

window.addEventListener('hashchange', show);

feed.onMode((mode) => {
  const text = { live: 'Live', polling: 'Polling', reconnecting: 'Reconnecting…', connecting: 'Connecting…' }[mode] || mode;
  conn.dataset.mode = mode;
  setText(conn.querySelector('.conn-text'), text);
  conn.title = mode === 'live'
    ? 'Updates arrive as they happen (server-sent events)'
    : mode === 'polling'
      ? 'This server has no event stream: the lists are reloaded every 2 s'
      : 'Connecting to the event stream';
});

// The dashboard, for the user `session` names (none with auth off).
function signedIn() {
  const fromLogin = mode === 'out';
  mode = 'in';
  credentialsChanged();
  login.root.hidden = true;
  nav.hidden = false;
  conn.hidden = false;
  alarms.root.hidden = false;
  const user = session.authEnabled && session.user;
  account.hidden = !user;
  setText(accountUser, user ? user.username : '');
  accountUser.title = user && user.is_admin ? 'Administrator' : '';
  show();
  if (fromLogin) main.focus();
  loadDevices();
  loadSessions();
  feed.start();
}

// The login view, with `reason` above the form. Everything that talks to the server stops
// (event stream, polling, live tiles) and what the last user saw is forgotten.
const SESSION_ENDED = 'Your session has ended. Log in again.';
const OTHER_TAB = 'You logged out in another tab.';
let outReason = '';

function signedOut(reason) {
  if (mode === 'out') return;
  mode = 'out';
  outReason = reason;
  session.user = null;
  feed.stop();
  live.closeAll();
  resetState();
  for (const v of Object.values(views)) v.root.hidden = true;
  nav.hidden = true;
  conn.hidden = true;
  alarms.close();
  alarms.root.hidden = true;
  account.hidden = true;
  setText(accountUser, '');
  login.root.hidden = false;
  document.title = 'Log in · vigil';
  login.show(reason);
}

// The server ended the event stream because our session ended (logged out elsewhere,
// expired, password changed): the 401 that follows brings the login view.
feed.on((type) => {
  if (type === 'credentials_ended' && mode === 'in') checkSession();
});

onUnauthorized(() => {
  if (mode === 'in') signedOut(SESSION_ENDED);
});

logoutButton.addEventListener('click', async () => {
  logoutButton.disabled = true;
  try {
    await logout();
    signedOut('You are logged out.');
  } catch (e) {
    toast(`Cannot log out: ${e.message}`, 'error');
  } finally {
    logoutButton.disabled = false;
  }
});

// Another tab of this browser logged out (same cookie): so are we. It logged in: so are we.
onOtherTab(async (type) => {
  if (type === 'logout' && mode === 'in' && session.authEnabled) signedOut(OTHER_TAB);
  // The server may end our event stream before the other tab's message arrives: the
  // login view then said "session ended"; the message names the cause once it is known.
  else if (type === 'logout' && mode === 'out' && outReason === SESSION_ENDED) {
    outReason = OTHER_TAB;
    login.show(OTHER_TAB);
  }
  if (type === 'login' && mode === 'out' && (await whoami())) signedIn();
});

api('/api/v1/health')
  .then((hl) => setText(version, hl && hl.version ? `v${hl.version}` : ''))
  .catch(() => {});

// For tests and the curious: the running views.
window.vigil = { views, feed, session, h };

if (await whoami()) signedIn();
else signedOut();
