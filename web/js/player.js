// Live playback of fMP4 over WebSocket through Media Source Extensions: the first message
// is the init segment, then one fragment per message; a new init segment means new
// parameter sets. The player stays near the live edge (jumps forward when behind, skips
// to the next key frame when it cannot keep up) and trims what was already played.

import { isKeyFragment, kindOf, parseInit } from './mp4.js';

const MAX_QUEUE = 120; // fragments waiting for the SourceBuffer (~5 s at 25 fps)
const MAX_LAG_S = 2.5; // behind the buffered end by more than this: jump forward
const TARGET_LAG_S = 0.3; // where to land when jumping
const KEEP_BEHIND_S = 10; // played media kept in the buffer
const STALL_MS = 10000; // no message this long: say the camera sends nothing

export function codecLabel(codec) {
  if (!codec) return 'unknown';
  if (/^(hvc1|hev1)/.test(codec)) return 'H.265';
  if (/^(avc1|avc3)/.test(codec)) return 'H.264';
  return codec;
}

export function canPlay(codec) {
  return typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported(`video/mp4; codecs="${codec}"`);
}

// handlers: onInfo({codec, width, height}), onUnsupported(codec), onFirstFrame(),
// onEnd(text, {code, opened}), onStall(bool)
export class LivePlayer {
  constructor(video, url, handlers = {}) {
    this.video = video;
    this.url = url;
    this.on = handlers;
    this.queue = [];
    this.ms = null;
    this.sb = null;
    this.mime = null;
    this.codec = null;
    this.closed = false;
    this.waitKey = false;
    this.bytes = 0;
    this.messages = 0;
    this.skips = 0;
    this.lastMessageAt = 0;
    this.firstFrame = false;
    this.reconnects = 0;
    this.timer = null;
    this.objectUrl = null;
  }

