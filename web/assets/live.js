// The live parts of the page, wired together: presence and typing (the
// roster and its view), the reader's own typing, read markers on the
// server, mentions and desktop notifications, and the "caught up" state of
// the connection indicator. app.js feeds it the stream's events.

import { ServerMarks } from './marks.js';
import { Notifier } from './notify.js';
import { PresenceView } from './presence.js';
import { roster } from './roster.js';
import { Typist } from './typing.js';

/**
 * Live is built once by app.js. store is the room store; rooms() the Rooms
 * controller (built later); me() the reader's name; showStatus(state)
 * shows the connection state; elements: header (the room's header),
 * actions (its buttons), composer and textarea; jump(room, id) shows a
 * message.
 */
export class Live {
  constructor({ store, rooms, me, showStatus, elements, jump }) {
    Object.assign(this, { store, rooms, me, showStatusNow: showStatus });
    this.status = 'connecting';
    // Ids of messages that arrived while a stream caught up: the reader
    // missed them, and the "new messages" line goes before them.
    this.replayed = new Set();
    const active = () => rooms()?.active || '';
    this.view = new PresenceView({
      roster, header: elements.header, composer: elements.composer, room: active, me,
    });
    this.typist = new Typist({ textarea: elements.textarea, form: elements.composer, room: active, me });
    this.notifier = new Notifier({ anchor: elements.actions.firstElementChild, room: active, me, onClick: jump });
    this.marks = new ServerMarks({
      store,
      me,
      onChange: () => rooms()?.render(),
      onMarker: (room, id) => rooms()?.showLine(room, id),
    });
    roster.addEventListener('change', (e) => {
      if (!e.detail.room) this.showStatus(this.status);
    });
  }

  /** onLive takes an event without an id from the stream. */
  onLive(type, data, rooms) {
    if (type === 'read') this.marks.moved(data);
    else roster.apply(type, data, rooms);
  }

  /** onEvent sees a stored event from the stream before the page applies it. */
  onEvent(event) {
    if (event.type !== 'message') return;
    if (!roster.caughtUp) {
      if (this.replayed.size > 10000) this.replayed.clear();
      this.replayed.add(event.id);
    }
    // The message ends its author's typing (the server says so too).
    roster.stopTyping(event.room, event.author);
    const room = this.store.rooms.get(event.room);
    // Live only, and only messages the page had not seen: a replay after a
    // reconnect is old news.
    if (room && roster.caughtUp && !room.byId.has(event.id) && event.id > room.readMark) this.notifier.message(event);
  }

  /** missed is true if any of events arrived while a stream caught up. */
  missed(events) {
    return events.some((e) => this.replayed.has(e.id));
  }

  /** roomShown redraws what belongs to the open room. */
  roomShown() {
    this.view.render();
    this.notifier.render();
  }

  /**
   * showStatus shows the stream's state, "Catching up…" between a
   * connect and the stream's `live` (everything missed has arrived).
   */
  showStatus(state) {
    this.status = state;
    this.showStatusNow(state === 'live' && !roster.caughtUp ? 'catching-up' : state);
  }
}
