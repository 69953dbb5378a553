// Alarms devices raise (`alarm` events): a header button with the count not yet looked at,
// the list of the latest ones (newest first) that opens from it, and a toast for each (a
// burst gets one summary instead). The server keeps no alarm history, so the list holds what
// arrived over the event stream since the page opened. Also toasts for channels a device
// changed by notification (`catalog_changed`) and a stream that reached the end of its file
// (`media_status`). Names come from what the views loaded; IDs stand in for the rest.

import { dateTime, h, setText, toast } from './dom.js';
import { feed } from './events.js';
import { clearAlarms, markAlarmsSeen, onChange, state } from './state.js';

// GB/T 28181 AlarmMethod.
const METHODS = { 1: 'Phone', 2: 'Device', 3: 'SMS', 4: 'GPS', 5: 'Video', 6: 'Device fault', 7: 'Other' };
// AlarmType, whose meaning depends on the method (GB/T 28181-2016 A.2.6.11; 13 from 2022).
const TYPES = {
  2: { 1: 'Video loss', 2: 'Tamper', 3: 'Storage full', 4: 'High temperature', 5: 'Low temperature' },
  5: {
    1: 'Manual video alarm', 2: 'Motion detection', 3: 'Object left behind', 4: 'Object removed',
    5: 'Tripwire', 6: 'Intrusion', 7: 'Wrong direction', 8: 'Loitering', 9: 'People counting',
    10: 'Crowd density', 11: 'Video abnormal', 12: 'Fast movement', 13: 'Image occluded',
  },
  6: { 1: 'Storage disk fault', 2: 'Storage fan fault' },
};
const AREA = { 1: 'entering the area', 2: 'leaving the area' };

// "Video loss", "Motion detection (entering the area)", "Device alarm", "Video alarm, type 14".
export function alarmKind(a) {
  const m = Number(a.method);
  const t = a.alarm_type === null || a.alarm_type === undefined ? null : String(a.alarm_type);
  let kind = (t && TYPES[m] && TYPES[m][t]) || (METHODS[m] ? `${METHODS[m]} alarm` : 'Alarm');
  if (t && !(TYPES[m] && TYPES[m][t])) kind += `, type ${t}`;
  const area = AREA[Number(a.event_type)];
  if (area) kind += ` (${area})`;
  return kind;
}

export function deviceName(id) {
  const d = state.devices.get(id);
  return (d && d.name) || id;
}

// The channel's name when the device's channels were loaded; "device" when the device
// alarms itself; the ID otherwise.
export function channelName(deviceId, channelId) {
  if (!channelId || channelId === deviceId) return 'device';
  const entry = state.channels.get(deviceId);
  const c = entry && entry.items.find((x) => x.channel_id === channelId);
  return (c && c.name) || channelId;
}

// The alarm's own time as the device sent it (its local time), else when it arrived.
function alarmTime(a) {
  return a.time ? String(a.time).replace('T', ' ') : dateTime(a.at);
}

// Whether the alarm's channel is known by a name (then its ID is shown beside it).
function named(a) {
  return !!a.channel_id && a.channel_id !== a.device_id && channelName(a.device_id, a.channel_id) !== a.channel_id;
}

function where(a) {
  const ch = channelName(a.device_id, a.channel_id);
  return ch === 'device' ? deviceName(a.device_id) : `${deviceName(a.device_id)} › ${ch}`;
}

// Alarm toasts per this many ms before a burst is summed up.
const TOAST_WINDOW_MS = 10000;
const TOASTS_PER_WINDOW = 3;

