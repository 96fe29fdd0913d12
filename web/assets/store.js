// The page's model: the loaded messages of each followed room in their
// current state, read marks, unread counts and the outbox of messages not
// yet confirmed by the stream.
// It knows nothing of the DOM or the network.

// Most lifecycle events kept per room for messages not loaded yet.
const maxOrphans = 2000;

/** changeTypes are the events that change a message already posted. */
export const changeTypes = new Set(['edit', 'delete', 'reaction']);

/**
 * Room holds one room's loaded messages: a contiguous run ending at the
 * newest, each in its current state (edits, deletion and reactions applied).
 */
export class Room {
  constructor(name) {
    this.name = name;
    this.events = []; // messages in ascending id order, no repeats
    this.byId = new Map(); // id → message in events
    this.hasMore = true; // older events may exist on the server
    this.loaded = false; // the newest events have been fetched or restored
    this.readMark = ''; // id of the newest event the reader has seen
    this.unread = 0;
    this.mentions = 0; // of the unread messages, those that mention the reader
    this.exact = true; // unread is a count, not a lower bound
    // The server's marker and counts from the room list: {read, unread,
    // mentions, lastId}, or null.
    this.server = null;
    // Changes to messages not loaded yet, in arrival order: a page of
    // history read just before such a change must still show it.
    this.orphans = [];
    // The id of the last change applied per message and key, so a change
    // seen twice, or out of order (a reply to our own request racing the
    // stream), never undoes a newer one. Not kept across reloads: there
    // the stream replays in order.
    this.revs = new Map();
  }

  get lastId() {
    return this.events.length ? this.events[this.events.length - 1].id : '';
  }

  get oldestId() {
    return this.events.length ? this.events[0].id : '';
  }

  /**
   * add takes messages (from history, the stream or the cache) and inserts
   * those it has not seen, keeping id order. For one it has, it only takes
   * a deletion. It returns {added, changed}: new messages in id order, and
   * known ones that changed.
   */
  add(events) {
    const added = [];
    const changed = [];
    for (const event of events) {
      if (!isMessage(event)) continue;
      const known = this.byId.get(event.id);
      if (known) {
        if (event.redacted && !known.redacted) {
          redact(known, event.deleted_at || event.time);
          changed.push(known);
        }
        continue;
      }
      normalize(event);
      this.byId.set(event.id, event);
      added.push(event);
      const list = this.events;
      if (!list.length || list[list.length - 1].id < event.id) {
        list.push(event);
      } else {
        list.splice(insertionIndex(list, event.id), 0, event);
      }
    }
    if (added.length && this.orphans.length) this.adopt(added);
    return { added, changed };
  }

  /**
   * apply applies an edit, delete or reaction event and returns the message
   * it changed, or null. A change to a message not loaded is kept for when
   * it loads.
   */
  apply(event) {
    if (!isEvent(event) || !changeTypes.has(event.type) || typeof event.target !== 'string') return null;
    const message = this.byId.get(event.target);
    if (!message) {
      if (!this.orphans.some((o) => o.id === event.id)) {
        this.orphans.push(event);
        if (this.orphans.length > maxOrphans) this.orphans.shift();
      }
      return null;
    }
    return this.change(message, event) ? message : null;
  }

  // adopt applies kept changes to messages that just loaded.
  adopt(messages) {
    const ids = new Set(messages.map((m) => m.id));
    const rest = [];
    for (const event of this.orphans) {
      if (ids.has(event.target)) this.change(this.byId.get(event.target), event);
      else rest.push(event);
    }
    this.orphans = rest;
  }

  change(message, event) {
    if (message.redacted || typeof event.author !== 'string') return false;
    if (event.type === 'delete') {
      redact(message, event.time);
      return true;
    }
    const key = event.type === 'edit'
      ? `${message.id} edit`
      : `${message.id} reaction ${event.author} ${event.emoji}`;
    if ((this.revs.get(key) || '') >= event.id) return false;
    this.revs.set(key, event.id);
    if (event.type === 'edit') {
      if (typeof event.text !== 'string') return false;
      message.text = event.text;
      message.edited_at = event.time;
      // An edit replaces the mentions with those of its text.
      if (Array.isArray(event.mentions)) message.mentions = event.mentions;
      else delete message.mentions;
      return true;
    }
    if (typeof event.emoji !== 'string' || !event.emoji) return false;
    return react(message, event.emoji, event.author, !event.remove);
  }

