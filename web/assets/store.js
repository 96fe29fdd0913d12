// The page's model: the loaded events of each followed room, read marks,
// unread counts and the outbox of messages not yet confirmed by the stream.
// It knows nothing of the DOM or the network.

/** Room holds one room's loaded events: a contiguous run ending at the newest. */
export class Room {
  constructor(name) {
    this.name = name;
    this.events = []; // ascending id order, no repeats
    this.ids = new Set();
    this.hasMore = true; // older events may exist on the server
    this.loaded = false; // the newest events have been fetched or restored
    this.readMark = ''; // id of the newest event the reader has seen
    this.unread = 0;
  }

  get lastId() {
    return this.events.length ? this.events[this.events.length - 1].id : '';
  }

  get oldestId() {
    return this.events.length ? this.events[0].id : '';
  }

  /**
   * add inserts events it has not seen, keeping id order. It returns the
   * events that were new, in id order.
   */
  add(events) {
    const added = [];
    for (const event of events) {
      if (!isEvent(event) || this.ids.has(event.id)) continue;
      this.ids.add(event.id);
      added.push(event);
      const list = this.events;
      if (!list.length || list[list.length - 1].id < event.id) {
        list.push(event);
      } else {
        list.splice(insertionIndex(list, event.id), 0, event);
      }
    }
    return added;
  }

  /** countUnread counts events after the read mark not written by me. */
  countUnread(me) {
    let n = 0;
    for (let i = this.events.length - 1; i >= 0 && this.events[i].id > this.readMark; i--) {
      if (this.events[i].author !== me) n++;
    }
    this.unread = n;
    return n;
  }

  /** unreadIsLowerBound is true when older unread events are not loaded. */
  get unreadIsLowerBound() {
    return this.hasMore && this.unread > 0 && this.oldestId > this.readMark;
  }

  /** markRead moves the read mark to the newest event; true if it moved. */
  markRead() {
    const last = this.lastId;
    if (!last || last <= this.readMark) return false;
    this.readMark = last;
    this.unread = 0;
    return true;
  }

  /** findClientId returns the event that carries clientId, if loaded. */
  findClientId(clientId) {
    return this.events.find((e) => e.client_id === clientId);
  }
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

/** isEvent checks the shape the rest of the page relies on. */
export function isEvent(e) {
  return e && typeof e === 'object' && typeof e.id === 'string' && typeof e.room === 'string'
    && typeof e.time === 'string';
}

/**
 * OutboxItem is a message the reader sent that the stream has not delivered
 * yet. state is "pending" (request in flight), "sent" (stored, waiting for
 * the stream) or "failed" (error holds why). Retries reuse clientId.
 */
export class OutboxItem {
  constructor({ clientId, room, author, text, time, state = 'pending', error = '', event = null }) {
    Object.assign(this, { clientId, room, author, text, time, state, error, event });
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
