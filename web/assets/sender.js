// Sending: a new message goes into the outbox and is posted with a client
// id, so a retry (after a failure, or of a message in flight when the page
// unloaded) is never stored twice. It stays in the outbox, shown as
// pending, sent or failed with retry and discard buttons, until the stream
// brings it.
//
// Messages are posted one at a time, in the order they were written, so
// the room gets them in that order. When one fails for a reason that
// retrying can fix (the server down, busy or failing), the ones after it
// wait as failed too, and all go again, in order, as soon as the server
// answers (resend), or after a growing delay.
//
// Messages with files (upload.js) take their place in that order too: a
// text written after one waits until it is posted (waitsFor), and one
// waits for the texts written before it (blocks).

import * as api from './api.js';
import { OutboxItem, nextSeq } from './store.js';

const sendTimeout = 10000;
// Delays before retrying failed messages on their own, in milliseconds; the
// last repeats. The stream coming back retries them at once.
const resendBackoff = [2000, 5000, 10000, 30000];

/**
 * Sender posts the reader's new messages and draws the open room's outbox
 * into list. me() is the reader's name; active() the open room's;
 * needName(then) asks for a name and runs then once there is one;
 * scheduleSave() asks for the session to be saved soon.
 *
 * Three hooks tie it to the messages with files, set after construction:
 * waitsFor(item) returns the unposted message with files that item must
 * follow, or null; onPosted() runs after each post (those messages may go
 * now); onResend() runs with resend (they are tried again too).
 */
export class Sender {
  constructor({ store, list, timeline, composer, me, active, needName, scheduleSave }) {
    Object.assign(this, { store, timeline, composer, me, active, needName, scheduleSave });
    this.queue = []; // items waiting to be posted, in order
    this.queued = new Set(); // client ids in the queue or being posted
    this.posting = false;
    this.resendTimer = 0;
    this.resendAttempt = 0;
    list.addEventListener('click', (e) => {
      const button = e.target.closest('button[data-action="retry"], button[data-action="discard"]');
      const li = button?.closest('li[data-client-id]');
      const item = li && store.outbox.get(li.dataset.clientId);
      if (!item) return;
      if (button.dataset.action === 'retry') {
        this.enqueue(item);
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
      seq: nextSeq(),
    });
    this.store.outbox.set(item.clientId, item);
    // Older messages that failed go first, so the room gets them in order.
    this.resend();
    this.timeline.scrollToBottom();
    return true;
  }

  /**
   * resend posts again, in order, the messages that were in flight when the
   * page unloaded and those that failed for a reason retrying can fix.
   */
  resend() {
    clearTimeout(this.resendTimer);
    this.resendTimer = 0;
    for (const item of this.store.outbox.values()) {
      if (item.state === 'pending' || (item.state === 'failed' && item.retryable)) this.enqueue(item);
    }
    this.onResend?.();
  }

  /**
   * blocks reports whether a text of room written before seq is not posted
   * yet (one the server refused does not count: later messages go).
   */
  blocks(room, seq) {
    for (const item of this.store.outbox.values()) {
      if (item.room !== room || item.seq >= seq) continue;
      if (item.state === 'pending' || (item.state === 'failed' && item.retryable)) return true;
    }
    return false;
  }

  // enqueue shows item as pending and posts it after those queued before.
  enqueue(item) {
    if (this.queued.has(item.clientId)) return;
    this.queued.add(item.clientId);
    item.state = 'pending';
    item.error = '';
    this.queue.push(item);
    if (item.room === this.active()) this.render();
    this.post();
  }

  // post works through the queue, one message at a time.
  async post() {
    if (this.posting) return;
    this.posting = true;
    while (this.queue.length) {
      const item = this.queue.shift();
      if (this.store.outbox.get(item.clientId) === item) {
        const before = this.waitsFor?.(item);
        if (before) {
          this.wait(item, before);
        } else {
          if (!(await this.deliver(item))) this.holdBack(item);
          this.onPosted?.();
        }
      }
      this.queued.delete(item.clientId);
    }
    this.posting = false;
  }

  // wait leaves item out of the queue until the message with files before
  // it is posted (its poster calls resend): pending while that one is on
  // its way, failed with its error if it failed.
  wait(item, before) {
    if (before.state === 'failed') Object.assign(item, { state: 'failed', retryable: true, error: before.error });
    if (item.room === this.active()) this.render();
  }

  /**
   * deliver posts one outbox item with its client_id and returns false if
   * it failed for a reason retrying can fix.
   */
  async deliver(item) {
    const { store } = this;
    let ok = true;
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
      this.resendAttempt = 0;
    } catch (err) {
      const retryable = err instanceof api.ApiError && err.retryable;
      ok = !retryable;
      if (store.outbox.get(item.clientId) === item) {
        item.state = 'failed';
        item.retryable = retryable;
        item.error = err instanceof api.ApiError ? err.message : 'Something went wrong.';
      }
      if (retryable) this.scheduleResend(err.retryAfter);
    }
    if (item.room === this.active()) this.render();
    this.scheduleSave();
    return ok;
  }

  // holdBack marks the messages queued after a failed one as failed too:
  // posting them now would put them before it in the room.
  holdBack(failed) {
    for (const item of this.queue) {
      this.queued.delete(item.clientId);
      if (this.store.outbox.get(item.clientId) !== item) continue;
      Object.assign(item, { state: 'failed', retryable: true, error: failed.error });
      if (item.room === this.active()) this.render();
    }
    this.queue = [];
  }

  scheduleResend(retryAfter = 0) {
    if (this.resendTimer) return;
    const delay = Math.max(resendBackoff[Math.min(this.resendAttempt, resendBackoff.length - 1)], retryAfter * 1000);
    this.resendAttempt++;
    this.resendTimer = setTimeout(() => this.resend(), delay);
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