  /**
   * setState replaces what is known of a loaded message with its current
   * state from the server, and returns the message, or null if it is not
   * loaded.
   */
  setState(state) {
    const message = isMessage(state) && this.byId.get(state.id);
    if (!message) return null;
    if (state.redacted) {
      if (message.redacted) return null;
      redact(message, state.deleted_at || state.time);
      return message;
    }
    if (message.redacted) return null;
    for (const key of ['text', 'edited_at', 'reactions', 'mentions']) {
      if (state[key] === undefined) delete message[key];
      else message[key] = state[key];
    }
    normalize(message);
    return message;
  }

  /**
   * countUnread counts messages after the read mark not written by me, and
   * those of them that mention me. When the loaded messages do not reach
   * back to the mark, the server's counts (server, from the room list) fill
   * in what is not loaded.
   */
  countUnread(me) {
    const [n, m] = this.countAfter(this.readMark, me);
    this.exact = true;
    this.unread = n;
    this.mentions = m;
    const s = this.server;
    if (s && s.read === this.readMark && this.hasMore && this.oldestId > this.readMark) {
      const [an, am] = this.countAfter(s.lastId, me);
      this.unread = Math.max(n, s.unread + an);
      this.mentions = Math.max(m, s.mentions + am);
      this.exact = s.unread < 1000;
    }
    return this.unread;
  }

  // countAfter counts the loaded messages after id not written by me, and
  // those that mention me.
  countAfter(id, me) {
    const name = (me || '').toLowerCase();
    let n = 0;
    let m = 0;
    for (let i = this.events.length - 1; i >= 0 && this.events[i].id > id; i--) {
      const e = this.events[i];
      if (e.author === me || e.redacted) continue;
      n++;
      if (name && Array.isArray(e.mentions) && e.mentions.includes(name)) m++;
    }
    return [n, m];
  }

  /** unreadIsLowerBound is true when older unread events are not loaded or counted. */
  get unreadIsLowerBound() {
    if (this.server && this.server.read === this.readMark) return !this.exact;
    return this.hasMore && this.unread > 0 && this.oldestId > this.readMark;
  }

  /** markRead moves the read mark to the newest event; true if it moved. */
  markRead() {
    const last = this.lastId;
    if (!last || last <= this.readMark) return false;
    this.readMark = last;
    this.unread = 0;
    this.mentions = 0;
    return true;
  }

  /** findClientId returns the event that carries clientId, if loaded. */
  findClientId(clientId) {
    return this.events.find((e) => e.client_id === clientId);
  }
}

function isMessage(e) {
  return isEvent(e) && (e.type === 'message' || e.type === undefined) && typeof e.author === 'string';
}

// normalize makes a message's optional fields safe to rely on.
function normalize(message) {
  if (message.redacted) {
    redact(message, message.deleted_at || message.time);
    return;
  }
  if (typeof message.text !== 'string') message.text = '';
  const reactions = [];
  for (const r of Array.isArray(message.reactions) ? message.reactions : []) {
    if (!r || typeof r.emoji !== 'string' || !r.emoji) continue;
    const authors = Array.isArray(r.authors) ? r.authors.filter((a) => typeof a === 'string') : [];
    const count = Number.isInteger(r.count) ? Math.max(r.count, authors.length) : authors.length;
    if (count > 0) reactions.push({ emoji: r.emoji, count, authors });
  }
  if (reactions.length) message.reactions = reactions;
  else delete message.reactions;
}

function redact(message, time) {
  message.redacted = true;
  if (time) message.deleted_at = time;
  delete message.text;
  delete message.edited_at;
  delete message.reactions;
  delete message.mentions;
}

