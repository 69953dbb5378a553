// Just enough ISO BMFF (MP4) reading for live playback: tell an init segment from a
// fragment, read the RFC 6381 codec string and picture size from the init segment's sample
// entry (avcC/hvcC), and tell whether a fragment starts with a key frame.
// Pure functions over ArrayBuffers: node imports this file in tests.

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'moof', 'traf', 'mvex', 'dinf']);

// Boxes in [start, end) of `view`: {type, start, end, body} (body: first byte after the header).
export function* boxes(view, start = 0, end = view.byteLength) {
  let pos = start;
  while (pos + 8 <= end) {
    let size = view.getUint32(pos);
    const type = fourcc(view, pos + 4);
    let body = pos + 8;
    if (size === 1) {
      if (pos + 16 > end) return;
      size = Number(view.getBigUint64(pos + 8));
      body = pos + 16;
    } else if (size === 0) {
      size = end - pos;
    }
    if (size < body - pos || pos + size > end) return; // truncated or corrupt: stop here
    yield { type, start: pos, end: pos + size, body };
    pos += size;
  }
}

function fourcc(view, at) {
  return String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
}

function asView(buf) {
  if (buf instanceof DataView) return buf;
  if (ArrayBuffer.isView(buf)) return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return new DataView(buf);
}

// The first box found along `path` (e.g. ['moov', 'trak', 'mdia']), or null.
export function find(buf, path) {
  const view = asView(buf);
  let start = 0;
  let end = view.byteLength;
  let found = null;
  for (const type of path) {
    found = null;
    for (const b of boxes(view, start, end)) {
      if (b.type === type) {
        found = b;
        break;
      }
    }
    if (!found) return null;
    if (!CONTAINERS.has(type) && type !== path[path.length - 1]) return null;
    start = found.body;
    end = found.end;
  }
  return found;
}

// 'init' (ftyp/moov), 'fragment' (styp/moof/mdat) or 'unknown'.
export function kindOf(buf) {
  const view = asView(buf);
  for (const b of boxes(view)) {
    if (b.type === 'ftyp' || b.type === 'moov') return 'init';
    if (b.type === 'moof' || b.type === 'styp' || b.type === 'sidx') return 'fragment';
  }
  return 'unknown';
}

const hex2 = (n) => n.toString(16).padStart(2, '0');

function reverseBits32(x) {
  let r = 0;
  for (let i = 0; i < 32; i++) {
    r = (r << 1) | (x & 1);
    x >>>= 1;
  }
  return r >>> 0;
}

// The codec string of an avcC record body: avc1.PPCCLL.
export function avcCodec(entry, view, at) {
  return `${entry}.${hex2(view.getUint8(at + 1))}${hex2(view.getUint8(at + 2))}${hex2(view.getUint8(at + 3))}`;
}

// The codec string of an hvcC record body (ISO/IEC 14496-15 E.3):
// hvc1.<space><profile>.<compat reversed, hex>.<L|H><level>[.<constraint byte>...].
export function hevcCodec(entry, view, at) {
  const b1 = view.getUint8(at + 1);
  const space = ['', 'A', 'B', 'C'][b1 >> 6];
  const tier = b1 & 0x20 ? 'H' : 'L';
  const profile = b1 & 0x1f;
  const compat = reverseBits32(view.getUint32(at + 2)).toString(16);
  const constraints = [];
  for (let i = 0; i < 6; i++) constraints.push(view.getUint8(at + 6 + i));
  while (constraints.length && constraints[constraints.length - 1] === 0) constraints.pop();
  const level = view.getUint8(at + 12);
  let s = `${entry}.${space}${profile}.${compat}.${tier}${level}`;
  for (const c of constraints) s += '.' + c.toString(16).toUpperCase();
  return s;
}

// {codec, width, height, timescale} of the first video track of an init segment; codec is
// null when the sample entry is one we cannot name.
export function parseInit(buf) {
  const view = asView(buf);
  const mdhd = find(view, ['moov', 'trak', 'mdia', 'mdhd']);
  let timescale = null;
  if (mdhd) {
    const version = view.getUint8(mdhd.body);
    timescale = view.getUint32(mdhd.body + (version === 1 ? 20 : 12));
  }
  const stsd = find(view, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd']);
  if (!stsd) return null;
  // stsd: version/flags (4), entry_count (4), then sample entries.
  for (const entry of boxes(view, stsd.body + 8, stsd.end)) {
    // VisualSampleEntry: 6 reserved, data_reference_index (2), 16 pre-defined/reserved,
    // width (2), height (2), then 50 bytes to the child boxes.
    const width = view.getUint16(entry.body + 24);
    const height = view.getUint16(entry.body + 26);
    let codec = null;
    for (const child of boxes(view, entry.body + 78, entry.end)) {
      if (child.type === 'avcC' && child.end - child.body >= 4) codec = avcCodec(entry.type, view, child.body);
      if (child.type === 'hvcC' && child.end - child.body >= 13) codec = hevcCodec(entry.type, view, child.body);
    }
    return { codec, entry: entry.type, width, height, timescale };
  }
  return null;
}

// Whether the first sample of a fragment is a sync sample (a key frame): trun's first
// sample flags, else its per-sample flags, else tfhd's default sample flags.
export function isKeyFragment(buf) {
  const view = asView(buf);
  const tfhd = find(view, ['moof', 'traf', 'tfhd']);
  const trun = find(view, ['moof', 'traf', 'trun']);
  if (!trun) return false;
  let flags = null;
  if (tfhd) {
    const tf = view.getUint32(tfhd.body) & 0xffffff;
    let at = tfhd.body + 8; // version/flags, track_ID
    if (tf & 0x1) at += 8; // base_data_offset
    if (tf & 0x2) at += 4; // sample_description_index
    if (tf & 0x8) at += 4; // default_sample_duration
    if (tf & 0x10) at += 4; // default_sample_size
    if (tf & 0x20) flags = view.getUint32(at);
  }
  const tr = view.getUint32(trun.body) & 0xffffff;
  let at = trun.body + 8; // version/flags, sample_count
  if (tr & 0x1) at += 4; // data_offset
  if (tr & 0x4) {
    flags = view.getUint32(at);
  } else if (tr & 0x400) {
    if (tr & 0x100) at += 4; // sample_duration
    if (tr & 0x200) at += 4; // sample_size
    flags = view.getUint32(at);
  }
  if (flags === null) return false;
  // sample_is_non_sync_sample, or depends on others (sample_depends_on == 1).
  return (flags & 0x10000) === 0 && ((flags >> 24) & 0x3) !== 1;
}

// The decode time (tfdt) of a fragment in timescale units, or null.
export function baseDecodeTime(buf) {
  const view = asView(buf);
  const tfdt = find(view, ['moof', 'traf', 'tfdt']);
  if (!tfdt) return null;
  return view.getUint8(tfdt.body) === 1 ? Number(view.getBigUint64(tfdt.body + 4)) : view.getUint32(tfdt.body + 4);
}