  start() {
    this.closed = false;
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let gotData = false;
    ws.onmessage = (ev) => {
      if (this.ws !== ws || typeof ev.data === 'string') return;
      gotData = true;
      this.onMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.closed) return;
      this.ws = null;
      if (ev.code === 1013 && this.reconnects < 3) {
        // Told we were too slow: join again at the latest key frame.
        this.reconnects++;
        this.queue = [];
        this.waitKey = true;
        this.start();
        return;
      }
      let text;
      if (ev.code === 1000) text = 'The live stream ended.';
      else if (ev.code === 1013) text = 'The connection is too slow for this stream.';
      // The login or key the stream was opened with ended (the reason says which).
      else if (ev.code === 1008) text = `Stopped: ${ev.reason || 'no longer allowed to watch'}.`;
      else if (!gotData) text = 'Cannot open the live stream (the session may have ended).';
      else text = `Connection lost${ev.reason ? `: ${ev.reason}` : ''}.`;
      // `opened`: whether media came; a refused handshake (such as a 401) gives none.
      this.finish(text, { code: ev.code, opened: gotData });
    };
    if (!this.timer) this.timer = setInterval(() => this.tick(), 500);
    this.lastMessageAt = performance.now();
    if (!this.rvfc && 'requestVideoFrameCallback' in HTMLVideoElement.prototype) {
      this.rvfc = true;
      this.video.requestVideoFrameCallback(() => this.painted());
    }
    this.video.addEventListener('timeupdate', this.onTimeUpdate = () => {
      if (this.video.currentTime > 0 && this.video.readyState >= 2) this.painted();
    });
  }

  painted() {
    if (this.firstFrame || this.closed) return;
    this.firstFrame = true;
    this.on.onFirstFrame && this.on.onFirstFrame();
  }

  onMessage(data) {
    this.bytes += data.byteLength;
    this.messages++;
    const stalled = performance.now() - this.lastMessageAt > STALL_MS;
    this.lastMessageAt = performance.now();
    if (stalled && this.on.onStall) this.on.onStall(false);
    const kind = kindOf(data);
    if (kind === 'init') return this.onInit(data);
    if (!this.mime) return; // fragments before the first init segment: nothing to decode with
    if (this.waitKey) {
      if (!isKeyFragment(data)) return;
      this.waitKey = false;
      this.seekToNewest = true;
    }
    if (this.queue.length >= MAX_QUEUE) {
      // The browser cannot append as fast as the camera sends: drop to the next key frame.
      this.queue = this.queue.filter((q) => q.init);
      this.skips++;
      this.waitKey = !isKeyFragment(data);
      if (this.waitKey) return;
      this.seekToNewest = true;
    }
    this.queue.push({ data });
    this.pump();
  }

  onInit(data) {
    const info = parseInit(data);
    const codec = info && info.codec;
    if (!codec || !canPlay(codec)) {
      this.close();
      this.on.onUnsupported && this.on.onUnsupported(codec, info);
      return;
    }
    this.codec = codec;
    this.info = info;
    this.on.onInfo && this.on.onInfo(info);
    const mime = `video/mp4; codecs="${codec}"`;
    if (!this.ms) {
      this.mime = mime;
      this.ms = new MediaSource();
      this.ms.addEventListener('sourceopen', () => this.onSourceOpen(), { once: true });
      this.objectUrl = URL.createObjectURL(this.ms);
      this.video.src = this.objectUrl;
    } else if (mime !== this.mime) {
      this.mime = mime;
      this.queue.push({ init: true, data, changeType: mime });
      this.pump();
      return;
    }
    this.queue.push({ init: true, data });
    this.pump();
  }

  onSourceOpen() {
    if (this.closed) return;
    try {
      this.sb = this.ms.addSourceBuffer(this.mime);
    } catch (e) {
      this.finish(`This browser cannot play ${this.codec} (${e.message}).`);
      return;
    }
    this.sb.addEventListener('updateend', () => this.afterAppend());
    this.sb.addEventListener('error', () => this.finish('The browser could not decode the stream.'));
    this.pump();
  }

  pump() {
    const sb = this.sb;
    if (!sb || sb.updating || this.closed || !this.queue.length || this.ms.readyState !== 'open') return;
    const item = this.queue.shift();
    try {
      if (item.changeType) {
        if (typeof sb.changeType !== 'function') {
          this.finish('The stream changed its codec and this browser cannot follow; reopen the tile.');
          return;
        }
        sb.changeType(item.changeType);
      }
      sb.appendBuffer(item.data);
    } catch (e) {
      if (e.name === 'QuotaExceededError') {
        // Full: drop played media, retry this one after.
        this.queue.unshift(item);
        this.trim(true);
      } else {
        this.finish(`Playback failed: ${e.message}`);
      }
    }
  }

  afterAppend() {
    if (this.closed) return;
    const v = this.video;
    const b = this.sb.buffered;
    if (b.length) {
      const start = b.start(0);
      const end = b.end(b.length - 1);
      if (this.seekToNewest) {
        this.seekToNewest = false;
        v.currentTime = Math.max(b.start(b.length - 1), end - TARGET_LAG_S);
      } else if (v.currentTime < start) {
        // Live streams do not start at time 0: begin where the media is.
        v.currentTime = start;
      }
      if (v.paused && !this.playRequested) {
        this.playRequested = true;
        v.play().catch(() => {
          this.playRequested = false;
        });
      }
    }
    this.pump();
  }

  // Every 500 ms: stay near the live edge, trim, watch for silence.
  tick() {
    if (this.closed) return;
    const v = this.video;
    const sb = this.sb;
    if (sb && !sb.updating && sb.buffered.length) {
      const b = sb.buffered;
      const end = b.end(b.length - 1);
      const lag = end - v.currentTime;
      if (lag > MAX_LAG_S) {
        v.currentTime = end - TARGET_LAG_S;
        this.skips++;
      } else {
        // Inside a gap (lost fragments): move on to the range that has media.
        let inside = false;
        for (let i = 0; i < b.length; i++) if (v.currentTime >= b.start(i) - 0.05 && v.currentTime <= b.end(i)) inside = true;
        if (!inside) v.currentTime = Math.max(b.start(b.length - 1), end - TARGET_LAG_S);
      }
      this.trim(false);
    }
    if (performance.now() - this.lastMessageAt > STALL_MS && this.on.onStall) this.on.onStall(true);
  }

  trim(force) {
    const sb = this.sb;
    if (!sb || sb.updating || !sb.buffered.length) return;
    const start = sb.buffered.start(0);
    const upTo = this.video.currentTime - (force ? 1 : KEEP_BEHIND_S);
    if (upTo - start > (force ? 0 : 5)) {
      try {
        sb.remove(start, upTo);
      } catch {
        // Removal is housekeeping; a failure here is retried on the next tick.
      }
    }
  }

  // Seconds between what is shown and the newest media received.
  lag() {
    const sb = this.sb;
    if (!sb || !sb.buffered.length) return null;
    return sb.buffered.end(sb.buffered.length - 1) - this.video.currentTime;
  }

  finish(text, detail = { code: null, opened: true }) {
    this.close();
    this.on.onEnd && this.on.onEnd(text, detail);
  }

  // Closes the WebSocket (the server stops the session when its last viewer leaves) and
  // releases the decoder.
  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.timer = null;
    if (this.onTimeUpdate) this.video.removeEventListener('timeupdate', this.onTimeUpdate);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'viewer closed');
    this.queue = [];
    if (this.ms && this.ms.readyState === 'open') {
      try {
        this.ms.endOfStream();
      } catch {
        // Already ending.
      }
    }
  }

  // Also detaches the video element (a tile reused for another channel).
  destroy() {
    this.close();
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
  }
}
