// Sending: a new message goes into the outbox and is posted with a client
// id, so a retry (after a failure, or of a message in flight when the page
// unloaded) is never stored twice. It stays in the outbox, shown as
// pending, sent or failed with retry and discard buttons, until the stream
// brings it.

import * as api from './api.js';
import { OutboxItem } from './store.js';

const sendTimeout = 10000;

/**
 * Sender posts the reader's new messages and draws the open room's outbox
 * into list. me() is the reader's name; active() the open room's;
 * needName(then) asks for a name and runs then once there is one;
 * scheduleSave() asks for the session to be saved soon.
 */
export class Sender {
  constructor({ store, list, timeline, composer, me, active, needName, scheduleSave }) {
    Object.assign(this, { store, timeline, composer, me, active, needName, scheduleSave });
    list.addEventListener('click', (e) => {
      const button = e.target.closest('button[data-action="retry"], button[data-action="discard"]');
      const li = button?.closest('li[data-client-id]');
      const item = li && store.outbox.get(li.dataset.clientId);
      if (!item) return;
      if (button.dataset.action === 'retry') {
        this.deliver(item);
      } else {
        store.outbox.delete(item.clientId);
        this.render();
        this.scheduleSave();
      }
      composer.focus();
    });
  }

  /** send queues text in the open room; false if it did not (no name yet). */
  send(text, replyTo) {
    const me = this.me();
    if (!me) {
      this.needName(() => this.composer.send());
      return false;
    }
    const item = new OutboxItem({
      clientId: newClientId(), room: this.active(), author: me, text, time: new Date().toISOString(), replyTo: replyTo?.id || '',
    });
    this.store.outbox.set(item.clientId, item);
    this.deliver(item);
    this.timeline.scrollToBottom();
    return true;
  }

  /** resend delivers again the messages that were in flight at unload. */
  resend() {
    for (const item of this.store.outbox.values()) if (item.state === 'pending') this.deliver(item);
  }

  /** deliver posts an outbox item; retries reuse its client_id. */
  async deliver(item) {
    const { store } = this;
    item.state = 'pending';
    item.error = '';
    if (item.room === this.active()) this.render();
    try {
      const event = await api.postMessage(item.room, item, { timeout: sendTimeout });
      if (store.outbox.get(item.clientId) === item) {
        if (store.rooms.get(item.room)?.byId.has(event?.id)) {
          store.outbox.delete(item.clientId);
        } else {
          item.state = 'sent'; // stored; shown as sent until the stream brings it
          item.event = event;
        }
      }
    } catch (err) {
      if (store.outbox.get(item.clientId) === item) {
        item.state = 'failed';
        item.error = err instanceof api.ApiError ? err.message : 'Something went wrong.';
      }
    }
    if (item.room === this.active()) this.render();
    this.scheduleSave();
  }

  /** render draws the open room's outbox. */
  render() {
    this.timeline.renderOutbox(this.store.outboxFor(this.active()));
  }
}

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Plain http on a LAN address is not a secure context: no randomUUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}
