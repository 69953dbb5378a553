// The live view: a grid of 1, 4, 9 or 16 tiles and a channel picker. Playing a channel asks
// the server for a live session (joining a running one), then plays its WebSocket URL in a
// tile with a stats overlay. Closing a tile closes its WebSocket; the server stops a session
// when nobody watches.

import { api, items, missing, wsUrl } from './api.js';
import { checkSession } from './auth.js';
import { bitrate, h, pick, setText, toast } from './dom.js';
import { buildTree, channelName, renderTree } from './channels.js';
import { LivePlayer, codecLabel } from './player.js';
import { ptzPanel } from './ptz.js';
import { loadChannels, loadSessions, onChange, state } from './state.js';

const LAYOUTS = [1, 4, 9, 16];
const STATS_MS = 2000;
// Devices listed in the channel picker at most; the filter reaches the others.
const MAX_PICKER_DEVICES = 300;
// Up to this many devices, the picker filter loads every device's channels to search them.
const SEARCH_LOCAL_DEVICES = 50;

export function liveView() {
  let layout = Number(localStorage.getItem('vigil.layout')) || 4;
  if (!LAYOUTS.includes(layout)) layout = 4;
  let selected = 0;
  const tiles = [];

  const grid = h('div', { class: 'grid', id: 'live-grid', role: 'list', 'aria-label': 'Live tiles' });
  const layoutButtons = LAYOUTS.map((n) => h('button', {
    type: 'button',
    class: 'small layout',
    'aria-pressed': 'false',
    dataset: { layout: String(n) },
    title: `${n} tile${n > 1 ? 's' : ''}`,
    onclick: () => setLayout(n),
  }, `${n === 1 ? '1' : `${Math.sqrt(n)}×${Math.sqrt(n)}`}`));
  const stopAll = h('button', { type: 'button', class: 'small', onclick: () => { tiles.forEach((t) => t.stop()); select(0); } }, 'Close all');
  const pickerFilter = h('input', { type: 'search', placeholder: 'Filter channels', 'aria-label': 'Filter channels', autocomplete: 'off' });
  const picker = h('div', { class: 'picker-list' });
  const notice = h('div', { class: 'notice', hidden: true, role: 'alert' });
  const root = h('section', { class: 'view live', id: 'view-live', 'aria-labelledby': 'tab-live' },
    h('aside', { class: 'picker', 'aria-label': 'Channels' }, h('h2', {}, 'Channels'), pickerFilter, picker),
    h('div', { class: 'stage' },
      h('div', { class: 'toolbar' }, h('span', { class: 'label' }, 'Layout'), h('div', { class: 'seg', role: 'group', 'aria-label': 'Layout' }, layoutButtons), stopAll),
      notice,
      grid));

  // --- tiles ---
  function makeTile(i) {
    const video = h('video', { muted: true, playsInline: true, autoplay: true, disablePictureInPicture: true });
    video.muted = true;
    const name = h('span', { class: 'tile-name', lang: 'zh' });
    const close = h('button', { type: 'button', class: 'tile-close', 'aria-label': 'Stop this tile', title: 'Stop', onclick: (e) => { e.stopPropagation(); tile.stop(); } }, '✕');
    const stats = h('div', { class: 'tile-stats mono', 'aria-label': 'Stream statistics' });
    const msg = h('div', { class: 'tile-msg', role: 'status' }, 'Empty: pick a channel');
    const ptz = ptzPanel(() => name.textContent || `tile ${i + 1}`);
    const el = h('div', {
      class: 'tile empty',
      role: 'listitem',
      tabindex: '0',
      dataset: { slot: String(i) },
      'aria-label': `Tile ${i + 1}`,
      onclick: () => select(i),
      onfocus: () => select(i),
      onkeydown: (e) => {
        if ((e.key === 'Delete' || e.key === 'Backspace') && tile.channel) tile.stop();
      },
    }, video, h('div', { class: 'tile-head' }, name, ptz.toggle, close), stats, msg, ptz.panel);

    const tile = {
      el, video, channel: null, session: null, player: null, info: null,
      startedAt: 0, firstFrameMs: null, lastBytes: 0, lastFrames: 0, lastAt: 0, rate: null, fps: null,
      message(text, kind = '') {
        msg.textContent = text || '';
        msg.className = `tile-msg ${kind}`;
        msg.hidden = !text;
      },
      async play(ch, device) {
        this.stop();
        const token = (this.token = {});
        this.channel = ch;
        this.device = device;
        this.startedAt = performance.now();
        this.firstFrameMs = null;
        el.classList.remove('empty', 'ended');
        el.classList.add('active');
        el.dataset.channelId = ch.channel_id;
        el.dataset.state = 'starting';
        delete el.dataset.firstFrameMs;
        name.textContent = channelName(ch);
        name.title = `${channelName(ch)} (${ch.channel_id})`;
        el.setAttribute('aria-label', `Tile ${i + 1}: ${channelName(ch)}`);
        ptz.attach(ch);
        this.message('Starting…');
        let live;
        try {
          live = await api(`/api/v1/channels/${encodeURIComponent(ch.channel_id)}/live`, { method: 'POST' });
        } catch (e) {
          if (this.token !== token) return;
          this.end(missing(e) ? 'Live view is not available on this server yet.' : `Cannot start live view: ${e.message}`, 'error');
          return;
        }
        if (this.token !== token) return;
        this.session = live.session_id;
        el.dataset.sessionId = live.session_id;
        const url = wsUrl(pick(live, 'urls.ws') || `/live/${encodeURIComponent(live.session_id)}/ws`);
        this.message('Connecting…');
        this.player = new LivePlayer(video, url, {
          onInfo: (info) => {
            this.info = info;
            el.dataset.codec = info.codec;
            this.message('Waiting for video…');
          },
          onUnsupported: (codec) => {
            el.dataset.state = 'unsupported';
            const what = codec ? `${codecLabel(codec)} (${codec})` : 'this codec';
            this.end(`This browser cannot play ${what}.${/^(hvc1|hev1)/.test(codec || '') ? ' Use a browser with H.265 support, or the HLS/MP4 URL in a player such as VLC.' : ''}`, 'error');
          },
          onFirstFrame: () => {
            this.firstFrameMs = Math.round(performance.now() - this.startedAt);
            el.dataset.firstFrameMs = String(this.firstFrameMs);
            el.dataset.state = 'playing';
            this.message('');
          },
          onEnd: (text, detail) => {
            this.end(text);
            // The browser hides a refused WebSocket's status: a dead login shows as 401 here.
            if (detail && !detail.opened) checkSession();
          },
          onStall: (stalled) => this.message(stalled ? 'No video from the camera…' : '', stalled ? 'warn' : ''),
        });
        this.player.start();
        ensureStatsTimer();
      },
      end(text, kind = '') {
        if (this.player) this.player.close();
        el.dataset.state = el.dataset.state === 'unsupported' ? 'unsupported' : 'ended';
        el.classList.add('ended');
        this.message(text, kind || 'ended');
      },
      stop() {
        this.token = null;
        ptz.detach();
        if (this.player) this.player.destroy();
        this.player = null;
        this.channel = null;
        this.session = null;
        this.info = null;
        this.rate = this.fps = null;
        el.className = 'tile empty';
        if (selected === i) el.classList.add('selected');
        delete el.dataset.channelId;
        delete el.dataset.sessionId;
        delete el.dataset.codec;
        delete el.dataset.firstFrameMs;
        el.dataset.state = 'empty';
        name.textContent = '';
        stats.textContent = '';
        el.setAttribute('aria-label', `Tile ${i + 1}`);
        this.message('Empty: pick a channel');
      },
      // Server stats when the server has them, else what this browser measures.
      updateStats(server) {
        if (!this.player || !this.channel) return;
        const now = performance.now();
        const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
        const frames = q ? q.totalVideoFrames : 0;
        if (this.lastAt) {
          const dt = (now - this.lastAt) / 1000;
          if (dt > 0.5) {
            this.rate = ((this.player.bytes - this.lastBytes) * 8) / dt;
            this.fps = (frames - this.lastFrames) / dt;
          }
        }
        this.lastAt = now;
        this.lastBytes = this.player.bytes;
        this.lastFrames = frames;
        const s = server || {};
        const codec = pick(s, 'codec_string', 'codec', 'video.codec', 'media.codec') || (this.info && this.info.codec);
        const w = pick(s, 'width', 'video.width', 'media.width') || video.videoWidth || (this.info && this.info.width);
        const hgt = pick(s, 'height', 'video.height', 'media.height') || video.videoHeight || (this.info && this.info.height);
        const fps = pick(s, 'fps', 'video.fps', 'stats.fps', 'frame_rate') ?? this.fps;
        const bps = pick(s, 'bitrate_bps', 'bitrate', 'stats.bitrate_bps', 'bps') ?? (pick(s, 'bitrate_kbps') ? pick(s, 'bitrate_kbps') * 1000 : this.rate);
        const viewers = pick(s, 'viewers', 'stats.viewers', 'viewer_count');
        const lag = this.player.lag();
        const parts = [
          codec ? codecLabel(String(codec)) : null,
          w && hgt ? `${w}×${hgt}` : null,
          Number.isFinite(Number(fps)) && fps !== null ? `${Number(fps).toFixed(0)} fps` : null,
          bps ? bitrate(Number(bps)) : null,
          viewers !== undefined ? `${viewers} viewer${Number(viewers) === 1 ? '' : 's'}` : null,
          lag !== null && lag > 0.8 ? `${lag.toFixed(1)} s behind` : null,
          this.firstFrameMs !== null ? `first frame ${this.firstFrameMs} ms` : null,
        ].filter(Boolean);
        setText(stats, parts.join(' · '));
        stats.title = codec ? String(codec) : '';
      },
    };
    return tile;
  }

  function select(i) {
    selected = i;
    tiles.forEach((t, j) => t.el.classList.toggle('selected', j === i));
  }

  function setLayout(n) {
    layout = n;
    localStorage.setItem('vigil.layout', String(n));
    while (tiles.length < n) tiles.push(makeTile(tiles.length));
    for (let i = n; i < tiles.length; i++) tiles[i].stop();
    grid.replaceChildren(...tiles.slice(0, n).map((t) => t.el));
    grid.dataset.layout = String(n);
    layoutButtons.forEach((b) => b.setAttribute('aria-pressed', String(Number(b.dataset.layout) === n)));
    if (selected >= n) select(0);
    else select(selected);
  }

  // The selected tile when it is empty, else the first empty one, else the selected one.
  function play(ch, device) {
    const visible = tiles.slice(0, layout);
    let i = visible[selected] && !visible[selected].channel ? selected : visible.findIndex((t) => !t.channel);
    if (i < 0) i = selected;
    visible[i].play(ch, device);
    const next = visible.findIndex((t, j) => j > i && !t.channel);
    select(next >= 0 ? next : i);
  }

  // --- stats ---
  let statsTimer = null;
  function ensureStatsTimer() {
    if (statsTimer) return;
    statsTimer = setInterval(async () => {
      const active = tiles.filter((t) => t.player);
      if (!active.length) {
        clearInterval(statsTimer);
        statsTimer = null;
        return;
      }
      if (state.sessionsError !== 'missing') await loadSessions();
      updateAllStats();
    }, STATS_MS);
  }

  function updateAllStats() {
    const bySession = new Map(state.sessions.map((s) => [s.session_id, s]));
    for (const t of tiles) if (t.player) t.updateStats(bySession.get(t.session));
  }

  // --- channel picker ---
  const open = new Set();
  let rendered = null;
  // What the picker shows, so updates that change nothing do not rebuild it under the
  // user's pointer.
  function pickerSignature(f) {
    const parts = [f, [...open].join()];
    for (const d of state.devices.values()) {
      const e = state.channels.get(d.device_id);
      parts.push(d.device_id, d.name, d.online, e ? `${e.loading}|${e.error}|${e.items.map((c) => `${c.channel_id}:${c.name}:${c.online}:${c.removed_at}`).join()}` : '-');
    }
    return JSON.stringify(parts);
  }
  function renderPicker() {
    const f = pickerFilter.value.trim().toLowerCase();
    if (search && f && search.q.toLowerCase() === f) {
      if (rendered !== search) renderSearch();
      rendered = search;
      return;
    }
    const sig = pickerSignature(f);
    if (sig === rendered) return;
    rendered = sig;
    const nodes = [];
    let listed = 0;
    let more = 0;
    for (const d of state.devices.values()) {
      const entry = state.channels.get(d.device_id);
      const isOpen = open.has(d.device_id) || !!f;
      const devMatch = !f || (d.name || '').toLowerCase().includes(f) || d.device_id.includes(f);
      const chMatch = entry && entry.items.some((c) => channelName(c).toLowerCase().includes(f) || c.channel_id.includes(f));
      if (f && !devMatch && !chMatch) continue;
      if (listed >= MAX_PICKER_DEVICES) {
        more++;
        continue;
      }
      listed++;
      const head = h('button', {
        type: 'button',
        class: `picker-device ${d.online ? '' : 'offline'}`,
        'aria-expanded': String(isOpen),
        dataset: { deviceId: d.device_id },
        onclick: () => {
          if (open.has(d.device_id)) open.delete(d.device_id);
          else {
            open.add(d.device_id);
            if (!state.channels.has(d.device_id)) loadChannels(d.device_id);
          }
          renderPicker();
        },
      }, h('span', { class: 'chev', 'aria-hidden': 'true' }, isOpen ? '▾' : '▸'), h('span', { class: `dot ${d.online ? 'on' : 'off'}`, 'aria-hidden': 'true' }), h('span', { class: 'name', lang: 'zh' }, d.name || d.device_id));
      const box = h('div', { class: 'picker-group' }, head);
      if (isOpen) {
        if (!entry || (entry.loading && !entry.items.length)) box.append(h('p', { class: 'muted small-text' }, 'Loading…'));
        else if (entry.error) box.append(h('p', { class: 'notice inline' }, entry.error));
        else if (!entry.items.length) box.append(h('p', { class: 'muted small-text' }, 'No channels'));
        else box.append(renderTree(buildTree(entry.items, d.device_id), { onPlay: (c) => play(c, d), filter: devMatch ? '' : f, deviceOnline: !!d.online }));
      }
      nodes.push(box);
    }
    if (more) nodes.push(h('p', { class: 'muted small-text' }, `${more} more device${more === 1 ? '' : 's'}: filter to find them.`));
    if (!nodes.length) nodes.push(h('p', { class: 'muted small-text' }, state.devices.size ? 'No match.' : 'No devices.'));
    // Keep keyboard focus on the same control across re-renders.
    const focused = document.activeElement && picker.contains(document.activeElement) ? focusKey(document.activeElement) : null;
    picker.replaceChildren(...nodes);
    if (focused) {
      const again = picker.querySelector(focused);
      if (again) again.focus();
    }
  }
  function focusKey(el) {
    const dev = el.closest('[data-device-id]');
    if (el.classList.contains('picker-device') && dev) return `.picker-device[data-device-id="${dev.dataset.deviceId}"]`;
    const ch = el.closest('[data-channel-id]');
    if (ch) return `[data-channel-id="${ch.dataset.channelId}"] > .ch-play`;
    return null;
  }

  // Filtering by channel name: a few devices' channel lists are loaded whole; with many
  // devices the server searches (GET /api/v1/channels?q=) and the matches are shown flat.
  let searchTimer = null;
  let search = null; // {q, items, total} of the last server search
  pickerFilter.addEventListener('input', () => {
    const q = pickerFilter.value.trim();
    clearTimeout(searchTimer);
    if (state.devices.size <= SEARCH_LOCAL_DEVICES || !q) {
      search = null;
      if (q) for (const d of state.devices.values()) if (!state.channels.has(d.device_id)) loadChannels(d.device_id);
      renderPicker();
      return;
    }
    searchTimer = setTimeout(async () => {
      try {
        const data = await api(`/api/v1/channels?q=${encodeURIComponent(q)}&per_page=100`);
        search = { q, items: items(data), total: Number(data && data.total) || 0 };
      } catch (e) {
        search = { q, items: [], total: 0, error: missing(e) ? 'Channel search is not available on this server yet.' : e.message };
      }
      rendered = null;
      renderPicker();
    }, 250);
  });

  function renderSearch() {
    const nodes = [];
    if (search.error) nodes.push(h('p', { class: 'notice inline' }, search.error));
    else if (!search.items.length) nodes.push(h('p', { class: 'muted small-text' }, 'No channel matches.'));
    for (const c of search.items) {
      const d = state.devices.get(c.device_id) || { device_id: c.device_id, online: true };
      const online = c.online !== false && d.online && !c.removed_at;
      nodes.push(h('div', { class: `ch ${online ? '' : 'offline'}`, dataset: { channelId: c.channel_id } },
        h('button', { type: 'button', class: 'ch-play', 'aria-label': `Play ${channelName(c)}`, onclick: () => play(c, d) },
          h('span', { class: 'play-icon', 'aria-hidden': 'true' }, '▶'),
          h('span', { class: 'ch-label' },
            h('span', { class: `dot ${online ? 'on' : 'off'}`, 'aria-hidden': 'true' }),
            h('span', { class: 'ch-name', lang: 'zh' }, channelName(c)),
            h('span', { class: 'ch-id muted', lang: 'zh' }, d.name || c.device_id)))));
    }
    if (search.total > search.items.length) nodes.push(h('p', { class: 'muted small-text' }, `${search.total - search.items.length} more: type more of the name.`));
    picker.replaceChildren(...nodes);
  }
  // Open the first online device so there is something to click.
  let autoOpened = false;
  function autoOpen() {
    if (autoOpened || open.size || root.hidden) return;
    const first = [...state.devices.values()].find((d) => d.online);
    if (!first) return;
    autoOpened = true;
    open.add(first.device_id);
    if (!state.channels.has(first.device_id)) loadChannels(first.device_id);
  }
  onChange('devices', () => {
    autoOpen();
    // Open devices whose channels are not known (forgotten at a logout): ask again.
    for (const id of open) if (state.devices.has(id) && !state.channels.has(id)) loadChannels(id);
    renderPicker();
  });
  onChange('channels', renderPicker);

  setLayout(layout);
  renderPicker();

  return {
    root,
    play,
    tiles: () => tiles.slice(0, layout),
    // Stops every tile (after a logout), which closes their WebSockets.
    closeAll() {
      tiles.forEach((t) => t.stop());
      select(0);
    },
    showNotice(text) {
      notice.hidden = !text;
      notice.textContent = text || '';
    },
    onShow() {
      autoOpen();
      renderPicker();
    },
  };
}