// react adds or removes one author's emoji; true if that changed anything.
function react(message, emoji, author, add) {
  const reactions = message.reactions || [];
  let entry = reactions.find((r) => r.emoji === emoji);
  const has = Boolean(entry?.authors.includes(author));
  if (add === has) return false;
  if (add) {
    if (!entry) {
      entry = { emoji, count: 0, authors: [] };
      reactions.push(entry);
    }
    entry.authors.push(author);
    entry.count++;
  } else {
    entry.authors.splice(entry.authors.indexOf(author), 1);
    entry.count--;
    if (entry.count <= 0) reactions.splice(reactions.indexOf(entry), 1);
  }
  if (reactions.length) message.reactions = reactions;
  else delete message.reactions;
  return true;
}

function insertionIndex(list, id) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * idTime is the time an event id was made (its first 48 bits count
 * milliseconds), or null for the zero id or something else.
 */
export function idTime(id) {
  if (typeof id !== 'string' || id.length !== 26) return null;
  let ms = 0;
  for (const c of id.slice(0, 10)) {
    const v = crockford.indexOf(c);
    if (v < 0) return null;
    ms = ms * 32 + v;
  }
  return ms > 0 ? new Date(ms) : null;
}

/** isEvent checks the shape the rest of the page relies on. */
export function isEvent(e) {
  return e && typeof e === 'object' && typeof e.id === 'string' && typeof e.room === 'string'
    && typeof e.time === 'string';
}

let lastSeq = 0;

/**
 * nextSeq numbers the reader's messages in the order they were written,
 * across reloads (it follows the clock): the text outbox and the messages
 * with files share it, so a room gets both in that order.
 */
export function nextSeq() {
  lastSeq = Math.max(lastSeq + 1, Date.now());
  return lastSeq;
}

/** noteSeq makes later numbers of nextSeq larger than seq (a restored message's). */
export function noteSeq(seq) {
  if (Number.isFinite(seq)) lastSeq = Math.max(lastSeq, seq);
}

/**
 * OutboxItem is a message the reader sent that the stream has not delivered
 * yet. state is "pending" (request in flight, or waiting for a message
 * written before it), "sent" (stored, waiting for the stream) or "failed"
 * (error holds why; retryable is true when trying again may succeed, and
 * the page does so on its own). Retries reuse clientId. replyTo is the id
 * of the message it answers, or empty. seq orders it among the messages
 * the reader wrote (nextSeq); 0 for one kept before seq existed.
 */
export class OutboxItem {
  constructor({
    clientId, room, author, text, time, replyTo = '', state = 'pending', error = '', retryable = false, event = null, seq = 0,
  }) {
    Object.assign(this, { clientId, room, author, text, time, replyTo, state, error, retryable, event, seq });
    noteSeq(seq);
  }

  /** reply_to names the parent the way a stored message does. */
  get reply_to() {
    return this.replyTo;
  }
}

/** Store is every followed room plus the outbox. */
export class Store {
  constructor() {
    this.rooms = new Map(); // name → Room, in follow order
    this.outbox = new Map(); // clientId → OutboxItem, in send order
  }

  room(name) {
    let room = this.rooms.get(name);
    if (!room) {
      room = new Room(name);
      this.rooms.set(name, room);
    }
    return room;
  }

  /**
   * reset forgets what is loaded of a followed room, keeping its place in
   * the follow order and its read mark, and returns the empty Room that
   * replaces it. It returns null for a room not followed.
   */
  reset(name) {
    const old = this.rooms.get(name);
    if (!old) return null;
    const room = new Room(name);
    room.readMark = old.readMark;
    this.rooms.set(name, room);
    return room;
  }

  remove(name) {
    this.rooms.delete(name);
    for (const [id, item] of this.outbox) if (item.room === name) this.outbox.delete(id);
  }

  outboxFor(name) {
    return [...this.outbox.values()].filter((item) => item.room === name);
  }

  /**
   * confirm drops outbox items whose events have arrived and returns true
   * if it dropped any.
   */
  confirm(events) {
    let changed = false;
    for (const event of events) {
      const item = event.client_id && this.outbox.get(event.client_id);
      if (item && item.room === event.room) {
        this.outbox.delete(event.client_id);
        changed = true;
      }
    }
    return changed;
  }
}
