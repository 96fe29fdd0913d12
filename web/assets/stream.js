// The server-sent event streams of every room the page follows.
//
// One stream carries at most the server's max_stream_rooms rooms (GET
// /api/config); a page that follows more splits them over several streams,
// at most maxStreams. Each stream remembers the id of the last event it
// delivered (its cursor) and every new connection resumes after it, so a
// dropped connection, a server restart or a laptop waking from sleep loses
// nothing. The page sees an event twice only around a reconnect or when a
// room moves to another stream; the room store drops repeats by id.

import { eventsURL } from './api.js';
import { readEvents } from './sse.js';

// Event types the page applies: new messages and the changes to them.
const eventTypes = new Set(['message', 'edit', 'delete', 'reaction']);

// Events that are not history (no id: hello, live, presence, typing, read,
// signal; see docs/live.md) go to onLive, parsed; unknown ones are ignored
// there.

/**
 * maxStreams is how many streams one page opens at most. Each holds a
 * connection, and a browser speaking HTTP/1.1 allows six per server: the
 * rest are left for the page's other requests.
 */
export const maxStreams = 4;

// Delays before each reconnect attempt, in milliseconds; the last repeats.
const backoff = [250, 500, 1000, 2000, 4000, 8000, 15000, 30000];

// After this long without a connection the indicator says offline.
const offlineAfter = 20000;

// A timer that fires this much later than asked means the machine slept.
const tick = 5000;
const sleptAfter = 15000;

// The order of the states when several streams are in different ones: the
// page shows the worst.
const severity = ['live', 'connecting', 'reconnecting', 'offline', 'stopped'];

/**
 * Stream keeps the page's streams open for a set of rooms. onEvent(event)
 * gets every event of a stream in id order; onReset(room) a room whose
 * events after the cursor retention has deleted (the page's copy of it has
 * a hole: reload it); onStatus(state) gets "connecting", "live",
 * "reconnecting", "offline" or "stopped"; onOpen() runs after each
 * successful connect; onError() after each failed or dropped one (e.g. a
 * 401 or 403: the page asks the API why); onRefused({status, message})
 * when the server refused a stream in a way retrying cannot fix (a 400 or
 * 404): that stream stops until the rooms change. onLive(type, data,
 * rooms) gets the events without an id (docs/live.md), with the rooms of
 * their stream, and ('closed', {}, rooms) when the page closes a stream
 * (its rooms moved, or were left); onEvent's second argument is those rooms too. who() gives
 * {author, connection}: the name to stream as without access control, and
 * a connection id to ask for on the first connect (a tab taking over
 * another's stream).
 */
export class Stream {
  constructor({
    onEvent, onReset, onStatus, onOpen, onError, onRefused, onLive, who,
  }) {
    Object.assign(this, {
      onEvent, onReset, onStatus, onOpen, onError, onRefused, onLive, who,
    });
    this.maxRooms = 100; // per stream: the server's max_stream_rooms
    this.connections = [];
    this.cursors = new Map(); // room → id up to which it has every event
    this.newest = ''; // the newest id the page knows of
    this.state = 'connecting';
    this.lastTick = Date.now();

    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('offline', () => {
      // After a network drop an open stream usually hangs silently rather
      // than failing. Drop it; a server this machine can still reach (say
      // on localhost) takes the next attempt.
      for (const c of this.connections) c.drop();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.reconnectNow();
    });
    setInterval(() => this.checkSleep(), tick);
  }

  /** capacity is how many rooms the page can stream at once. */
  get capacity() {
    return this.maxRooms * maxStreams;
  }

  /**
   * cursor is an id up to which every followed room has every event: the
   * page resumes from it when it cannot tell the rooms apart.
   */
  get cursor() {
    let min = '';
    for (const c of this.connections) if (!min || c.cursor < min) min = c.cursor;
    return min || this.newest;
  }

  /**
   * roomCursors maps each streamed room to the id up to which it has every
   * event, for follow after a reload.
   */
  roomCursors() {
    const out = {};
    for (const c of this.connections) for (const room of c.rooms) out[room] = c.cursor;
    return out;
  }

