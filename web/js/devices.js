// The devices view: every device with its state and registration details, search and an
// online filter, a catalog refresh with progress, each device's channel tree on expand, and
// a badge on devices that raised alarms since the page opened.
// Rows are keyed by device ID and updated in place, so focus and expansion survive updates.

import { api, missing } from './api.js';
import { ago, dateTime, h, setText, toast } from './dom.js';
import { buildTree, renderTree } from './channels.js';
import { alarmKind } from './alarms.js';
import { alarmsOf, catalogBusy, loadChannels, loadDevice, onChange, state } from './state.js';

// Rows rendered at most; the rest are reached by searching.
const MAX_ROWS = 500;

const COLUMNS = ['State', 'Name', 'Device ID', 'Manufacturer / model', 'Last seen', 'Address', 'Transport', 'Channels', 'Catalog'];

export function devicesView({ onPlay }) {
  const search = h('input', {
    type: 'search',
    id: 'device-search',
    placeholder: 'Search name or ID',
    'aria-label': 'Search devices by name or ID',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const filter = h('select', { id: 'device-filter', 'aria-label': 'Show devices' },
    h('option', { value: 'all' }, 'All devices'),
    h('option', { value: 'online' }, 'Online'),
    h('option', { value: 'offline' }, 'Offline'));
  const summary = h('span', { class: 'summary', 'aria-live': 'polite' });
  const message = h('div', { class: 'notice', hidden: true, role: 'alert' });
  const tbody = h('tbody');
  const table = h('table', { class: 'devices', id: 'devices-table' },
    h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const empty = h('p', { class: 'empty-note', hidden: true });
  const root = h('section', { class: 'view', id: 'view-devices', 'aria-labelledby': 'tab-devices' },
    h('div', { class: 'toolbar' }, search, filter, summary),
    message,
    h('div', { class: 'table-wrap' }, table),
    empty);

  const rows = new Map(); // device_id -> {tr, cells, detail}
  const expanded = new Set();
  const refreshing = new Set();

  const visible = (d) => {
    const q = search.value.trim().toLowerCase();
    const f = filter.value;
    if (f === 'online' && !d.online) return false;
    if (f === 'offline' && d.online) return false;
    return !q || (d.name || '').toLowerCase().includes(q) || d.device_id.includes(q);
  };

  function makeRow(d) {
    const id = d.device_id;
    const cells = {};
    const td = (key, label, ...kids) => (cells[key] = h('td', { class: `c-${key}`, 'data-label': label }, ...kids));
    const detailId = `dev-${id}-channels`;
    cells.expand = h('button', {
      type: 'button',
      class: 'expand',
      'aria-expanded': 'false',
      'aria-controls': detailId,
      onclick: () => toggle(id),
    }, h('span', { class: 'chev', 'aria-hidden': 'true' }, '▸'), cells.nameText = h('span', { class: 'name', lang: 'zh' }));
    cells.alarms = h('span', { class: 'alarm-badge', hidden: true });
    cells.stateText = h('span', { class: 'state-text' });
    cells.dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
    cells.progress = h('progress', { max: 1, value: 0, hidden: true });
    cells.catalogText = h('span', { class: 'catalog-text' });
    cells.refresh = h('button', {
      type: 'button',
      class: 'small',
      onclick: () => refreshCatalog(id),
      title: 'Ask the device for its catalog again',
    }, 'Refresh');
    const tr = h('tr', { class: 'device', dataset: { deviceId: id } },
      td('state', 'State', cells.dot, cells.stateText),
      td('name', 'Name', cells.expand, cells.alarms),
      td('id', 'Device ID', h('span', { class: 'mono' }, id)),
      td('model', 'Manufacturer / model'),
      td('seen', 'Last seen'),
      td('addr', 'Address'),
      td('transport', 'Transport'),
      td('channels', 'Channels'),
      td('catalog', 'Catalog', h('div', { class: 'catalog-cell' }, h('span', { class: 'catalog' }, cells.progress, cells.catalogText), cells.refresh)));
    const detailCell = h('td', { colspan: String(COLUMNS.length) });
    const detail = h('tr', { class: 'detail', id: detailId, hidden: true }, detailCell);
    const row = { tr, cells, detail, detailCell };
    rows.set(id, row);
    return row;
  }

  function updateRow(row, d) {
    const { tr, cells } = row;
    const online = !!d.online;
    tr.dataset.online = String(online);
    tr.classList.toggle('offline', !online);
    cells.dot.className = `dot ${online ? 'on' : 'off'}`;
    setText(cells.stateText, online ? 'Online' : 'Offline');
    setText(cells.nameText, d.name || 'unnamed');
    cells.nameText.classList.toggle('unnamed', !d.name);
    updateAlarms(row, d.device_id);
    setText(cells.model, [d.manufacturer, d.model].filter(Boolean).join(' / ') || '—');
    setText(cells.seen, d.last_seen ? ago(d.last_seen) : 'never');
    cells.seen.title = dateTime(d.last_seen);
    setText(cells.addr, d.source_addr || '—');
    setText(cells.transport, (d.registered_transport || '—').toUpperCase());
    cells.transport.title = d.transport ? `preferred: ${d.transport}` : '';
    const known = state.channels.get(d.device_id);
    const count = d.channel_count ?? (d.catalog_total || (known && !known.error ? known.total : null));
    setText(cells.channels, count === null || count === undefined ? '—' : String(count));
    const cs = d.catalog_state || 'never';
    const running = catalogBusy(cs) || refreshing.has(d.device_id);
    cells.progress.hidden = !running;
    if (running) {
      const total = Number(d.catalog_total) || 0;
      const got = Number(d.catalog_received) || 0;
      if (total > 0) {
        cells.progress.max = total;
        cells.progress.value = Math.min(got, total);
      } else {
        cells.progress.removeAttribute('value'); // indeterminate
      }
      setText(cells.catalogText, total > 0 ? `${got}/${total}` : cs === 'queued' ? 'queued…' : 'requesting…');
    } else {
      const label = { never: 'not synced', complete: 'complete', partial: 'partial', failed: 'failed' }[cs] || cs;
      setText(cells.catalogText, label);
      cells.catalogText.title = d.catalog_synced_at ? `synced ${dateTime(d.catalog_synced_at)}` : '';
    }
    cells.catalogText.className = `catalog-text cs-${cs}`;
    cells.refresh.disabled = running || !online;
    cells.refresh.setAttribute('aria-label', `Refresh the catalog of ${d.name || d.device_id}`);
    row.detail.hidden = !expanded.has(d.device_id);
  }

  function updateAlarms(row, id) {
    const list = alarmsOf(id);
    const badge = row.cells.alarms;
    badge.hidden = !list.length;
    if (!list.length) return;
    const n = list.length;
    setText(badge, `⚠ ${n}`);
    const text = `${n} alarm${n === 1 ? '' : 's'} since this page opened; the latest: ${alarmKind(list[0])}`;
    badge.title = text;
    badge.setAttribute('aria-label', text);
  }

  function renderDetail(id) {
    const row = rows.get(id);
    if (!row) return;
    const entry = state.channels.get(id);
    const d = state.devices.get(id);
    const body = [];
    if (!entry || (entry.loading && !entry.items.length)) body.push(h('p', { class: 'muted' }, 'Loading channels…'));
    else if (entry.error) body.push(h('p', { class: 'notice inline' }, entry.error));
    else if (!entry.items.length) body.push(h('p', { class: 'muted' }, 'No channels yet. Refresh the catalog to ask the device.'));
    else {
      if (entry.total > entry.items.length) body.push(h('p', { class: 'muted' }, `Showing ${entry.items.length} of ${entry.total} channels.`));
      body.push(renderTree(buildTree(entry.items, id), { onPlay: (c) => onPlay(c, d), deviceOnline: !!(d && d.online) }));
    }
    row.detailCell.replaceChildren(...body);
  }

  function toggle(id) {
    const row = rows.get(id);
    if (expanded.has(id)) expanded.delete(id);
    else {
      expanded.add(id);
      renderDetail(id);
      loadChannels(id);
    }
    row.cells.expand.setAttribute('aria-expanded', String(expanded.has(id)));
    row.detail.hidden = !expanded.has(id);
  }

  async function refreshCatalog(id) {
    const d = state.devices.get(id);
    refreshing.add(id);
    if (d) {
      d.catalog_state = 'running';
      d.catalog_received = 0;
      d.catalog_total = 0;
    }
    render();
    try {
      await api(`/api/v1/devices/${encodeURIComponent(id)}/catalog/refresh`, { method: 'POST' });
    } catch (e) {
      refreshing.delete(id);
      toast(missing(e) ? 'Catalog refresh is not available on this server yet.' : `Catalog refresh failed: ${e.message}`, 'error');
      await loadDevice(id);
      render();
      return;
    }
    // Progress comes from the device record (and catalog_* events when the server has them).
    const until = Date.now() + 120000;
    let seenRunning = false;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 1000));
      const cur = await loadDevice(id);
      if (!cur) break;
      if (catalogBusy(cur.catalog_state)) seenRunning = true;
      else if (seenRunning || Date.now() > until - 117000) break;
    }
    refreshing.delete(id);
    const cur = state.devices.get(id);
    render();
    if (expanded.has(id)) loadChannels(id);
    if (cur) toast(`Catalog of ${cur.name || id}: ${cur.catalog_state}, ${cur.catalog_received ?? 0} channel(s)`);
  }

  function render() {
    if (state.devicesError && !state.devices.size) {
      message.hidden = false;
      setText(message, `Cannot load devices: ${state.devicesError}`);
    } else {
      message.hidden = !state.devicesError;
      setText(message, state.devicesError ? `Showing the last known list; the server did not answer (${state.devicesError}).` : '');
    }
    const seen = new Set();
    let prev = null;
    let shown = 0;
    let matched = 0;
    let online = 0;
    for (const d of state.devices.values()) {
      if (d.online) online++;
      if (!visible(d)) continue;
      matched++;
      // Thousands of rows make the page slow to use: show the first ones, search for more.
      if (shown >= MAX_ROWS) continue;
      shown++;
      seen.add(d.device_id);
      const row = rows.get(d.device_id) || makeRow(d);
      updateRow(row, d);
      // Keep the server's order; move rows only when it changed.
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== row.tr) tbody.insertBefore(row.tr, want);
      if (row.tr.nextSibling !== row.detail) tbody.insertBefore(row.detail, row.tr.nextSibling);
      prev = row.detail;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        row.detail.remove();
        rows.delete(id);
        if (!state.devices.has(id)) expanded.delete(id);
      }
    }
    const total = state.devices.size;
    let text = `${total} device${total === 1 ? '' : 's'}, ${online} online`;
    if (matched !== total) text += `; ${matched} match`;
    if (shown < matched) text += `; showing the first ${shown}, search to narrow`;
    setText(summary, text);
    empty.hidden = !state.devicesLoaded || shown > 0 || (state.devicesError && !total);
    setText(empty, total ? 'No device matches.' : 'No devices yet. Point a camera at this server, or run `vigil demo`.');
  }

  search.addEventListener('input', render);
  filter.addEventListener('change', render);
  onChange('devices', render);
  onChange('alarms', (ev) => {
    for (const [id, row] of rows) if (!ev || ev.device_id === id) updateAlarms(row, id);
  });
  onChange('channels', (id) => {
    if (expanded.has(id)) renderDetail(id);
    const row = rows.get(id);
    const d = state.devices.get(id);
    if (row && d) updateRow(row, d);
  });
  // "12 s ago" keeps counting.
  setInterval(() => {
    if (root.isConnected && !root.hidden) {
      for (const [id, row] of rows) {
        const d = state.devices.get(id);
        if (d) setText(row.cells.seen, d.last_seen ? ago(d.last_seen) : 'never');
      }
    }
  }, 5000);

  render();
  return { root, focus: () => search.focus() };
}
