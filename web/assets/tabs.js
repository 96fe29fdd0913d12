// One stream for all the tabs of a browser. Browsers allow six HTTP/1.1
// connections per server: with a stream per tab the seventh tab hangs. So
// one tab, the leader, holds the streams (stream.js) for the rooms every
// tab follows, and passes each event to the others over a
// BroadcastChannel. The leader is whoever holds a Web Lock
// (navigator.locks); when it closes, the browser hands the lock to another
// tab, which resumes after the last id it saw (Last-Event-ID) keeping the
// old leader's connection id (so presence does not change). The room store
// drops an event it already has, so a takeover shows nothing twice.
//
// Without Web Locks or BroadcastChannel (an old browser, or a page over
// plain HTTP from another machine: locks need a secure context) every tab
// streams on its own, as before.

import { Stream } from './stream.js';

/**
 * SharedStream has Stream's interface (follow, stop, cursor, roomCursors,
 * capacity, setMaxRooms, reconnectNow, state) and its callbacks, for a tab
 * that shares one stream with the browser's other tabs. snapshot() gives
 * the live state ([[type, data]…], see Roster.snapshot) a tab that starts
 * following gets from the leader. scope() names what is shared (under
 * access control, the signed-in identity), read when the stream starts.
 */
export class SharedStream {
  constructor(handlers, { scope, snapshot }) {
    this.handlers = handlers;
    this.scope = scope;
    this.snapshot = snapshot;
    this.tab = Math.random().toString(36).slice(2) + Date.now().toString(36);
    this.stream = null; // the Stream, while this tab leads
    this.channel = null;
    this.leading = false;
    this.started = false;
    this.stopped = false;
    this.wanted = []; // this tab's rooms
    this.tabs = new Map(); // leader: tab → its rooms
    this.cursors = new Map(); // room → the newest id this tab got of it
    this.newest = '';
    this.maxRooms = 100;
    this.state = 'connecting';
    this.connection = ''; // the leader's (first) connection id, as its hello said
    this.inherit = ''; // the id this tab's first connect asks for, on a takeover
  }

  /** shared is true when tabs can share a stream in this browser. */
  static get supported() {
    return typeof BroadcastChannel === 'function' && Boolean(navigator.locks?.request);
  }

  get capacity() {
    return this.maxRooms * 4;
  }

  get cursor() {
    if (this.stream) return this.stream.cursor;
    let min = '';
    for (const room of this.wanted) {
      const c = this.cursors.get(room) || this.newest;
      if (!min || c < min) min = c;
    }
    return min || this.newest;
  }

  roomCursors() {
    if (this.stream) return this.stream.roomCursors();
    return Object.fromEntries(this.wanted.filter((r) => this.cursors.has(r)).map((r) => [r, this.cursors.get(r)]));
  }

  setMaxRooms(n) {
    if (!Number.isInteger(n) || n <= 0 || n === this.maxRooms) return false;
    this.maxRooms = n;
    this.stream?.setMaxRooms(n);
    return true;
  }

  reconnectNow(force) {
    if (this.stream) this.stream.reconnectNow(force);
    // A new name given in this tab: the leader streams under it.
    else if (force) this.post({ type: 'reconnect' });
  }

  /** carries is true if room is streamed for this tab (calls.js). */
  carries(room) {
    return this.stream ? this.stream.carries(room) : this.wanted.includes(room);
  }

  follow(rooms, cursor, cursors) {
    this.wanted = [...new Set(rooms)];
    if (cursor && cursor > this.newest) this.newest = cursor;
    for (const [room, id] of Object.entries(cursors || {})) this.seen(room, id);
    if (!this.started) this.start();
    if (this.leading) this.followAll();
    else this.post({ type: 'rooms', rooms: this.wanted });
  }

  stop() {
    this.stopped = true;
    this.stream?.stop();
    this.stream = null;
    this.post({ type: 'bye' });
    this.channel?.close();
    this.channel = null;
    this.release?.();
  }

  start() {
    this.started = true;
    if (!SharedStream.supported) {
      this.lead();
      return;
    }
    document.documentElement.dataset.stream = 'follower';
    const name = `parley.stream@${this.scope()}`;
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (e) => this.receive(e.data);
    window.addEventListener('pagehide', () => this.post({ type: 'bye' }));
    navigator.locks.request(name, () => new Promise((resolve) => {
      this.release = resolve;
      if (this.stopped) resolve();
      else this.lead();
    }));
    // Until this tab leads, the leader (if any) tells it where things are.
    this.post({ type: 'join', rooms: this.wanted });
  }

