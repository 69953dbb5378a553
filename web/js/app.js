// The dashboard's entry point: the header with tabs (Devices, Live, Sessions; the URL hash
// says which), the connection indicator, and the event feed that keeps every view current.

import { api } from './api.js';
import { h, setText } from './dom.js';
import { devicesView } from './devices.js';
import { feed } from './events.js';
import { liveView } from './live.js';
import { sessionsView } from './sessions.js';
import { loadDevices, loadSessions } from './state.js';

const main = document.getElementById('main');
const conn = document.getElementById('conn');
const version = document.getElementById('version');

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

const tabs = [...document.querySelectorAll('[role="tab"]')];

function show() {
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

api('/api/v1/health')
  .then((hl) => setText(version, hl && hl.version ? `v${hl.version}` : ''))
  .catch(() => {});

show();
loadDevices();
loadSessions();
feed.start();

// For tests and the curious: the running views.
window.vigil = { views, feed, h };
