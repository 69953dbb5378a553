// A device's channels as a tree (by parent_id; GB28181 parents are the device itself,
// civil codes, business groups or virtual organisations) rendered as nested lists. Video
// channels get a play button; removed channels are shown struck through.

import { h } from './dom.js';

// The 3-digit type code of a 20-digit GB28181 ID (131 camera, 132 IPC, 215 business
// group, 216 virtual organisation, ...), or null.
export function typeCode(id) {
  return /^\d{20}$/.test(id || '') ? Number(id.slice(10, 13)) : null;
}

export function isPlayable(ch) {
  if (ch.removed_at) return false;
  const t = typeCode(ch.channel_id);
  if (t === 131 || t === 132) return true;
  if (t !== null && t >= 200) return false; // platforms, groups, organisations
  return Number(ch.parental) !== 1;
}

export function channelName(ch) {
  return ch.name || ch.channel_id;
}

// Roots and children by parent: a channel whose parent is not in the list (the device, an
// unknown civil code) is a root. ParentID may be a '/'-separated path: the last part counts.
export function buildTree(list, deviceId) {
  const byId = new Map(list.map((c) => [c.channel_id, { ch: c, children: [] }]));
  const roots = [];
  for (const node of byId.values()) {
    const raw = node.ch.parent_id || '';
    const parent = raw.split('/').filter(Boolean).pop();
    const p = parent && parent !== deviceId && parent !== node.ch.channel_id ? byId.get(parent) : null;
    if (p && !isAncestor(node, p, byId)) p.children.push(node);
    else roots.push(node);
  }
  const sort = (nodes) => {
    nodes.sort((a, b) => channelName(a.ch).localeCompare(channelName(b.ch), 'zh-CN', { numeric: true }) || a.ch.channel_id.localeCompare(b.ch.channel_id));
    for (const n of nodes) sort(n.children);
  };
  sort(roots);
  return roots;
}

// Guards against cycles in device-reported parent IDs.
function isAncestor(node, candidateParent, byId) {
  let cur = candidateParent;
  for (let i = 0; cur && i < 64; i++) {
    if (cur === node) return true;
    const pid = (cur.ch.parent_id || '').split('/').filter(Boolean).pop();
    cur = pid ? byId.get(pid) : null;
  }
  return false;
}

// Renders the tree; `onPlay(channel)` runs when a play button is pressed. `filter` (lower
// case) keeps matching channels and their ancestors.
export function renderTree(roots, { onPlay, filter = '', deviceOnline = true } = {}) {
  const matches = (n) => !filter || channelName(n.ch).toLowerCase().includes(filter) || n.ch.channel_id.includes(filter) || n.children.some(matches);
  const list = (nodes, level) => {
    const ul = h('ul', { role: level === 1 ? 'tree' : 'group', class: 'tree' });
    for (const n of nodes) {
      if (!matches(n)) continue;
      const c = n.ch;
      const online = c.online !== false && deviceOnline && !c.removed_at;
      const playable = isPlayable(c);
      const label = h('span', { class: 'ch-label' },
        h('span', { class: `dot ${online ? 'on' : 'off'}`, title: online ? 'online' : 'offline', 'aria-hidden': 'true' }),
        h('span', { class: 'ch-name', lang: 'zh' }, channelName(c)),
        h('span', { class: 'ch-id mono' }, c.channel_id),
        c.removed_at ? h('span', { class: 'badge' }, 'removed') : null,
        c.status && !online ? h('span', { class: 'badge muted' }, String(c.status)) : null,
      );
      const li = h('li', {
        role: 'treeitem',
        class: `ch ${online ? '' : 'offline'} ${c.removed_at ? 'removed' : ''}`,
        dataset: { channelId: c.channel_id },
        'aria-level': String(level),
      });
      if (playable) {
        li.append(h('button', {
          class: 'ch-play',
          type: 'button',
          title: `Play ${channelName(c)}`,
          'aria-label': `Play ${channelName(c)}`,
          onclick: () => onPlay && onPlay(c),
        }, h('span', { class: 'play-icon', 'aria-hidden': 'true' }, '▶'), label));
      } else {
        li.append(h('div', { class: 'ch-static' }, label));
      }
      if (n.children.length) {
        li.setAttribute('aria-expanded', 'true');
        li.append(list(n.children, level + 1));
      }
      ul.append(li);
    }
    return ul;
  };
  return list(roots, 1);
}