  // lead makes this tab the one holding the stream.
  lead() {
    this.leading = true;
    // Says which tab holds the stream (for people and tests looking in).
    document.documentElement.dataset.stream = 'leader';
    this.inherit = this.connection;
    const h = this.handlers;
    this.stream = new Stream({
      onEvent: (event, rooms) => {
        this.post({ type: 'event', event, rooms });
        this.got(event, rooms);
      },
      onLive: (type, data, rooms) => {
        if (type === 'hello' && typeof data.connection === 'string' && !this.connection) this.connection = data.connection;
        this.post({ type: 'live', kind: type, data, rooms });
        h.onLive?.(type, data, rooms);
      },
      onReset: (room) => {
        this.post({ type: 'reset', room });
        h.onReset?.(room);
      },
      onStatus: (state) => {
        this.state = state;
        this.post({ type: 'status', state });
        h.onStatus?.(state);
      },
      onOpen: () => {
        this.post({ type: 'open' });
        h.onOpen?.();
      },
      onError: () => h.onError?.(),
      onRefused: (r) => {
        this.post({ type: 'refused', refused: r });
        h.onRefused?.(r);
      },
      who: () => {
        const who = h.who?.() || {};
        // The first connect of a takeover asks for the old leader's id.
        const connection = this.inherit;
        this.inherit = '';
        this.connection = '';
        return { ...who, connection };
      },
    });
    this.stream.setMaxRooms(this.maxRooms);
    this.post({ type: 'leader' });
    this.followAll();
  }

  // followAll streams the rooms of every tab.
  followAll() {
    const rooms = new Set(this.wanted);
    for (const list of this.tabs.values()) for (const r of list) rooms.add(r);
    const cursors = {};
    for (const [room, id] of this.cursors) cursors[room] = id;
    this.stream.follow([...rooms].slice(0, this.capacity), this.newest, cursors);
    this.cursors.clear();
  }

  // got passes a stored event to this tab's page and notes its cursor.
  got(event, rooms) {
    if (typeof event?.id !== 'string') return;
    if (!this.leading) for (const room of rooms || []) this.seen(room, event.id);
    if (event.id > this.newest) this.newest = event.id;
    this.handlers.onEvent(event);
  }

  seen(room, id) {
    if (typeof id === 'string' && id > (this.cursors.get(room) || '')) this.cursors.set(room, id);
  }

  post(message) {
    try {
      this.channel?.postMessage({ ...message, tab: this.tab });
    } catch {
      // The channel is closed: the page is going.
    }
  }

  receive(m) {
    if (!m || typeof m !== 'object' || m.tab === this.tab) return;
    const h = this.handlers;
    if (this.leading) {
      if (m.type === 'join' || m.type === 'rooms') {
        const before = [...this.tabs.values()].flat().join();
        this.tabs.set(m.tab, Array.isArray(m.rooms) ? m.rooms : []);
        if (m.type === 'join') this.welcome(m.tab);
        if ([...this.tabs.values()].flat().join() !== before) this.followAll();
      } else if (m.type === 'bye') {
        this.tabs.delete(m.tab);
      } else if (m.type === 'reconnect') {
        this.stream.reconnectNow(true);
      }
      return;
    }
    switch (m.type) {
      case 'event':
        this.got(m.event, m.rooms);
        break;
      case 'live':
        if (m.kind === 'hello' && typeof m.data?.connection === 'string') this.connection = m.data.connection;
        h.onLive?.(m.kind, m.data, m.rooms || []);
        break;
      case 'welcome':
        if (m.to !== this.tab) break;
        this.welcomed(m);
        break;
      case 'reset':
        h.onReset?.(m.room);
        break;
      case 'status':
        this.setState(m.state);
        break;
      case 'open':
        h.onOpen?.();
        break;
      case 'refused':
        h.onRefused?.(m.refused);
        break;
      case 'leader':
        // A new leader: it needs this tab's rooms.
        this.post({ type: 'join', rooms: this.wanted });
        break;
      default:
    }
  }

  // welcome tells a tab that just joined what it missed: the state, the
  // cursors and the live state (who is here).
  welcome(to) {
    this.post({
      type: 'welcome',
      to,
      state: this.state,
      cursors: this.stream.roomCursors(),
      newest: this.stream.cursor,
      connection: this.connection || '',
      live: this.snapshot(),
    });
  }

  welcomed(m) {
    for (const [room, id] of Object.entries(m.cursors || {})) this.seen(room, id);
    if (typeof m.connection === 'string' && m.connection) this.connection = m.connection;
    for (const [type, data] of Array.isArray(m.live) ? m.live : []) this.handlers.onLive?.(type, data, []);
    this.setState(m.state);
    if (m.state === 'live') this.handlers.onOpen?.();
  }

  setState(state) {
    if (typeof state !== 'string' || state === this.state) return;
    this.state = state;
    this.handlers.onStatus?.(state);
  }
}
