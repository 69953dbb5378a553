// The sessions view: running live sessions (GET /api/v1/live) with their stats and a stop
// button (DELETE /api/v1/live/{id}), which ends the session for every viewer.

import { api, missing } from './api.js';
import { ago, bitrate, dateTime, h, pick, toast } from './dom.js';
import { codecLabel } from './player.js';
import { loadSessions, onChange, state } from './state.js';

const COLUMNS = ['Channel', 'Device', 'Codec', 'Resolution', 'FPS', 'Bitrate', 'Viewers', 'Transport', 'Started', ''];

export function sessionsView() {
  const tbody = h('tbody');
  const table = h('table', { class: 'sessions', id: 'sessions-table' },
    h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const message = h('p', { class: 'empty-note' });
  const wrap = h('div', { class: 'table-wrap' }, table);
  const summary = h('span', { class: 'summary', 'aria-live': 'polite' });
  const reload = h('button', { type: 'button', class: 'small', onclick: () => loadSessions() }, 'Reload');
  const root = h('section', { class: 'view', id: 'view-sessions', 'aria-labelledby': 'tab-sessions' },
    h('div', { class: 'toolbar' }, h('h2', {}, 'Live sessions'), summary, reload),
    wrap,
    message);

  function channelLabel(s) {
    const id = pick(s, 'channel_id', 'channel.channel_id');
    const known = state.channels.get(pick(s, 'device_id', 'channel.device_id'));
    const ch = known && known.items.find((c) => c.channel_id === id);
    const name = pick(s, 'channel_name', 'name', 'channel.name') || (ch && ch.name);
    return name && name !== id ? `${name} (${id})` : id || '—';
  }

  function deviceLabel(s) {
    const id = pick(s, 'device_id', 'channel.device_id');
    const d = id && state.devices.get(id);
    return d && d.name ? `${d.name} (${id})` : id || '—';
  }

  async function stop(s) {
    try {
      await api(`/api/v1/live/${encodeURIComponent(s.session_id)}`, { method: 'DELETE' });
      toast(`Stopped ${channelLabel(s)}`);
    } catch (e) {
      toast(missing(e) ? 'Stopping sessions is not available on this server yet.' : `Cannot stop: ${e.message}`, 'error');
    }
    loadSessions();
  }

  function render() {
    if (state.sessionsError === 'missing') {
      tbody.replaceChildren();
      wrap.hidden = true;
      message.hidden = false;
      message.textContent = 'Live sessions are not available on this server yet.';
      summary.textContent = '';
      return;
    }
    wrap.hidden = !state.sessions.length;
    message.hidden = !!state.sessions.length;
    message.textContent = state.sessionsError ? `Cannot load sessions: ${state.sessionsError}` : state.sessionsLoaded ? 'No live sessions. Play a channel in the Live view to start one.' : 'Loading…';
    summary.textContent = `${state.sessions.length} running`;
    tbody.replaceChildren(...state.sessions.map((s) => {
      const codec = pick(s, 'codec_string', 'codec', 'video.codec', 'media.codec');
      const w = pick(s, 'width', 'video.width', 'media.width');
      const hh = pick(s, 'height', 'video.height', 'media.height');
      const fps = pick(s, 'fps', 'video.fps', 'stats.fps', 'frame_rate');
      const bps = pick(s, 'bitrate_bps', 'bitrate', 'stats.bitrate_bps', 'bps') ?? (pick(s, 'bitrate_kbps') ? pick(s, 'bitrate_kbps') * 1000 : null);
      const started = pick(s, 'started_at', 'created_at', 'started');
      const td = (label, ...kids) => h('td', { 'data-label': label }, ...kids);
      return h('tr', { dataset: { sessionId: s.session_id } },
        td('Channel', h('span', { lang: 'zh' }, channelLabel(s))),
        td('Device', h('span', { lang: 'zh' }, deviceLabel(s))),
        td('Codec', codec ? h('span', { title: String(codec) }, codecLabel(String(codec))) : '—'),
        td('Resolution', w && hh ? `${w}×${hh}` : '—'),
        td('FPS', fps !== undefined ? Number(fps).toFixed(0) : '—'),
        td('Bitrate', bps ? bitrate(Number(bps)) : '—'),
        td('Viewers', String(pick(s, 'viewers', 'stats.viewers', 'viewer_count') ?? '—')),
        td('Transport', String(pick(s, 'transport', 'media_transport') ?? '—').replace(/_/g, ' ').toUpperCase()),
        td('Started', typeof started === 'number' ? h('span', { title: dateTime(started) }, ago(started)) : String(started ?? '—')),
        td('', h('button', { type: 'button', class: 'small danger', onclick: () => stop(s), 'aria-label': `Stop the session of ${channelLabel(s)}` }, 'Stop')));
    }));
  }

  onChange('sessions', render);
  onChange('devices', render);
  onChange('channels', render);
  // Stats change by the second: reload while this view is shown.
  setInterval(() => {
    if (!root.hidden && state.sessionsError !== 'missing') loadSessions();
  }, 2000);
  render();
  return {
    root,
    onShow() {
      loadSessions();
    },
  };
}
