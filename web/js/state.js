// What the dashboard knows, shared by the views: devices, each device's channels (loaded on
// demand), running live sessions and the alarms devices raised since the page opened (the
// server keeps no alarm history). Kept current by the event feed; views subscribe with
// `onChange(kind, fn)` and re-render what changed.

import { api, items, missing } from './api.js';
import { feed } from './events.js';

const listeners = new Map(); // kind -> Set(fn)

export const state = {
  devices: new Map(), // device_id -> device record
  devicesError: null,
  devicesLoaded: false,
  channels: new Map(), // device_id -> {items, total, error, loading}
  sessions: [],
  sessionsError: null, // 'missing' when the server has no live API
  sessionsLoaded: false,
  alarms: [], // `alarm` events, newest first, at most MAX_ALARMS
  alarmsUnseen: 0, // alarms that came since the list was last looked at
};

// Alarms kept: a burst from a whole NVR must not grow the page without bound.
export const MAX_ALARMS = 200;

export function onChange(kind, fn) {
  if (!listeners.has(kind)) listeners.set(kind, new Set());
  listeners.get(kind).add(fn);
  return () => listeners.get(kind).delete(fn);
}

function changed(kind, detail) {
  for (const fn of listeners.get(kind) || []) {
    try {
      fn(detail);
    } catch (e) {
      console.error(e);
    }
  }
}

// Forgets everything (after a logout: the next user must not see the last one's lists).
export function resetState() {
  state.devices = new Map();
  state.devicesError = null;
  state.devicesLoaded = false;
  state.channels = new Map();
  state.sessions = [];
  state.sessionsError = null;
  state.sessionsLoaded = false;
  state.alarms = [];
  state.alarmsUnseen = 0;
  changed('devices');
  changed('channels');
  changed('sessions');
  changed('alarms');
}

// The alarm list was looked at: nothing is new any more.
export function markAlarmsSeen() {
  if (!state.alarmsUnseen) return;
  state.alarmsUnseen = 0;
  changed('alarms');
}

export function clearAlarms() {
  state.alarms = [];
  state.alarmsUnseen = 0;
  changed('alarms');
}

// The alarms of one device in the list, newest first.
export function alarmsOf(deviceId) {
  return state.alarms.filter((a) => a.device_id === deviceId);
}

let devicesInFlight = null;

export function loadDevices() {
  if (devicesInFlight) return devicesInFlight;
  devicesInFlight = (async () => {
    try {
      // The list is paged (1,000 at most per page): read every page.
      const next = new Map();
      for (let page = 1; ; page++) {
        const data = await api(`/api/v1/devices?per_page=1000&page=${page}`);
        const got = items(data);
        for (const d of got) next.set(d.device_id, d);
        if (got.length < 1000 || next.size >= (data.total ?? 0)) break;
      }
      state.devices = next;
      state.devicesError = null;
    } catch (e) {
      state.devicesError = e.message;
    } finally {
      state.devicesLoaded = true;
      devicesInFlight = null;
    }
    changed('devices');
  })();
  return devicesInFlight;
}

export async function loadDevice(id) {
  try {
    const d = await api(`/api/v1/devices/${encodeURIComponent(id)}`);
    state.devices.set(id, d);
    changed('devices', id);
    return d;
  } catch (e) {
    if (e.status === 404 && !missing(e)) {
      state.devices.delete(id);
      changed('devices', id);
    }
    return null;
  }
}

export async function loadChannels(deviceId) {
  const entry = state.channels.get(deviceId) || { items: [], total: 0 };
  entry.loading = true;
  state.channels.set(deviceId, entry);
  changed('channels', deviceId);
  const base = `/api/v1/devices/${encodeURIComponent(deviceId)}/channels`;
  try {
    const first = await api(base);
    let list = items(first);
    const total = Number(first && first.total) || list.length;
    // Paged answers: ask for the rest with the page size the server chose.
    const perPage = list.length;
    for (let page = 2; perPage > 0 && list.length < total && page <= 50; page++) {
      const more = items(await api(`${base}?page=${page}&per_page=${perPage}`));
      if (!more.length) break;
      list = list.concat(more);
    }
    state.channels.set(deviceId, { items: list, total, error: null, loading: false });
  } catch (e) {
    state.channels.set(deviceId, {
      items: [],
      total: 0,
      loading: false,
      error: missing(e) ? 'The channel list is not available on this server yet.' : e.message,
    });
  }
  changed('channels', deviceId);
}

let sessionsInFlight = null;

export function loadSessions() {
  if (sessionsInFlight) return sessionsInFlight;
  sessionsInFlight = (async () => {
    try {
      state.sessions = items(await api('/api/v1/live'));
      state.sessionsError = null;
    } catch (e) {
      state.sessions = [];
      state.sessionsError = missing(e) ? 'missing' : e.message;
    } finally {
      state.sessionsLoaded = true;
      sessionsInFlight = null;
    }
    changed('sessions');
  })();
  return sessionsInFlight;
}

// A catalog sync still on its way.
export function catalogBusy(catalogState) {
  return catalogState === 'running' || catalogState === 'queued';
}

// Events change what we know at once (the device turns grey now), then the lists are
// reloaded for the fields an event does not carry.
let reloadTimer = null;
function reloadDevicesSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(loadDevices, 300);
}

feed.on((type, ev) => {
  const id = ev.device_id;
  const d = id && state.devices.get(id);
  if (type === 'device_online' || type === 'device_reregistered') {
    if (d) {
      d.online = true;
      d.last_seen = ev.at || Date.now();
      if (ev.address) d.source_addr = ev.address;
      if (ev.transport) d.registered_transport = ev.transport;
      changed('devices', id);
    }
    reloadDevicesSoon();
  } else if (type === 'device_offline') {
    if (d) {
      d.online = false;
      changed('devices', id);
    }
    reloadDevicesSoon();
  } else if (type === 'device_info') {
    if (d) {
      for (const k of ['name', 'manufacturer', 'model', 'firmware', 'channel_count']) if (ev[k] !== undefined && ev[k] !== null) d[k] = ev[k];
      changed('devices', id);
    }
  } else if (type.startsWith('device_')) {
    reloadDevicesSoon();
  } else if (type === 'catalog_progress') {
    if (d) {
      if (ev.state) d.catalog_state = ev.state;
      if (ev.received !== undefined) d.catalog_received = ev.received;
      if (ev.total !== undefined) d.catalog_total = ev.total;
      changed('devices', id);
    }
    if (id && !catalogBusy(ev.state)) {
      loadDevice(id);
      if (state.channels.has(id)) loadChannels(id);
    }
  } else if (type === 'catalog_changed') {
    if (id && state.channels.has(id)) loadChannels(id);
    if (id) loadDevice(id);
  } else if (type.startsWith('live_')) {
    loadSessions();
  } else if (type === 'alarm' && id) {
    state.alarms.unshift(ev);
    if (state.alarms.length > MAX_ALARMS) state.alarms.length = MAX_ALARMS;
    state.alarmsUnseen++;
    changed('alarms', ev);
    // For the channel's name in the alarm list.
    if (!state.channels.has(id)) loadChannels(id);
  }
});

feed.onResync(() => {
  loadDevices();
  if (state.sessionsLoaded && state.sessionsError !== 'missing') loadSessions();
});
