// Permalinks: /r/:room?m=ID opens the room at that message, highlighted.
// A message already loaded is scrolled to; one further back is loaded with
// the page around it (GET …/messages?around=ID) into a window of older
// history that the timeline shows while the room keeps taking live events,
// until the reader goes back to the newest messages or scrolls down to them.

import * as api from './api.js';
import { roomHref } from './sidebar.js';
import { Room } from './store.js';

const pageSize = 50;
const loadWait = 30000; // how long a jump waits for the room's first page

/** messageHref is the shareable address of a message. */
export function messageHref(room, id) {
  return `${roomHref(room)}?m=${encodeURIComponent(id)}`;
}

/** routeMessage is the message id the address names with ?m=, or ''. */
export function routeMessage() {
  const id = new URLSearchParams(location.search).get('m') || '';
  return /^[0-9A-Za-z]{26}$/.test(id) ? id.toUpperCase() : '';
}

/**
 * Jumper opens messages by id. rooms is the Rooms controller; notify(text)
 * shows a short note. Links with data-jump (and data-room) anywhere in the
 * page open their message here instead of reloading the page.
 */
export class Jumper {
  constructor({ store, rooms, timeline, notify }) {
    Object.assign(this, { store, rooms, timeline, notify });
    document.addEventListener('click', (e) => {
      const link = e.target.closest?.('a[data-jump]');
      if (!link || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      this.jump(link.dataset.room || rooms.active, link.dataset.jump, { push: true });
    });
  }

  /** jump opens room name at message id. */
  async jump(name, id, { push = false } = {}) {
    const { rooms, timeline } = this;
    const opened = name !== rooms.active;
    if (opened) rooms.open(name, { push }); // a history entry of its own, if push
    const room = this.store.rooms.get(name);
    if (!room || room.denied) return;
    history[push && !opened ? 'pushState' : 'replaceState'](null, '', messageHref(name, id));
    if (!(await this.whenLoaded(room)) || rooms.active !== name) return;
    if (room.byId.has(id) || (timeline.detached && timeline.room.byId.has(id))) {
      if (timeline.room !== room && !timeline.room.byId.has(id)) timeline.show(room, this.store.outboxFor(name));
      timeline.highlight(id);
      return;
    }
    let page;
    try {
      page = await api.getMessages(name, { around: id, limit: pageSize });
    } catch (err) {
      this.notify(err?.status === 404 ? `That message is not in #${name}: it may have been removed.` : 'Could not load that message.');
      history.replaceState(null, '', roomHref(name));
      return;
    }
    if (rooms.active !== name) return;
    this.show(room, page, id);
  }

  // show puts the page around message id on screen: into the room when it
  // reaches the messages already loaded, else as a window of its own.
  show(room, page, id) {
    const { timeline } = this;
    const at = page.findIndex((e) => e.id === id);
    const before = Math.floor((pageSize - 1) / 2);
    const olderMore = at >= before;
    const newerMore = page.length - at - 1 >= pageSize - 1 - before;
    if (!newerMore || page.some((e) => room.byId.has(e.id))) {
      this.merge(room, page, olderMore);
      timeline.show(room, this.store.outboxFor(room.name));
      timeline.highlight(id);
      return;
    }
    const win = new Room(room.name);
    win.add(page);
    win.loaded = true;
    win.hasMore = olderMore;
    win.hasNewer = true;
    timeline.showDetached(win, id);
  }

  // merge adds older messages that join the room's loaded run to it.
  merge(room, events, olderMore) {
    const oldest = room.oldestId;
    room.add(events);
    if (!oldest || (events.length && events[0].id < oldest)) room.hasMore = olderMore;
  }

  /** loadNewer pages in the messages after a window; at the live ones, it rejoins. */
  async loadNewer() {
    const { timeline, store } = this;
    const win = timeline.room;
    if (!timeline.detached || win.loadingNewer || !win.hasNewer) return;
    win.loadingNewer = true;
    try {
      const events = await api.getMessages(win.name, { after: win.lastId, limit: pageSize });
      if (timeline.room !== win) return;
      const room = store.rooms.get(win.name);
      const { added } = win.add(events);
      win.hasNewer = events.length >= pageSize;
      if (room && (!win.hasNewer || events.some((e) => room.byId.has(e.id)))) {
        this.merge(room, win.events, win.hasMore);
        timeline.rejoin(room, store.outboxFor(room.name));
      } else {
        timeline.appendedBelow(added);
      }
    } catch {
      // The next scroll tries again.
    } finally {
      win.loadingNewer = false;
    }
  }

  /** leave goes back from a window of older history to the newest messages. */
  leave() {
    const { rooms, store, timeline } = this;
    const room = store.rooms.get(rooms.active);
    if (!room) return;
    history.replaceState(null, '', roomHref(room.name));
    timeline.show(room, store.outboxFor(room.name));
  }

  // whenLoaded waits for the room's first page (loaded at start-up or when
  // followed); false if it does not come.
  async whenLoaded(room) {
    for (const start = Date.now(); !room.loaded; await new Promise((r) => { setTimeout(r, 50); })) {
      if (room.denied || Date.now() - start > loadWait || this.store.rooms.get(room.name) !== room) return false;
    }
    return true;
  }
}
