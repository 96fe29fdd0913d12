// Applying events to the followed rooms and redrawing what they change:
// the stream's, gathered into one redraw per burst, and the server's
// answers to the changes the reader made.

import { changeTypes } from './store.js';

const batchDelay = 10; // gather a burst of stream events into one redraw

/**
 * Updates applies events to the rooms in store. rooms is the Rooms
 * controller (the open room, read marks, the room list); me() is the
 * reader's name; renderOutbox() draws the open room's outbox;
 * scheduleSave() asks for the session to be saved soon.
 */
export class Updates {
  constructor({ store, rooms, timeline, announcer, me, renderOutbox, scheduleSave }) {
    Object.assign(this, { store, rooms, timeline, announcer, me, renderOutbox, scheduleSave });
    this.queue = []; // stream events not applied yet
    this.batchTimer = 0;
  }

  /** add queues an event from the stream; a burst is drawn at once. */
  add(event) {
    this.queue.push(event);
    if (!this.batchTimer) this.batchTimer = setTimeout(() => this.flush(), batchDelay);
  }

  /** flush applies and draws the queued events now. */
  flush() {
    clearTimeout(this.batchTimer);
    this.batchTimer = 0;
    const { store, rooms, timeline } = this;
    const events = this.queue;
    this.queue = [];
    const byRoom = new Map(); // room → {added, changed}
    for (const event of events) {
      const room = store.rooms.get(event.room);
      if (!room) continue;
      let added = [];
      let changed = [];
      if (event.type === 'message') {
        ({ added, changed } = room.add([event]));
      } else if (changeTypes.has(event.type)) {
        const message = room.apply(event);
        if (message) changed = [message];
        // A window of older history on screen (a permalink) changes too.
        const shown = timeline.detached && timeline.room.name === room.name ? timeline.room.apply(event) : null;
        if (shown) changed.push(shown);
      }
      if (!added.length && !changed.length) continue;
      if (!byRoom.has(room)) byRoom.set(room, { added: [], changed: new Set() });
      const r = byRoom.get(room);
      r.added.push(...added);
      for (const m of changed) r.changed.add(m);
    }
    for (const [room, { added, changed }] of byRoom) {
      if (room.name === rooms.active) {
        // Messages drawn just now already show their changes.
        for (const m of added) changed.delete(m);
        if (changed.size) timeline.updated([...changed]);
      }
      if (added.length) {
        const own = store.confirm(added);
        if (room.name === rooms.active) {
          timeline.appended(added, { own });
          if (own) this.renderOutbox();
          const me = this.me();
          for (const event of added) if (event.author !== me && !event.redacted) this.announcer.message(room.name, event);
        }
      }
      // Unread counts messages: a deletion can lower it; an edit or a
      // reaction leaves it as it was.
      if (!rooms.markRead(room)) room.countUnread(this.me());
    }
    if (byRoom.size) {
      rooms.render();
      this.scheduleSave();
    }
  }

  /**
   * applyResult applies what the server answered to a change the reader
   * made: the new event, or the message's current state when nothing
   * changed. The stream brings the same event later; applying it twice is
   * harmless.
   */
  applyResult(room, data) {
    if (!data || this.store.rooms.get(room.name) !== room) return;
    const message = data.type === 'message' ? room.setState(data) : room.apply(data);
    if (!message) return;
    if (room.name === this.rooms.active) this.timeline.updated([message]);
    this.scheduleSave();
  }
}
