// The PTZ panel of a live tile: an 8-way pad, zoom, focus and iris held like buttons on a
// joystick (press sends the motion, release sends `stop` or `lens_stop`), a speed, and
// presets (POST /api/v1/channels/{id}/ptz and .../presets/{n}). A GB camera keeps moving
// until told to stop, so every way a press can end sends the stop: pointer up, leave or
// cancel, key up, focus leaving the pad, the window losing focus or visibility, the panel or
// the tile closing. Commands of a tile go out one after another, so a stop never overtakes
// the motion it stops.

import { api } from './api.js';
import { h } from './dom.js';

const DEFAULT_SPEED = 128;
const SPEED_KEY = 'vigil.ptzSpeed';
// ptz_type 3 is a fixed bullet; 1, 2, 4 and anything unreported may move.
const FIXED = 3;

// [action, label, symbol] in pad order (row by row, the centre is the stop button).
const PAD = [
  ['up_left', 'Up and left', '↖'], ['up', 'Up', '↑'], ['up_right', 'Up and right', '↗'],
  ['left', 'Left', '←'], null, ['right', 'Right', '→'],
  ['down_left', 'Down and left', '↙'], ['down', 'Down', '↓'], ['down_right', 'Down and right', '↘'],
];
// [label, [action, button text, accessible name] x2]: each row stops with `lens_stop`
// except zoom (`stop`).
const LENS = [
  ['Zoom', ['zoom_out', '−', 'Zoom out'], ['zoom_in', '+', 'Zoom in']],
  ['Focus', ['focus_near', 'Near', 'Focus near'], ['focus_far', 'Far', 'Focus far']],
  ['Iris', ['iris_close', 'Close', 'Iris close'], ['iris_open', 'Open', 'Iris open']],
];
const ARROWS = { ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right' };

export function ptzCapable(channel) {
  return !!channel && Number(channel.ptz_type) !== FIXED;
}

function stopFor(action) {
  return /^(focus|iris)_/.test(action) ? 'lens_stop' : 'stop';
}

// The direction of the arrow keys held together (up + left: up_left); null for none or
// opposites only.
function arrowDirection(keys) {
  const v = keys.has('up') === keys.has('down') ? '' : keys.has('up') ? 'up' : 'down';
  const hz = keys.has('left') === keys.has('right') ? '' : keys.has('left') ? 'left' : 'right';
  return [v, hz].filter(Boolean).join('_') || null;
}

function savedSpeed() {
  const n = Number(localStorage.getItem(SPEED_KEY));
  return localStorage.getItem(SPEED_KEY) !== null && Number.isInteger(n) && n >= 0 && n <= 255 ? n : DEFAULT_SPEED;
}

// `label()` names the tile for screen readers. Returns the toggle button (for the tile's
// header), the panel (for the tile) and attach(channel) / detach() for the tile's life.
export function ptzPanel(label) {
  let channel = null;
  // What is held: {action, stop, source} (source: the button, or 'keys' for the arrows).
  let held = null;
  const arrows = new Set();
  let chain = Promise.resolve();

  const panelId = `ptz-${Math.random().toString(36).slice(2, 10)}`;
  const toggle = h('button', {
    type: 'button',
    class: 'tile-ptz',
    hidden: true,
    'aria-expanded': 'false',
    'aria-controls': panelId,
    title: 'PTZ controls',
    onclick: (e) => {
      e.stopPropagation();
      setOpen(panel.hidden);
    },
  }, 'PTZ');

  const msg = h('p', { class: 'ptz-msg', role: 'status', hidden: true });
  function say(text, kind = '') {
    msg.textContent = text || '';
    msg.className = `ptz-msg ${kind}`;
    msg.hidden = !text;
  }

  // Queued after the previous command; errors other than a 401 (the login view takes
  // those) are shown in the panel.
  function send(path, body, done) {
    const ch = channel;
    if (!ch) return;
    const run = async () => {
      try {
        await api(`/api/v1/channels/${encodeURIComponent(ch.channel_id)}/${path}`, { method: 'POST', body });
        if (channel === ch && done) say(done);
      } catch (e) {
        if (channel === ch && e.status !== 401) say(e.message, 'error');
      }
    };
    chain = chain.then(run);
    return chain;
  }
  const speed = h('input', {
    type: 'range', min: '0', max: '255', step: '1', class: 'ptz-speed-input', 'aria-label': 'PTZ speed',
    oninput: () => {
      speedOut.textContent = speed.value;
      localStorage.setItem(SPEED_KEY, speed.value);
    },
  });
  speed.value = String(savedSpeed());
  const speedOut = h('output', { class: 'ptz-speed-value mono' }, speed.value);

  function press(action, source) {
    if (held && held.action === action) return;
    // Switching between motion and lens: end the other kind first.
    if (held && held.stop !== stopFor(action)) send('ptz', { action: held.stop });
    if (held && held.source instanceof Element) held.source.classList.remove('held');
    held = { action, stop: stopFor(action), source };
    if (source instanceof Element) source.classList.add('held');
    say('');
    send('ptz', { action, speed: Number(speed.value) });
  }
  // Ends the press from `source` (any press when absent).
  function release(source) {
    if (!held || (source !== undefined && held.source !== source)) return;
    const { stop } = held;
    if (held.source instanceof Element) held.source.classList.remove('held');
    held = null;
    send('ptz', { action: stop });
  }
  function releaseAll() {
    arrows.clear();
    release();
  }

  // A button held while pressed, by pointer or by Space/Enter.
  function holdButton(action, text, name) {
    const b = h('button', {
      type: 'button',
      class: 'ptz-hold',
      dataset: { ptz: action },
      'aria-label': name,
      title: name,
      onpointerdown: (e) => {
        if (e.button !== 0) return;
        e.preventDefault(); // no text selection, no scrolling under a finger
        b.focus();
        press(action, b);
      },
      onpointerup: () => release(b),
      onpointerleave: () => release(b),
      onpointercancel: () => release(b),
      onkeydown: (e) => {
        if (e.key !== ' ' && e.key !== 'Enter') return;
        e.preventDefault();
        if (!e.repeat) press(action, b);
      },
      onkeyup: (e) => {
        if (e.key !== ' ' && e.key !== 'Enter') return;
        e.preventDefault();
        release(b);
      },
      onblur: () => release(b),
      oncontextmenu: (e) => e.preventDefault(),
    }, text);
    return b;
  }

  const pad = h('div', {
    class: 'ptz-pad',
    role: 'group',
    'aria-label': 'Pan and tilt (arrow keys while here)',
    onkeydown: (e) => {
      const dir = ARROWS[e.key];
      if (!dir) return;
      e.preventDefault();
      if (arrows.has(dir)) return;
      arrows.add(dir);
      const action = arrowDirection(arrows);
      if (action) press(action, 'keys');
      else release('keys');
    },
    onkeyup: (e) => {
      const dir = ARROWS[e.key];
      if (!dir) return;
      e.preventDefault();
      arrows.delete(dir);
      const action = arrowDirection(arrows);
      if (action) press(action, 'keys');
      else release('keys');
    },
    onfocusout: (e) => {
      if (pad.contains(e.relatedTarget)) return;
      arrows.clear();
      release('keys');
    },
  }, PAD.map((p) => (p
    ? holdButton(p[0], p[2], p[1])
    : h('button', { type: 'button', class: 'ptz-stop', dataset: { ptz: 'stop' }, 'aria-label': 'Stop', title: 'Stop', onclick: () => { releaseAll(); send('ptz', { action: 'stop' }); } }, '■'))));

  const lens = h('div', { class: 'ptz-lens' }, LENS.map(([name, a, b]) =>
    h('div', { class: 'ptz-row', role: 'group', 'aria-label': name },
      h('span', { class: 'label' }, name), holdButton(...a), holdButton(...b))));

  const presetNo = h('input', { type: 'number', min: '1', max: '255', step: '1', value: '1', class: 'ptz-preset-no', 'aria-label': 'Preset number' });
  const presetButtons = [['set', 'Set', 'Store the current position as this preset'], ['goto', 'Go', 'Go to this preset'], ['delete', 'Delete', 'Delete this preset']]
    .map(([action, text, title]) => h('button', {
      type: 'button', class: 'small', dataset: { preset: action }, title,
      onclick: () => preset(action),
    }, text));
  async function preset(action) {
    const n = Number(presetNo.value);
    if (!Number.isInteger(n) || n < 1 || n > 255) {
      say('Preset: a number from 1 to 255.', 'error');
      presetNo.focus();
      return;
    }
    releaseAll();
    say('');
    presetButtons.forEach((b) => (b.disabled = true));
    const done = { set: `Preset ${n} stored.`, goto: `Going to preset ${n}.`, delete: `Preset ${n} deleted.` }[action];
    await send(`presets/${n}`, { action }, done);
    presetButtons.forEach((b) => (b.disabled = false));
  }

  const panel = h('div', {
    class: 'ptz',
    id: panelId,
    role: 'group',
    hidden: true,
    // Keys here are the panel's: Backspace in the preset box must not close the tile.
    onkeydown: (e) => {
      e.stopPropagation();
      if (e.key === 'Escape') {
        setOpen(false);
        toggle.focus();
      }
    },
  },
  pad,
  lens,
  h('label', { class: 'ptz-row ptz-speed' }, h('span', { class: 'label' }, 'Speed'), speed, speedOut),
  h('div', { class: 'ptz-row ptz-presets', role: 'group', 'aria-label': 'Presets' }, h('span', { class: 'label' }, 'Preset'), presetNo, presetButtons),
  msg);

  function setOpen(open) {
    if (!open) releaseAll();
    panel.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    toggle.classList.toggle('on', open);
    if (open) panel.setAttribute('aria-label', `PTZ of ${label()}`);
  }

  // A press must not outlive the user's attention.
  window.addEventListener('blur', releaseAll);
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) releaseAll();
  });

  return {
    toggle,
    panel,
    attach(ch) {
      this.detach();
      channel = ch;
      toggle.hidden = !ptzCapable(ch);
    },
    // The tile closes: stop what is held, then forget the channel.
    detach() {
      releaseAll();
      setOpen(false);
      say('');
      channel = null;
      toggle.hidden = true;
    },
  };
}
