// What the page keeps in the browser between loads.
//
// localStorage (shared by every tab, kept across sessions): the reader's
// name, the followed rooms, the last open room and the read marks.
// sessionStorage (one tab, kept across reloads): the tail of each room, each
// message in its current state, the stream cursor and the outbox, so a
// reload resumes the stream where it was instead of fetching every room
// again. The stream replays every change after the cursor, so the restored
// view converges on what a fresh load shows.
//
// Under access control everything but the server's mode is kept per
// signed-in identity (see setScope), so one person's rooms, read marks and
// cached messages never show to the next person who signs in here.

import { OutboxItem, isEvent } from './store.js';
import { roomPattern } from './api.js';

const baseKeys = {
  name: 'parley.name',
  rooms: 'parley.rooms',
  lastRoom: 'parley.last-room',
  read: 'parley.read',
  session: 'parley.session.v2', // v2: messages carry their current state
};
let keys = baseKeys;
let scope = '';
const authKey = 'parley.auth'; // the server's mode when last seen

/**
 * setScope keeps what follows under the signed-in identity's own keys;
 * without a call (no access control) the keys are as they always were.
 */
export function setScope(identity) {
  scope = JSON.stringify(identity);
  const suffix = `@${JSON.stringify(identity)}`;
  keys = Object.fromEntries(Object.entries(baseKeys).map(([k, v]) => [k, v + suffix]));
}

/** scopeName is the identity setScope was given, '' before. */
export function scopeName() {
  return scope;
}

// How much of each room a reload restores; older events page in on scroll.
const tailSizes = [100, 40, 10, 0];
const sessionBudget = 2_000_000; // characters

function readJSON(storage, key, fallback) {
  try {
    const raw = storage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function write(storage, key, value) {
  try {
    storage.setItem(key, value);
    return true;
  } catch {
    return false; // full or disabled: the page still works, it just forgets
  }
}

/** maxNameLength is the longest name the prompt accepts. */
export const maxNameLength = 40;

/** prefs are the reader's settings, shared by every tab. */
export const prefs = {
  get name() {
    const name = readJSON(localStorage, keys.name, '');
    return typeof name === 'string' ? name.slice(0, maxNameLength) : '';
  },
  set name(name) {
    write(localStorage, keys.name, JSON.stringify(name));
  },

  /** rooms is the list of followed room names, in the reader's order. */
  get rooms() {
    const rooms = readJSON(localStorage, keys.rooms, []);
    return Array.isArray(rooms) ? rooms.filter((r) => typeof r === 'string' && roomPattern.test(r)) : [];
  },
  set rooms(rooms) {
    write(localStorage, keys.rooms, JSON.stringify(rooms));
  },

  get lastRoom() {
    const room = readJSON(localStorage, keys.lastRoom, '');
    return typeof room === 'string' && roomPattern.test(room) ? room : '';
  },
  set lastRoom(room) {
    write(localStorage, keys.lastRoom, JSON.stringify(room));
  },

  /** readMarks maps a room to the id of the newest event read in it. */
  get readMarks() {
    const marks = readJSON(localStorage, keys.read, {});
    return marks && typeof marks === 'object' ? marks : {};
  },

  /** saveReadMark records id for room unless another tab got further. */
  saveReadMark(room, id) {
    const marks = this.readMarks;
    if ((marks[room] || '') >= id) return;
    marks[room] = id;
    write(localStorage, keys.read, JSON.stringify(marks));
  },

  /**
   * authMode is the server's access-control mode ("on" or "none") when the
   * page last asked, or "": a reload while the server is down starts from
   * it.
   */
  get authMode() {
    const mode = readJSON(localStorage, authKey, '');
    return mode === 'on' || mode === 'none' ? mode : '';
  },
  set authMode(mode) {
    write(localStorage, authKey, JSON.stringify(mode));
  },

  /** isReadKey tells a storage event that carries read marks. */
  isReadKey(key) {
    return key === keys.read;
  },
};

// An event id as the server writes it; the server refuses any other cursor.
const idPattern = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * loadSession returns what saveSession kept for this tab: {cursor, cursors,
 * rooms, outbox}, where cursors maps a room to its own stream cursor and
 * rooms maps a name to {events, hasMore}. It returns null if nothing usable
 * was kept.
 */
export function loadSession() {
  const data = readJSON(sessionStorage, keys.session, null);
  if (!data || typeof data.cursor !== 'string' || !idPattern.test(data.cursor) || typeof data.rooms !== 'object') {
    return null;
  }
  const cursors = {};
  for (const [name, id] of Object.entries(data.cursors || {})) {
    if (roomPattern.test(name) && typeof id === 'string' && idPattern.test(id)) cursors[name] = id;
  }
  const rooms = new Map();
  for (const [name, room] of Object.entries(data.rooms)) {
    if (!roomPattern.test(name) || !Array.isArray(room?.events)) continue;
    rooms.set(name, { events: room.events.filter(isEvent), hasMore: room.hasMore !== false });
  }
  const outbox = Array.isArray(data.outbox)
    ? data.outbox.filter((o) => o && typeof o.clientId === 'string').map((o) => new OutboxItem(o))
    : [];
  return { cursor: data.cursor, cursors, rooms, outbox };
}

/** clearSession forgets what saveSession kept for this tab. */
export function clearSession() {
  try {
    sessionStorage.removeItem(keys.session);
  } catch {
    // Storage is disabled; there is nothing to clear.
  }
}

/**
 * saveSession keeps the tail of every loaded room, the stream cursor (and
 * each room's, cursors) and the outbox.
 */
export function saveSession(store, cursor, cursors) {
  if (!cursor) return;
  const outbox = [...store.outbox.values()];
  for (const size of tailSizes) {
    const rooms = {};
    for (const room of store.rooms.values()) {
      if (!room.loaded) continue;
      const events = size ? room.events.slice(-size) : [];
      rooms[room.name] = { events, hasMore: room.hasMore || events.length < room.events.length };
    }
    const json = JSON.stringify({ cursor, cursors, rooms, outbox });
    if (json.length <= sessionBudget && write(sessionStorage, keys.session, json)) return;
  }
  clearSession();
}
