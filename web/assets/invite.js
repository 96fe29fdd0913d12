// The "Invite guest" dialog: creates a guest link to the open room with the
// server's defaults and shows it, ready to copy and send to a customer.

import * as api from './api.js';
import { fullTime } from './format.js';

export class InviteDialog {
  constructor({ dialog, title, note, link, copy, status, error }) {
    Object.assign(this, { dialog, title, note, link, copy, status, error });
    this.request = 0; // counts opens, so a late answer for an old one is dropped
    copy.addEventListener('click', () => this.copyLink());
    dialog.addEventListener('close', () => {
      this.request++;
      this.restoreFocus?.focus({ preventScroll: true });
    });
  }

  /** open creates an invite to room and shows its link. */
  async open(room) {
    const request = ++this.request;
    this.restoreFocus = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    this.title.textContent = `Invite a guest to #${room}`;
    this.note.textContent = 'Creating a link…';
    this.link.value = '';
    this.copy.disabled = true;
    this.status.textContent = '';
    this.error.hidden = true;
    if (!this.dialog.open) this.dialog.showModal();
    let invite;
    try {
      invite = await api.createInvite(room);
    } catch (err) {
      if (request !== this.request) return;
      this.note.textContent = '';
      this.error.textContent = `Could not create a link: ${err instanceof api.ApiError ? err.message : 'something went wrong.'}`;
      this.error.hidden = false;
      return;
    }
    if (request !== this.request) return;
    this.link.value = new URL(invite.url, location.origin).href;
    this.note.textContent = describe(invite, room);
    this.copy.disabled = false;
    this.link.focus();
    this.link.select();
  }

  async copyLink() {
    const text = this.link.value;
    if (!text) return;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard API here (plain http on a LAN address): copy the selection.
      this.link.focus();
      this.link.select();
      if (!document.execCommand('copy')) {
        this.status.textContent = 'Select the link and copy it yourself.';
        return;
      }
    }
    this.status.textContent = 'Link copied.';
  }
}

// describe says who the link lets in and for how long.
function describe(invite, name) {
  const room = `#${invite.room || name}`;
  const until = new Date(invite.expires);
  const when = Number.isNaN(until.getTime()) ? '' : ` until ${fullTime(until)}`;
  const uses = invite.max_uses > 0 ? `, ${invite.max_uses === 1 ? 'once' : `${invite.max_uses} times`}` : '';
  return `Anyone with this link can join ${room} as a guest${when}${uses}. They see only this room.`;
}
