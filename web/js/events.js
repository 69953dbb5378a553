// Live updates: the server's event stream (GET /api/v1/events, server-sent events) when it
// has one, else polling. Subscribers get every event by its type; `onResync` runs whenever
// events may have been missed (first connect, reconnect, each poll in polling mode), so
// views reload their lists then.

const POLL_MS = 2000;
const SSE_RETRY_MS = 30000;

export const EVENT_TYPES = [
  'device_online', 'device_offline', 'device_reregistered', 'device_info', 'device_updated', 'device_removed',
  'catalog_progress', 'catalog_changed', 'catalog_subscription',
  'live_started', 'live_stopped', 'live_failed',
  'alarm', 'media_status',
  // The last event of a stream whose session ended (logout elsewhere, expiry, ...).
  'credentials_ended',
];

export class EventFeed {
  constructor() {
    this.handlers = new Set();
    this.resyncs = new Set();
    this.modeHandlers = new Set();
    this.mode = 'connecting';
    this.es = null;
    this.pollTimer = null;
    this.retryTimer = null;
  }

  on(fn) {
    this.handlers.add(fn);
    return () => this.handlers.delete(fn);
  }

  onResync(fn) {
    this.resyncs.add(fn);
    return () => this.resyncs.delete(fn);
  }

  onMode(fn) {
    this.modeHandlers.add(fn);
    fn(this.mode);
  }

  setMode(mode) {
    if (this.mode === mode) return;
    this.mode = mode;
    for (const fn of this.modeHandlers) fn(mode);
  }

  resync() {
    for (const fn of this.resyncs) {
      try {
        fn();
      } catch (e) {
        console.error(e);
      }
    }
  }

  dispatch(type, raw) {
    let data = {};
    try {
      data = raw ? JSON.parse(raw) : {};
    } catch {
      return;
    }
    const t = data.type || type;
    for (const fn of this.handlers) {
      try {
        fn(t, data);
      } catch (e) {
        console.error(e);
      }
    }
  }

  start() {
    if (typeof EventSource === 'undefined') {
      this.startPolling();
      return;
    }
    clearTimeout(this.retryTimer);
    if (this.es) this.es.close();
    const es = new EventSource('/api/v1/events');
    this.es = es;
    let opened = false;
    es.onopen = () => {
      opened = true;
      this.stopPolling();
      this.setMode('live');
      this.resync();
    };
    es.onmessage = (ev) => this.dispatch('message', ev.data);
    for (const t of EVENT_TYPES) es.addEventListener(t, (ev) => this.dispatch(t, ev.data));
    es.onerror = () => {
      if (this.es !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // No event stream on this server (404, wrong type) or a refusal (401: polling's
        // first request gets the 401 too and brings the login view): poll, look again later.
        es.close();
        this.es = null;
        this.startPolling();
        this.retryTimer = setTimeout(() => this.start(), SSE_RETRY_MS);
      } else if (opened) {
        // The browser reconnects by itself; poll meanwhile so nothing is missed.
        this.setMode('reconnecting');
        this.startPolling();
      } else {
        this.startPolling();
      }
    };
  }

  // Closes the stream and stops polling (after a logout: nothing may be asked until the
  // next login, which calls start() again).
  stop() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopPolling();
    if (this.es) {
      this.es.close();
      this.es = null;
    }
    this.setMode('connecting');
  }

  startPolling() {
    if (this.mode !== 'reconnecting') this.setMode('polling');
    if (this.pollTimer) return;
    this.resync();
    this.pollTimer = setInterval(() => this.resync(), POLL_MS);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}

export const feed = new EventFeed();