export function alarmsControl() {
  const count = h('span', { class: 'alarm-count', id: 'alarms-count', hidden: true });
  const button = h('button', {
    type: 'button',
    class: 'small alarms-button',
    id: 'alarms-button',
    'aria-expanded': 'false',
    'aria-controls': 'alarms-panel',
  }, 'Alarms', count);
  const list = h('ol', { class: 'alarm-list', id: 'alarm-list' });
  const empty = h('p', { class: 'empty-note' });
  const clear = h('button', { type: 'button', class: 'small', id: 'alarms-clear', onclick: () => clearAlarms() }, 'Clear');
  const panel = h('section', { class: 'alarms-panel', id: 'alarms-panel', 'aria-label': 'Alarms', hidden: true },
    h('div', { class: 'alarms-head' }, h('h2', {}, 'Alarms'), h('span', { class: 'muted' }, 'since this page opened'), clear),
    list, empty);
  const root = h('div', { class: 'alarms', id: 'alarms' }, button, panel);

  const open = () => !panel.hidden;
  function setOpen(on) {
    panel.hidden = !on;
    button.setAttribute('aria-expanded', String(on));
    if (on) {
      markAlarmsSeen();
      render();
    }
  }
  button.addEventListener('click', () => setOpen(!open()));
  root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && open()) {
      setOpen(false);
      button.focus();
    }
  });
  document.addEventListener('click', (e) => {
    if (open() && !root.contains(e.target)) setOpen(false);
  });

  function item(a) {
    const p = Number(a.priority);
    return h('li', { class: `alarm${p ? ` p${p}` : ''}`, dataset: { deviceId: a.device_id, channelId: a.channel_id || '' } },
      h('div', { class: 'alarm-top' },
        p ? h('span', { class: 'alarm-priority', title: 'Priority: 1 (highest) to 4' }, `P${p}`) : null,
        h('span', { class: 'alarm-kind' }, alarmKind(a)),
        h('span', { class: 'alarm-time muted', title: `received ${dateTime(a.at)}` }, alarmTime(a))),
      h('div', { class: 'alarm-where', lang: 'zh' }, where(a),
        named(a) ? h('span', { class: 'mono muted' }, ` ${a.channel_id}`) : null),
      a.description ? h('div', { class: 'alarm-desc', lang: 'zh' }, a.description) : null);
  }

  function render() {
    const n = state.alarmsUnseen;
    count.hidden = !n;
    setText(count, n > 99 ? '99+' : String(n));
    button.classList.toggle('alerting', n > 0);
    button.setAttribute('aria-label', n ? `Alarms: ${n} new` : 'Alarms');
    if (!open()) return;
    list.replaceChildren(...state.alarms.map(item));
    clear.disabled = !state.alarms.length;
    empty.hidden = state.alarms.length > 0;
    setText(empty, feed.mode === 'live' || feed.mode === 'reconnecting'
      ? 'No alarms since this page opened.'
      : 'Alarms come over the event stream, which is not connected.');
  }

  // A toast per alarm; past TOASTS_PER_WINDOW in TOAST_WINDOW_MS, one that sums the rest up.
  let shownAt = [];
  let held = 0;
  let summaryTimer = null;
  function announce(a) {
    if (open()) {
      markAlarmsSeen();
      return;
    }
    const now = Date.now();
    shownAt = shownAt.filter((t) => now - t < TOAST_WINDOW_MS);
    if (shownAt.length < TOASTS_PER_WINDOW) {
      shownAt.push(now);
      toast(`Alarm: ${alarmKind(a)} at ${where(a)}${a.description ? `: ${a.description}` : ''}`, 'alarm');
      return;
    }
    held++;
    if (!summaryTimer) {
      summaryTimer = setTimeout(() => {
        summaryTimer = null;
        if (held) toast(`${held} more alarm${held === 1 ? '' : 's'}: see Alarms at the top`, 'alarm');
        held = 0;
      }, 1500);
    }
  }

  onChange('alarms', (ev) => {
    render();
    if (ev) announce(ev);
  });
  feed.onMode(() => render());
  onChange('channels', () => {
    if (open()) render();
  });
  feed.on((type, ev) => {
    if (type === 'catalog_changed' && ev.source === 'notify') {
      const parts = [['added', ev.added], ['updated', ev.updated], ['removed', ev.removed]]
        .filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
      if (parts.length) toast(`Channels of ${deviceName(ev.device_id)} changed: ${parts.join(', ')}`);
    } else if (type === 'media_status' && ev.end_of_file) {
      toast(`${where(ev)}: the recording being played reached its end`);
    }
  });

  render();
  return { root, close: () => setOpen(false) };
}
