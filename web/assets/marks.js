// Read markers on the server (docs/live.md#read-markers-and-unread-counts):
// per person, not per browser, so unread counts agree across devices and
// survive reloads. The page moves its marker with PUT /api/rooms/:room/read
// as the reader reads, takes the server's marker and counts from the room
// list (GET /api/rooms), and another device's reading from the stream's
// `read` event.

import * as api from './api.js';
import { prefs } from './cache.js';

// Gather reading into one request per room.
const putDelay = 500;

/**
 * ServerMarks keeps the rooms of store in step with the server's markers.
 * me() is the reader's name (without access control the server needs it;
 * no name, nothing is stored); onChange(room) runs when a room's marker or
 * counts changed, onMarker(room, id) when the server's marker is known for
 * the first time in this page (where the "new messages" line goes).
 */
export class ServerMarks {
  constructor({ store, me, onChange, onMarker }) {
    Object.assign(this, { store, me, onChange, onMarker });
    // Until the room list has said where the server's markers are, the page
    // does not move them: its first reading must not hide where the reader
    // was from the "new messages" line.
    this.ready = false;
    this.waiting = new Set(); // rooms read before then
    this.timers = new Map(); // room → pending PUT timer
    this.sent = new Map(); // room → the newest marker sent
  }

  /**
   * applyList takes the room list (api.listRooms with the reader's name):
   * each followed room's marker (never moved back) and counts.
   */
  applyList(list) {
    for (const r of list) {
      const room = this.store.rooms.get(r?.name);
      if (!room || typeof r.read !== 'string') continue;
      const first = !room.server;
      room.server = {
        read: r.read,
        unread: Number.isInteger(r.unread) ? r.unread : 0,
        mentions: Number.isInteger(r.mentions) ? r.mentions : 0,
        lastId: typeof r.last_id === 'string' ? r.last_id : '',
      };
      if (r.read > (this.sent.get(room.name) || '')) this.sent.set(room.name, r.read);
      if (r.read > room.readMark) {
        room.readMark = r.read;
        prefs.saveReadMark(room.name, r.read);
      }
      room.countUnread(this.me());
      if (first && !this.ready && r.read) this.onMarker(room, r.read);
      this.onChange(room);
    }
    this.start();
  }

  /** start lets the page move markers; it runs after the first room list. */
  start() {
    this.ready = true;
    this.flush();
  }

  /** flush pushes what waited: the room list, or the reader's name. */
  flush() {
    if (!this.ready || !this.me()) return;
    for (const name of this.waiting) {
      const room = this.store.rooms.get(name);
      if (room) this.push(room);
    }
    this.waiting.clear();
  }

  /** moved takes a stream's `read` event: the marker moved, maybe elsewhere. */
  moved(data) {
    const room = this.store.rooms.get(data?.room);
    if (!room || typeof data.id !== 'string') return;
    if (data.id > (this.sent.get(room.name) || '')) this.sent.set(room.name, data.id);
    if (data.id <= room.readMark) return;
    room.readMark = data.id;
    prefs.saveReadMark(room.name, data.id);
    room.server = null; // its counts were for an older marker
    room.countUnread(this.me());
    this.onChange(room);
  }

  /** push stores room's read mark on the server soon, if it moved. */
  push(room) {
    if (!room.readMark || room.readMark <= (this.sent.get(room.name) || '')) return;
    if (!this.ready || !this.me()) {
      this.waiting.add(room.name);
      return;
    }
    if (this.timers.has(room.name)) return;
    this.timers.set(room.name, setTimeout(() => this.put(room.name), putDelay));
  }

  async put(name) {
    this.timers.delete(name);
    const room = this.store.rooms.get(name);
    const me = this.me();
    // The zero mark (an empty room, read) is nothing to store.
    if (!room || !me || !room.readMark || /^0+$/.test(room.readMark) || room.readMark <= (this.sent.get(name) || '')) return;
    const id = room.readMark;
    this.sent.set(name, id);
    try {
      await api.putRead(name, me, id);
    } catch (err) {
      // Not stored: the next reading tries again.
      if ((this.sent.get(name) || '') === id) this.sent.delete(name);
    }
  }
}
