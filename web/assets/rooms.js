// The followed rooms and the open one: following, opening and leaving
// rooms, loading each room's newest page and paging in older history, read
// marks, rooms the reader may not read, and the room list with its counts.

import * as api from './api.js';
import { loadSession, prefs } from './cache.js';
import { setRoute } from './routes.js';

const pageSize = 50;
const pendingRetry = 2000;
// The smallest id: a stream that resumes after it replays everything.
const zeroId = '00000000000000000000000000';

/**
 * Rooms decides which rooms the page follows and which one is open, and
 * keeps the store, the stream and the views in step with that. header holds
 * the open room's {title, exportLink, leave} elements; me() is the reader's
 * name; showUnread({active, unread, elsewhere}) shows the unread counts
 * outside the room list; closeNav() folds the room list away on a phone;
 * notify(text) tells the reader something happened to their rooms;
 * scheduleSave() asks for the session to be saved soon. live (live.js) is
 * told of the room list (its read markers), of reading and of the room
 * shown.
 */
export class Rooms {
  constructor({
    store, stream, access, sidebar, timeline, composer, actions, header, me, showUnread, closeNav, notify, scheduleSave,
    live,
  }) {
    Object.assign(this, {
      store, stream, access, sidebar, timeline, composer, actions, header, me, showUnread, closeNav, notify, scheduleSave,
      live,
    });
    this.active = ''; // the open room's name
    this.cursorKnown = false; // the stream has its starting point
    this.serverRooms = []; // the server's room list, as last fetched
    header.leave.addEventListener('click', () => this.leave());
    // Alt+↑ / Alt+↓ move between followed rooms.
    document.addEventListener('keydown', (e) => {
      if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
        const names = [...store.rooms.keys()];
        const next = names[names.indexOf(this.active) + (e.key === 'ArrowUp' ? -1 : 1)];
        if (next) {
          e.preventDefault();
          this.open(next, { push: true, focus: true });
        }
      }
    });
  }

  /**
   * streamRooms are the followed rooms the stream may carry: under access
   * control, not those the reader may not read (one would make the whole
   * stream 403) nor new ones until their history shows they may.
   */
  streamRooms() {
    return [...this.store.rooms.values()].filter((r) => !r.denied && !r.pending).map((r) => r.name);
  }

  /** followed are the rooms the reader follows, those waiting to stream included. */
  followed() {
    return [...this.store.rooms.values()].filter((r) => !r.denied).map((r) => r.name);
  }

  saveRooms() {
    prefs.rooms = this.followed();
  }

  /**
   * restore follows names and fills them from what this tab kept (see
   * loadSession), with the outbox and read marks. It returns the session,
   * or null if nothing usable was kept.
   */
  restore(names) {
    const { store } = this;
    const marks = prefs.readMarks;
    for (const name of names) store.room(name);
    const session = loadSession();
    if (session) {
      for (const [name, cached] of session.rooms) {
        const room = store.rooms.get(name);
        if (!room || !cached.events.length) continue;
        room.add(cached.events);
        room.hasMore = cached.hasMore;
        room.loaded = true;
      }
      for (const item of session.outbox) {
        if (store.rooms.has(item.room)) store.outbox.set(item.clientId, item);
      }
    }
    for (const room of store.rooms.values()) {
      room.readMark = marks[room.name] || room.lastId;
      room.countUnread(this.me());
    }
    for (const room of store.rooms.values()) store.confirm(room.events);
    return session;
  }

  /**
   * initialCursor asks the server where its log ends, so the stream can
   * start there and miss nothing that happens while the page loads.
   * untilReached(fn) calls fn until the server answers.
   */
  async initialCursor(untilReached) {
    let rooms = [];
    try {
      rooms = await untilReached(() => api.listRooms(this.me()));
    } catch {
      // Refused (a guest may have no list): the stream replays the followed
      // rooms from their start instead.
    }
    this.serverRooms = rooms;
    this.live.marks.applyList(rooms);
    return rooms.reduce((max, r) => (typeof r.last_id === 'string' && r.last_id > max ? r.last_id : max), zeroId);
  }

  /**
   * follow starts the stream after cursor (or each room after its own, in
   * cursors) and loads every followed room.
   */
  follow(cursor, cursors) {
    const { store } = this;
    this.cursorKnown = true;
    this.fit();
    this.stream.follow(this.streamRooms(), cursor, cursors);
    for (const room of store.rooms.values()) this.loadInitial(room);
    if (!this.access.guest) this.sidebar.renderOthers(this.serverRooms, new Set(store.rooms.keys()));
  }

  /** open shows a room, following it first if it is new to the reader. */
  open(name, { push = false, focus = false } = {}) {
    const { store, access, header } = this;
    const previous = store.rooms.get(this.active);
    if (!store.rooms.has(name)) {
      const { capacity } = this.stream;
      if (this.followed().length >= capacity) {
        this.sidebar.showError(`This server lets you follow at most ${capacity} rooms. Leave one first.`);
        return;
      }
      const room = store.room(name);
      // A guest sees one room: any other is shown as out of reach without
      // asking the server anything about it.
      if (access.guest && name !== access.identity.room) room.denied = true;
      else if (access.on) room.pending = true;
      this.saveRooms();
      if (this.cursorKnown) {
        this.stream.follow(this.streamRooms());
        this.loadInitial(room);
      }
    }
    // A room the reader may not read is only kept while it is shown.
    if (previous?.denied && previous.name !== name) store.remove(previous.name);
    this.active = name;
    if (!store.rooms.get(name).denied) prefs.lastRoom = name;
    setRoute(name, { push });

    const room = store.room(name);
    header.title.textContent = name;
    header.exportLink.href = api.exportURL(name);
    header.exportLink.download = `${name}.jsonl`;
    header.leave.hidden = store.rooms.size <= 1 || access.guest;
    header.leave.textContent = `Leave #${name}`;
    access.show(room);
    this.composer.setRoom(name);
    if (this.timeline.room !== room) this.actions.reset();
    // The "new messages" line: where the reader was when they came in.
    if (this.timeline.room?.name !== name) this.timeline.lineAt = room.readMark;
    this.timeline.show(room, store.outboxFor(name));
    this.markRead(room);
    this.live.roomShown();
    this.render();
    this.closeNav();
    if (focus) this.composer.focus();
  }

  /**
   * fit stops following the rooms the stream cannot carry (Stream.capacity:
   * the server's max_stream_rooms may be lower than when they were
   * followed), the most recently followed first, never the open one, and
   * says which.
   */
  fit() {
    const names = this.followed();
    const over = names.length - this.stream.capacity;
    if (over <= 0) return;
    // Rooms with messages still to send go last: leaving drops those.
    const candidates = names.filter((name) => name !== this.active).reverse();
    const idle = (name) => this.store.outboxFor(name).length === 0;
    const dropped = [...candidates.filter(idle), ...candidates.filter((n) => !idle(n))].slice(0, over);
    for (const name of dropped) this.store.remove(name);
    this.saveRooms();
    this.render();
    this.notify(`This server lets you follow at most ${this.stream.capacity} rooms: you no longer follow ${
      dropped.map((n) => `#${n}`).join(', ')}.`);
  }

  /**
   * setCapacity takes the server's max_stream_rooms: the streams regroup,
   * and rooms past the new capacity are no longer followed.
   */
  setCapacity(maxStreamRooms) {
    if (!this.stream.setMaxRooms(maxStreamRooms) || !this.cursorKnown) return;
    this.fit();
    this.stream.follow(this.streamRooms());
  }

  /**
   * reset drops what the page holds of a room whose events retention
   * deleted while the page was away (the stream's reset), and loads it
   * afresh: a history with a hole would look complete.
   */
  reset(name) {
    const { store } = this;
    const old = store.rooms.get(name);
    if (!old || old.denied) return;
    const room = store.reset(name);
    if (name === this.active) {
      this.actions.reset();
      this.timeline.show(room, store.outboxFor(name));
    }
    this.loadInitial(room);
    this.render();
    this.scheduleSave();
  }

  leave() {
    const { store } = this;
    if (store.rooms.size <= 1) return;
    store.remove(this.active);
    this.saveRooms();
    this.stream.follow(this.streamRooms());
    this.open(store.rooms.keys().next().value, { push: true, focus: true });
    this.refresh();
    this.scheduleSave();
  }

  /** loadInitial fetches the newest page of a room that has none loaded. */
  async loadInitial(room) {
    const { store } = this;
    if (room.loaded || room.loadingInitial || room.denied) return;
    room.loadingInitial = true;
    try {
      const events = await api.getMessages(room.name, { limit: pageSize });
      if (store.rooms.get(room.name) !== room) return;
      if (room.pending) {
        room.pending = false;
        this.stream.follow(this.streamRooms());
      }
      room.add(events); // also applies changes the stream brought meanwhile
      room.hasMore = events.length >= pageSize;
      room.loaded = true;
      if (!room.readMark) {
        // An empty room is read from its start: what comes later is unread.
        room.readMark = prefs.readMarks[room.name] || room.lastId || zeroId;
        // Kept, so that a reload knows where the reader was.
        if (room.readMark) prefs.saveReadMark(room.name, room.readMark);
      }
      store.confirm(events);
      if (room.name === this.active) {
        this.timeline.show(room, store.outboxFor(room.name));
        this.markRead(room);
      }
      room.countUnread(this.me());
      this.render();
      this.scheduleSave();
    } catch (err) {
      // On anything but a 403 the next connect of the stream tries again; a
      // room not in the stream yet cannot wait for that.
      if (err?.status === 403) this.deny(room.name);
      else if (room.pending && err?.retryable !== false) {
        setTimeout(() => {
          if (store.rooms.get(room.name) === room) this.loadInitial(room);
        }, pendingRetry);
      }
    } finally {
      room.loadingInitial = false;
    }
  }

  /** loadOlder pages in the events just before the oldest one loaded. */
  async loadOlder(room) {
    const { timeline } = this;
    if (room.loadingOlder || !room.hasMore || !room.loaded) return;
    room.loadingOlder = true;
    if (room.name === this.active) timeline.setLoading(true);
    let failed = false;
    try {
      const events = await api.getMessages(room.name, { before: room.oldestId, limit: pageSize });
      const { added } = room.add(events);
      if (events.length < pageSize) room.hasMore = false;
      if (room.name === this.active && timeline.room === room) timeline.prepended(added.length);
    } catch (err) {
      failed = true;
      if (err?.status === 403) this.deny(room.name);
    } finally {
      room.loadingOlder = false;
    }
    if (room.name !== this.active) return;
    timeline.setLoading(false);
    if (failed) {
      timeline.historyStatus.textContent = 'Could not load older messages.';
    } else {
      timeline.fill();
    }
  }

  /** refresh fetches the server's rooms for the list of other rooms. */
  async refresh() {
    if (this.access.guest || this.access.ended) return;
    try {
      this.serverRooms = await api.listRooms(this.me());
    } catch {
      return;
    }
    this.live.marks.applyList(this.serverRooms);
    this.sidebar.renderOthers(this.serverRooms, new Set(this.store.rooms.keys()));
  }

  /**
   * deny marks a room the reader may not read: it leaves the stream and the
   * saved rooms, forgets what was loaded of it, and, if open, shows so.
   */
  deny(name) {
    const { store } = this;
    const old = store.rooms.get(name);
    if (!old || old.denied) return;
    store.remove(name);
    if (prefs.lastRoom === name) prefs.lastRoom = '';
    if (name === this.active) {
      const room = store.room(name);
      room.denied = true;
    }
    this.saveRooms();
    this.stream.follow(this.streamRooms());
    if (name === this.active) this.open(name);
    else this.render();
    this.scheduleSave();
  }

  /**
   * markRead moves the read mark of the open room while the page is seen.
   * It returns false if room is not the open room or not seen.
   */
  markRead(room) {
    if (room.name !== this.active || document.visibilityState !== 'visible' || !room.loaded) return false;
    // Read means seen: the newest message is in view.
    if (this.timeline.room !== room || !this.timeline.stuck) return false;
    if (room.markRead()) prefs.saveReadMark(room.name, room.readMark);
    this.live.marks.push(room);
    room.unread = 0;
    room.mentions = 0;
    return true;
  }

  /**
   * showLine moves the open room's "new messages" line to after id, the
   * server's marker, when that is further than this browser's own mark
   * (the reader read on another device).
   */
  showLine(room, id) {
    if (room.name === this.active && id > this.timeline.lineAt) this.timeline.setLine(id);
  }

  /** readAtBottom marks the open room read when the reader reaches its newest message. */
  readAtBottom() {
    const room = this.store.rooms.get(this.active);
    if (room && room.lastId > room.readMark && this.markRead(room)) this.render();
  }

  /** render draws the followed rooms and their unread counts. */
  render() {
    const { store, active } = this;
    this.sidebar.render([...store.rooms.values()], active);
    let unread = 0;
    let elsewhere = 0;
    for (const room of store.rooms.values()) {
      if (room.name !== active) elsewhere += room.unread;
      if (room.name !== active || document.hidden) unread += room.unread;
    }
    this.showUnread({ active, unread, elsewhere });
  }
}
