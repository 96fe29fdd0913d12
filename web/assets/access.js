// Who the reader is on a server with access control, and what follows from
// it on the page: the no-access state of a room, finding out why the stream
// failed (an EventSource never sees the status), and the end of a session.

import * as api from './api.js';
import { roomHref } from './sidebar.js';

/**
 * Access holds the signed-in identity; without access control it stays
 * empty. onDeny(name) is told of a room the reader may not read;
 * onEnd({signedOut, note}) that the session is over, once; onOpen(name)
 * opens the room a guest's note links to; notify(text) reports a failure.
 */
export class Access {
  constructor({ panel, note, hideWhenDenied, invite, signOut, onDeny, onEnd, onOpen, notify }) {
    Object.assign(this, { panel, note, hideWhenDenied, invite, signOutButton: signOut, onDeny, onEnd, notify });
    this.identity = null; // {name, role, room}; room is a guest's one room
    this.ended = false;
    this.checking = false;
    signOut.addEventListener('click', () => this.signOut());
    note.addEventListener('click', (e) => {
      const link = e.target.closest('a[data-room]');
      if (!link || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      onOpen(link.dataset.room);
    });
  }

  /** on is true once someone is signed in under access control. */
  get on() {
    return this.identity !== null;
  }

  get guest() {
    return this.identity?.role === 'guest';
  }

  /** start records who is signed in, from /api/me's answer. */
  start(who) {
    this.identity = {
      name: String(who.name), role: String(who.role), room: typeof who.room === 'string' ? who.room : '',
    };
    this.signOutButton.hidden = false;
  }

  /**
   * show draws the open room, or in its place that the reader may not read
   * it; a guest is pointed back to their room.
   */
  show(room) {
    const denied = Boolean(room.denied);
    this.panel.hidden = !denied;
    for (const node of this.hideWhenDenied) node.hidden = denied;
    this.invite.hidden = denied || !this.on || this.guest;
    if (!denied) return;
    if (this.guest) {
      const link = document.createElement('a');
      link.href = roomHref(this.identity.room);
      link.dataset.room = this.identity.room;
      link.textContent = `#${this.identity.room}`;
      this.note.replaceChildren('Your invite is for ', link, '.');
    } else {
      this.note.textContent = 'It may be private: an admin can add you to it. You can open another room from the list.';
    }
  }

  /**
   * check finds out why the stream of rooms failed: a 401 from /api/me ends
   * the session; a room whose history answers 403 goes to onDeny. Anything
   * else leaves the stream to its own reconnects.
   */
  async check(rooms) {
    if (!this.on || this.checking || this.ended) return;
    this.checking = true;
    try {
      await api.getMe();
      // The rooms list holds every room the reader may read that has
      // messages; only the others need asking one by one.
      const readable = new Set(this.guest ? [] : (await api.listRooms()).map((r) => r.name));
      for (const name of rooms) {
        if (readable.has(name)) continue;
        try {
          await api.getMessages(name, { limit: 1 });
        } catch (err) {
          if (err?.status === 403) this.onDeny(name);
        }
      }
    } catch (err) {
      if (err?.status === 401) this.end();
    } finally {
      this.checking = false;
    }
  }

  /**
   * end tells the page the session is over: signed out, expired or
   * revoked. It runs once.
   */
  end({ signedOut = false } = {}) {
    if (this.ended) return;
    let note = signedOut ? 'You have signed out.' : 'Your session has ended. Please sign in again.';
    if (this.guest && !signedOut) note = 'Your guest access has ended. Ask for a new invite link to come back.';
    this.onEnd({ signedOut, note });
    this.ended = true;
  }

  async signOut() {
    const button = this.signOutButton;
    button.disabled = true;
    try {
      await api.logout();
    } catch (err) {
      // A 401: the session was over already.
      if (err?.status !== 401) {
        this.notify(`Could not sign out: ${err instanceof api.ApiError ? err.message : 'something went wrong.'}`);
        button.disabled = false;
        return;
      }
    }
    this.end({ signedOut: true });
  }
}