  /**
   * follow sets the rooms to stream (at most capacity). Rooms new to the
   * page start after cursor, or after their own entry in cursors (a map
   * from roomCursors). Only streams whose rooms changed reconnect, and
   * those the server refused: a change of rooms tries them again.
   */
  follow(rooms, cursor, cursors) {
    if (cursor && cursor > this.newest) this.newest = cursor;
    for (const [room, id] of Object.entries(cursors || {})) this.cursors.set(room, id);
    const groups = regroup(this.connections.map((c) => c.rooms), [...new Set(rooms)], this.maxRooms);
    const old = new Map(this.connections.map((c) => [c.rooms.join(','), c]));
    const initial = this.state === 'live' ? 'live' : 'connecting';
    this.connections = groups.slice(0, maxStreams).map((group) => {
      const key = group.join(',');
      const same = old.get(key);
      if (same && same.state !== 'stopped') {
        old.delete(key);
        return same;
      }
      return new Connection(this, group, this.startFor(group), initial);
    });
    this.handOnIds([...old.values()]);
    for (const c of old.values()) c.close();
    // Every streamed room's cursor is now its stream's.
    this.cursors.clear();
    for (const c of this.connections) if (!c.started) c.connect();
    this.updateStatus();
  }

  /**
   * handOnIds gives each new stream the connection id of a replaced one
   * that carried some of its rooms: the server lets it keep the id, so
   * presence does not flap and a call in one of the rooms keeps its
   * address when another room is followed or left.
   */
  handOnIds(replaced) {
    for (const c of this.connections) {
      if (c.started) continue;
      const i = replaced.findIndex((o) => o.connection && o.rooms.some((r) => c.rooms.includes(r)));
      if (i >= 0) c.connection = replaced.splice(i, 1)[0].connection;
    }
  }

  /**
   * setMaxRooms takes the server's max_stream_rooms and returns true if it
   * changed; the next follow regroups the rooms.
   */
  setMaxRooms(n) {
    if (!Number.isInteger(n) || n <= 0 || n === this.maxRooms) return false;
    this.maxRooms = n;
    return true;
  }

  // startFor is the cursor a new stream of rooms resumes after: the oldest
  // of theirs, so none misses an event.
  startFor(rooms) {
    let min = '';
    for (const room of rooms) {
      const c = this.connections.find((conn) => conn.rooms.includes(room))?.cursor
        || this.cursors.get(room) || this.newest;
      if (!min || c < min) min = c;
    }
    return min;
  }

  // delivered notes the newest id seen, where rooms new to the page start.
  delivered(id) {
    if (id > this.newest) this.newest = id;
  }

  /**
   * reconnectNow skips the remaining backoff, e.g. when the network is back.
   * Live and stopped streams are left alone unless force is set for live ones.
   */
  reconnectNow(force = false) {
    for (const c of this.connections) c.reconnectNow(force);
  }

  // A laptop that slept may hold a connection that looks open but is dead.
  checkSleep() {
    const now = Date.now();
    const slept = now - this.lastTick > sleptAfter;
    this.lastTick = now;
    if (slept) this.reconnectNow(true);
  }

  /** carries is true if one of the streams is for room. */
  carries(room) {
    return this.connections.some((c) => c.rooms.includes(room));
  }

  /** stop closes every stream for good, e.g. when the reader signs out. */
  stop() {
    for (const c of this.connections) c.close();
    this.connections = [];
  }

  updateStatus() {
    if (!this.connections.length) return;
    let state = 'live';
    for (const c of this.connections) {
      if (severity.indexOf(c.state) > severity.indexOf(state)) state = c.state;
    }
    if (state === this.state) return;
    this.state = state;
    this.onStatus(state);
  }
}

/**
 * regroup spreads rooms over groups of at most max: rooms stay in the group
 * they were in where they can, so a room followed or left reconnects one
 * stream, not all of them.
 */
export function regroup(groups, rooms, max) {
  const wanted = new Set(rooms);
  const placed = new Set();
  const next = [];
  for (const group of groups) {
    const kept = group.filter((r) => wanted.has(r) && !placed.has(r)).slice(0, max);
    for (const r of kept) placed.add(r);
    if (kept.length) next.push(kept);
  }
  for (const room of rooms) {
    if (placed.has(room)) continue;
    let group = next.find((g) => g.length < max);
    if (!group) {
      group = [];
      next.push(group);
    }
    group.push(room);
    placed.add(room);
  }
  return next.map((g) => [...g].sort());
}

// Connection is one stream of some rooms, with its own cursor and backoff.
class Connection {
  constructor(stream, rooms, cursor, state) {
    Object.assign(this, { stream, rooms, cursor, state });
    this.started = false;
    this.closed = false;
    this.controller = null; // aborts the request in flight
    this.connection = ''; // the id of the last hello: kept across reconnects
    this.attempt = 0;
    this.downSince = 0;
    this.retryTimer = 0;
  }

