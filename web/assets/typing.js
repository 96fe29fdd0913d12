// Telling the room that the reader is typing: POST /api/rooms/:room/typing
// when they start, again every few seconds while they go on (the server's
// indicator lasts typing_ms, 5 s), and a stop when the box is cleared.
// Sending a message ends it on the server, so nothing is sent then.

import * as api from './api.js';

// How often typing is renewed while the reader goes on: well inside the
// indicator's 5 s, far under the server's limit of 2 a second.
const renew = 3000;

/**
 * Typist watches textarea. room() is the open room; me() the reader's name
 * ('' when they have none yet: nothing is sent).
 */
export class Typist {
  constructor({ textarea, form, room, me }) {
    Object.assign(this, { textarea, room, me });
    this.sentAt = 0; // when typing was last sent
    this.sentRoom = '';
    textarea.addEventListener('input', () => this.input());
    // The message ends the indicator on the server.
    form.addEventListener('submit', () => this.reset(), true);
    textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) this.reset();
    }, true);
  }

  input() {
    const room = this.room();
    const me = this.me();
    if (!room || !me) return;
    const empty = !this.textarea.value.trim();
    if (empty) {
      if (this.sentAt && this.sentRoom === room) this.post(room, me, true);
      this.reset();
      return;
    }
    const now = Date.now();
    if (this.sentRoom === room && now - this.sentAt < renew) return;
    if (this.sentRoom && this.sentRoom !== room) this.post(this.sentRoom, me, true);
    this.sentAt = now;
    this.sentRoom = room;
    this.post(room, me, false);
  }

  reset() {
    this.sentAt = 0;
    this.sentRoom = '';
  }

  post(room, me, stop) {
    // Typing is a hint: a failure (offline, over the rate) is not worth a word.
    api.sendTyping(room, me, stop).catch(() => {});
  }
}
