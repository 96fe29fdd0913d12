// Who is in each followed room, who is typing, and whether the streams have
// caught up: the state the server's events without an id build
// (docs/live.md). Nothing here touches the DOM, so any part of the page
// (the presence list, the call UI) can read it.
//
//   import { roster } from './roster.js';
//   roster.people('general');  // [{name, guest, connections: [id…]}], by name
//   roster.connection;         // this browser's own stream's connection id
//   roster.addEventListener('change', (e) => e.detail.room);
//   roster.addEventListener('signal', (e) => e.detail); // a call signal's data
//
// The tabs of a browser share one stream (tabs.js), so every tab gets the
// signals sent to its connection id: a call UI must let one tab answer.

/**
 * Roster keeps presence and typing per room. It dispatches a "change"
 * event (detail {room}, room '' for all) whenever any of it changes.
 * It is fed by apply(type, data, rooms) with every event without an id of
 * the page's streams, in stream order; in a tab that shares another tab's
 * stream (tabs.js) those are passed on to it.
 */
export class Roster extends EventTarget {
  constructor() {
    super();
    this.rooms = new Map(); // room → {people: Map name → person, anonymous}
    this.typing = new Map(); // room → Map author → expiry timer
    this.pending = new Set(); // rooms whose stream has not sent live yet
    this.connection = ''; // this browser's stream's connection id (hello)
    this.you = null; // {name, guest} as the server knows this browser, or null
    this.server = ''; // parley/VERSION
  }

  /** caughtUp is true when every stream has replayed what it missed. */
  get caughtUp() {
    return this.pending.size === 0;
  }

  /** people is who is in room now, by name: [{name, guest, connections}]. */
  people(room) {
    const r = this.rooms.get(room);
    if (!r) return [];
    return [...r.people.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** anonymous is how many unnamed streams are in room. */
  anonymous(room) {
    return this.rooms.get(room)?.anonymous || 0;
  }

  /** typists is who is typing in room now, by name. */
  typists(room) {
    return [...(this.typing.get(room)?.keys() || [])].sort();
  }

  /** apply takes one event without an id; rooms are its stream's rooms. */
  apply(type, data, rooms = []) {
    if (type === 'hello') this.hello(data, rooms);
    else if (type === 'live' || type === 'closed') this.caught(rooms);
    else if (type === 'presence') this.presence(data);
    else if (type === 'typing') this.typed(data);
    else if (type === 'signal') this.dispatchEvent(new CustomEvent('signal', { detail: data }));
  }

  hello(data, rooms) {
    if (typeof data.connection === 'string') this.connection = data.connection;
    if (data.you === null || (data.you && typeof data.you.name === 'string')) this.you = data.you;
    if (typeof data.server === 'string') this.server = data.server;
    for (const room of Array.isArray(data.rooms) ? data.rooms : rooms) {
      if (typeof room === 'string') this.pending.add(room);
    }
    this.changed('');
  }

  caught(rooms) {
    for (const room of rooms) this.pending.delete(room);
    this.changed('');
  }

  presence(data) {
    const { room, kind } = data;
    if (typeof room !== 'string') return;
    let r = this.rooms.get(room);
    if (!r) {
      r = { people: new Map(), anonymous: 0 };
      this.rooms.set(room, r);
    }
    if (kind === 'roster') {
      r.people = new Map();
      for (const p of Array.isArray(data.people) ? data.people : []) {
        const person = personOf(p);
        if (person) r.people.set(person.name, person);
      }
      r.anonymous = Number.isInteger(data.anonymous) ? data.anonymous : 0;
    } else if (kind === 'join' || kind === 'update') {
      const person = personOf(data);
      if (!person) return;
      r.people.set(person.name, person);
    } else if (kind === 'leave') {
      if (typeof data.name === 'string') r.people.delete(data.name);
    } else if (kind === 'anonymous') {
      r.anonymous = Number.isInteger(data.anonymous) ? data.anonymous : 0;
    } else {
      return;
    }
    this.changed(room);
  }

  typed(data) {
    const { room, author } = data;
    if (typeof room !== 'string' || typeof author !== 'string') return;
    const ms = Number(data.expires_in_ms);
    if (Number.isFinite(ms) && ms > 0) this.startTyping(room, author, ms);
    else this.stopTyping(room, author);
  }

  startTyping(room, author, ms) {
    if (!this.typing.has(room)) this.typing.set(room, new Map());
    const typing = this.typing.get(room);
    clearTimeout(typing.get(author));
    typing.set(author, setTimeout(() => this.stopTyping(room, author), ms));
    this.changed(room);
  }

  /** stopTyping ends author's indicator in room, e.g. when their message arrives. */
  stopTyping(room, author) {
    const typing = this.typing.get(room);
    if (!typing?.has(author)) return;
    clearTimeout(typing.get(author));
    typing.delete(author);
    this.changed(room);
  }

  /**
   * snapshot is the state as events for apply, for a tab that starts
   * sharing a stream after these events went by.
   */
  snapshot() {
    const out = [];
    if (this.connection) {
      out.push(['hello', { connection: this.connection, you: this.you, server: this.server, rooms: [...this.pending] }]);
    }
    for (const [room, r] of this.rooms) {
      out.push(['presence', {
        room, kind: 'roster', people: [...r.people.values()], anonymous: r.anonymous,
      }]);
    }
    for (const [room, typing] of this.typing) {
      // The time left is not kept: the indicator's usual length will do.
      for (const author of typing.keys()) out.push(['typing', { room, author, expires_in_ms: 5000 }]);
    }
    return out;
  }

  changed(room) {
    this.dispatchEvent(new CustomEvent('change', { detail: { room } }));
  }
}

// personOf checks a PERSON of the server: {name, guest, connections}.
function personOf(p) {
  if (!p || typeof p.name !== 'string' || !p.name) return null;
  const connections = Array.isArray(p.connections) ? p.connections.filter((c) => typeof c === 'string') : [];
  return { name: p.name, guest: p.guest === true, connections };
}

/** roster is the page's one Roster. */
export const roster = new Roster();
