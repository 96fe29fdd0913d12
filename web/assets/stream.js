// One server-sent event stream for every room the page follows.
//
// The stream remembers the id of the last event it delivered (the cursor)
// and every new connection resumes after it, so a dropped connection, a
// server restart or a laptop waking from sleep loses nothing. The page sees
// an event twice only around a reconnect; the room store drops repeats by id.

import { eventsURL } from './api.js';

// Event types the stream listens for: new messages and the changes to them.
const eventTypes = ['message', 'edit', 'delete', 'reaction'];

// Delays before each reconnect attempt, in milliseconds; the last repeats.
const backoff = [250, 500, 1000, 2000, 4000, 8000, 15000, 30000];

// After this long without a connection the indicator says offline.
const offlineAfter = 20000;

// A timer that fires this much later than asked means the machine slept.
const tick = 5000;
const sleptAfter = 15000;

/**
 * Stream keeps one EventSource open for a set of rooms. onEvent(event, live)
 * gets every event in id order; onStatus(state) gets "connecting", "live",
 * "reconnecting" or "offline"; onOpen() runs after each successful connect;
 * onError() after each failed or dropped one (an EventSource never sees the
 * status, so the page asks the API why, e.g. a 401 or 403).
 */
export class Stream {
  constructor({ onEvent, onStatus, onOpen, onError }) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onOpen = onOpen;
    this.onError = onError;
    this.rooms = [];
    this.cursor = '';
    this.source = null;
    this.state = 'connecting';
    this.attempt = 0;
    this.downSince = 0;
    this.retryTimer = 0;
    this.lastTick = Date.now();

    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('offline', () => {
      // After a network drop an open stream usually hangs silently rather
      // than failing. Drop it; a server this machine can still reach (say
      // on localhost) takes the next attempt.
      this.close();
      this.scheduleReconnect();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.reconnectNow();
    });
    setInterval(() => this.checkSleep(), tick);
  }

  /** follow sets the rooms to stream, reconnecting only if they changed. */
  follow(rooms, cursor) {
    if (cursor && cursor > this.cursor) this.cursor = cursor;
    const next = [...new Set(rooms)].sort();
    if (this.source && next.join(',') === this.rooms.join(',')) return;
    this.rooms = next;
    this.connect();
  }

  connect() {
    this.close();
    if (this.rooms.length === 0) return;
    if (this.state !== 'live' && this.attempt === 0) this.setStatus('connecting');
    const source = new EventSource(eventsURL(this.rooms, this.cursor));
    this.source = source;
    source.addEventListener('open', () => {
      if (this.source !== source) return;
      this.attempt = 0;
      this.downSince = 0;
      this.setStatus('live');
      this.onOpen?.();
    });
    source.addEventListener('error', () => {
      if (this.source !== source) return;
      // Reconnect on our own schedule, with our cursor, whatever state the
      // browser left the EventSource in.
      this.close();
      this.scheduleReconnect();
      this.onError?.();
    });
    for (const type of eventTypes) {
      source.addEventListener(type, (e) => {
        if (this.source === source) this.receive(type, e);
      });
    }
  }

  receive(type, e) {
    let event;
    try {
      event = JSON.parse(e.data);
    } catch {
      return;
    }
    const id = e.lastEventId || event?.id;
    if (typeof id !== 'string' || !event || typeof event !== 'object') return;
    if (id > this.cursor) this.cursor = id;
    if (!event.type) event.type = type;
    this.onEvent(event);
  }

  scheduleReconnect() {
    clearTimeout(this.retryTimer);
    if (!this.downSince) this.downSince = Date.now();
    const offline = !navigator.onLine || Date.now() - this.downSince > offlineAfter;
    this.setStatus(offline ? 'offline' : 'reconnecting');
    const base = backoff[Math.min(this.attempt, backoff.length - 1)];
    this.attempt++;
    const delay = base * (0.8 + Math.random() * 0.4);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /**
   * reconnectNow skips the remaining backoff, e.g. when the network is back.
   * A live stream is left alone unless force is set.
   */
  reconnectNow(force = false) {
    if (this.rooms.length === 0) return;
    if (!force && (this.state === 'live' || this.state === 'connecting')) return;
    this.attempt = Math.min(this.attempt, 1);
    this.connect();
  }

  // A laptop that slept may hold a connection that looks open but is dead.
  checkSleep() {
    const now = Date.now();
    const slept = now - this.lastTick > sleptAfter;
    this.lastTick = now;
    if (slept) this.reconnectNow(true);
  }

  /** stop closes the stream for good, e.g. when the reader signs out. */
  stop() {
    this.rooms = [];
    this.close();
  }

  close() {
    clearTimeout(this.retryTimer);
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  setStatus(state) {
    if (state === this.state) return;
    this.state = state;
    this.onStatus(state);
  }
}