  async connect() {
    this.abort();
    if (this.closed) return;
    this.started = true;
    if (this.state !== 'live' && this.attempt === 0) this.setState('connecting');
    const controller = new AbortController();
    this.controller = controller;
    let response;
    try {
      const who = this.stream.who?.() || {};
      // A reconnect keeps its connection id, so presence does not change.
      const connection = this.connection || who.connection || '';
      response = await fetch(eventsURL(this.rooms, this.cursor, { author: who.author, connection }), {
        headers: { Accept: 'text/event-stream' }, cache: 'no-store', signal: controller.signal,
      });
    } catch {
      if (this.controller === controller) this.failed();
      return;
    }
    if (this.controller !== controller) return;
    if (!response.ok || !/^text\/event-stream/.test(response.headers.get('Content-Type') || '')) {
      await this.refused(response, controller);
      return;
    }
    this.attempt = 0;
    this.downSince = 0;
    this.setState('live');
    this.stream.onOpen?.();
    try {
      await readEvents(response.body, (e) => {
        if (this.controller === controller) this.receive(e);
      });
    } catch {
      // Dropped: reconnect below.
    }
    if (this.controller === controller) this.failed();
  }

  // refused handles an answer that is not a stream. Retrying can fix the
  // server being down, busy or limiting (408, 429, 5xx, a proxy's page);
  // 401 and 403 are the page's to look into (see onError); any other 4xx
  // is final for these rooms.
  async refused(response, controller) {
    const { status } = response;
    let message = '';
    try {
      const data = await response.json();
      if (typeof data?.error === 'string') message = data.error;
    } catch {
      // Not JSON: the status says enough.
    }
    if (this.controller !== controller) return;
    const final = status >= 400 && status < 500 && ![401, 403, 408, 429].includes(status);
    if (final) {
      this.controller = null;
      this.setState('stopped');
      this.stream.onRefused?.({ status, message: message || `The server answered ${status}.` });
      return;
    }
    this.failed(retryAfter(response.headers.get('Retry-After')));
  }

  receive(e) {
    if (e.type !== 'reset' && !eventTypes.has(e.type)) {
      this.receiveLive(e);
      return;
    }
    if (e.type === 'reset') {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      if (typeof data?.room === 'string' && this.rooms.includes(data.room)) this.stream.onReset?.(data.room);
      return;
    }
    let event;
    try {
      event = JSON.parse(e.data);
    } catch {
      return;
    }
    const id = e.id || event?.id;
    if (typeof id !== 'string' || !event || typeof event !== 'object') return;
    if (id > this.cursor) {
      this.cursor = id;
      this.stream.delivered(id);
    }
    if (!event.type) event.type = e.type;
    this.stream.onEvent(event, this.rooms);
  }

  // receiveLive passes on an event that is not history.
  receiveLive(e) {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    if (!data || typeof data !== 'object') return;
    if (e.type === 'hello' && typeof data.connection === 'string') this.connection = data.connection;
    this.stream.onLive?.(e.type, data, this.rooms);
  }

  // failed schedules the next attempt, no sooner than waitMs.
  failed(waitMs = 0) {
    this.controller = null;
    this.scheduleReconnect(waitMs);
    this.stream.onError?.();
  }

  scheduleReconnect(waitMs = 0) {
    clearTimeout(this.retryTimer);
    if (this.closed) return;
    if (!this.downSince) this.downSince = Date.now();
    const offline = !navigator.onLine || Date.now() - this.downSince > offlineAfter;
    this.setState(offline ? 'offline' : 'reconnecting');
    const base = backoff[Math.min(this.attempt, backoff.length - 1)];
    this.attempt++;
    const delay = Math.max(base * (0.8 + Math.random() * 0.4), waitMs);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  // drop ends the connection in flight and tries again on the usual schedule.
  drop() {
    if (this.closed || this.state === 'stopped') return;
    this.abort();
    this.scheduleReconnect();
  }

  reconnectNow(force) {
    if (this.closed || this.state === 'stopped') return;
    if (!force && (this.state === 'live' || this.state === 'connecting')) return;
    this.attempt = Math.min(this.attempt, 1);
    this.connect();
  }

  abort() {
    clearTimeout(this.retryTimer);
    if (this.controller) {
      this.controller.abort();
      this.controller = null;
    }
  }

  close() {
    this.closed = true;
    this.abort();
    // Whatever this stream was catching up on, it no longer is.
    if (this.started) this.stream.onLive?.('closed', {}, this.rooms);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.stream.updateStatus();
  }
}

// retryAfter reads a Retry-After header in seconds as milliseconds.
function retryAfter(header) {
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}
