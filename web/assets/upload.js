// Uploads: files dropped on the room, pasted into the message box or
// picked with the attach button wait in a tray above the box, each with a
// progress bar and a cancel button (XMLHttpRequest: fetch reports no upload
// progress). Sending a message with files shows it at once as pending in
// the tray; it is posted, with the files' ids and a client id, once every
// file is stored and the messages written before it in its room are
// posted (sender.js keeps that order with it). A failed upload or post
// shows the error with Retry and Discard; one that retrying may fix goes
// again on its own with the text outbox. Pending messages and their files
// are kept in IndexedDB (filebox.js): a reload shows them again and sends
// them. See docs/files.md, "The web UI", and docs/web.md.

import * as api from './api.js';
import { scopeName } from './cache.js';
import * as filebox from './filebox.js';
import { nextSeq, noteSeq } from './store.js';
import { formatBytes } from './viewer.js';

// How long the page waits for the kept messages before sending anyway.
const restoreTimeout = 10000;

let nextKey = 0;

/**
 * Uploads owns the tray. active() is the open room's name, me() the
 * reader's name (null before one is chosen), announce(text) speaks,
 * followed(room) says whether a kept message's room is still followed.
 *
 * Hooks to the text outbox (sender.js), set after construction:
 * blocked(room, seq) is true while a text written before seq in room is
 * not posted; released() runs when a message with files is posted or
 * discarded (texts after it may go); scheduleResend(seconds) asks for a
 * resend later.
 */
export class Uploads {
  constructor({ form, textarea, dropZone, active, me, announce, changed, followed }) {
    Object.assign(this, { form, textarea, active, me, announce, changed, followed });
    this.items = []; // files in the tray: {key, file, room, state, id, xhr, li, message, ...}
    this.pending = []; // messages waiting for their files, in the order written
    this.restored = false; // the kept messages have been read back (restore)

    this.input = document.createElement('input');
    this.input.type = 'file';
    this.input.multiple = true;
    this.input.hidden = true;
    this.input.id = 'file-input';
    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.className = 'icon-button attach-button';
    this.button.id = 'attach-button';
    this.button.textContent = '📎';
    this.button.title = 'Attach files (or drop them, or paste)';
    this.button.setAttribute('aria-label', 'Attach files');
    this.tray = document.createElement('ul');
    this.tray.className = 'upload-tray';
    this.tray.id = 'upload-tray';
    this.tray.setAttribute('aria-label', 'Files to send');
    this.tray.hidden = true;
    const row = form.querySelector('.composer-row');
    form.insertBefore(this.tray, row);
    row.prepend(this.button, this.input);

    this.button.addEventListener('click', () => this.input.click());
    this.input.addEventListener('change', () => {
      this.add([...this.input.files]);
      this.input.value = '';
    });
    textarea.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files || [])];
      if (!files.length) return;
      e.preventDefault();
      this.add(files);
    });
    dropZone.addEventListener('dragover', (e) => {
      if ([...(e.dataTransfer?.types || [])].includes('Files')) {
        e.preventDefault();
        dropZone.classList.add('dropping');
      }
    });
    dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dropping'));
    dropZone.addEventListener('drop', (e) => {
      dropZone.classList.remove('dropping');
      const files = [...(e.dataTransfer?.files || [])];
      if (!files.length) return;
      e.preventDefault();
      this.add(files);
    });
  }

  /** hasFiles reports whether a message sent now would carry files. */
  hasFiles() {
    return this.items.some((it) => it.room === this.active() && !it.message && it.state !== 'failed');
  }

  /** add starts uploading files to the open room. */
  add(files) {
    const room = this.active();
    if (!room) return;
    for (const file of files) {
      const item = { key: ++nextKey, file, room, state: 'uploading', id: '', message: null };
      this.items.push(item);
      this.start(item);
    }
    this.render();
  }

  // start uploads one file, updating its progress bar; a file with the id
  // of an upload made before a reload is checked instead (check).
  start(item) {
    item.state = 'uploading';
    item.error = '';
    item.loaded = 0;
    if (item.id) {
      this.check(item);
      return;
    }
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open('POST', api.uploadURL(item.room, item.file.name || 'pasted', item.message?.author || this.me()));
    xhr.setRequestHeader('Content-Type', item.file.type || 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) item.loaded = e.loaded / e.total;
      this.renderItem(item);
    };
    xhr.onload = () => {
      if (xhr.status === 201 && xhr.response?.id) {
        Object.assign(item, { state: 'stored', id: xhr.response.id, loaded: 1, stored: xhr.response });
        if (item.message) this.save(item.message);
      } else {
        const s = xhr.status;
        item.state = 'failed';
        item.signedOut = s === 401;
        if (item.signedOut) api.sessionEnded();
        item.retryable = item.signedOut || s === 408 || s === 429 || s >= 500;
        item.retryAfter = Number(xhr.getResponseHeader('Retry-After')) || 0;
        item.error = xhr.response?.error || `The server answered ${s}.`;
      }
      this.settled(item);
    };
    xhr.onerror = () => {
      Object.assign(item, { state: 'failed', retryable: true, error: 'Could not reach the server.' });
      this.settled(item);
    };
    xhr.send(item.file);
  }

  // check reuses an upload made before a reload if the server still holds
  // it for us (a pending upload is collected after the server's
  // -upload-ttl), else uploads the file again.
  async check(item) {
    try {
      const known = await api.hasUpload(item.room, item.id);
      if (!this.items.includes(item)) return; // removed meanwhile
      if (!known) {
        item.id = '';
        this.start(item);
        return;
      }
      Object.assign(item, { state: 'stored', loaded: 1, reused: true });
    } catch (err) {
      if (!this.items.includes(item)) return;
      Object.assign(item, {
        state: 'failed', signedOut: signedOut(err), retryable: retryable(err), error: err.message || 'Something went wrong.',
      });
    }
    this.settled(item);
  }

  // settled redraws an item that finished and posts messages now ready.
  settled(item) {
    this.renderItem(item);
    if (item.state === 'failed') this.announce?.(`Upload of ${item.file.name || 'a file'} failed: ${item.error}`);
    this.flush();
  }

  // cancel removes one file from the tray (and from its message).
  cancel(item) {
    item.xhr?.abort();
    this.items = this.items.filter((it) => it !== item);
    const msg = item.message;
    if (msg) {
      msg.items = msg.items.filter((it) => it !== item);
      if (!msg.items.length && !msg.text.trim()) {
        this.discard(msg);
        return;
      }
      this.persist(msg, () => filebox.dropFile(msg.clientId, item.fileKey));
    }
    this.render();
    this.flush();
  }

  /** discard drops a message with files that is not posted, for good. */
  discard(msg) {
    for (const it of msg.items) it.xhr?.abort();
    this.pending = this.pending.filter((m) => m !== msg);
    this.items = this.items.filter((it) => it.message !== msg);
    this.persist(msg, () => filebox.forget(msg.clientId));
    this.render();
    this.flush();
    this.released?.();
  }

  /**
   * takeSend takes a message with the tray's files of the open room: shown
   * pending, kept for a reload, posted once they are stored. false if
   * there are none.
   */
  takeSend(text, replyTo) {
    const room = this.active();
    const items = this.items.filter((it) => it.room === room && !it.message);
    if (!items.length) return false;
    const msg = {
      room,
      text,
      replyTo: replyTo?.id || '',
      items,
      state: 'waiting',
      clientId: newClientId(),
      author: this.me(),
      seq: nextSeq(),
      time: new Date().toISOString(),
    };
    items.forEach((it, i) => {
      it.message = msg;
      it.fileKey = i;
    });
    this.pending.push(msg);
    this.keep(msg);
    this.render();
    this.flush();
    return true;
  }

  // keep stores a new message and its files in IndexedDB; if it cannot,
  // the message says that a reload would lose it.
  keep(msg) {
    msg.chain = filebox.tabId()
      .then((tab) => filebox.keep({ ...this.record(msg), tab, scope: scopeName(), time: msg.time }, msg.items.map((it) => it.file)))
      .then(() => {
        msg.kept = true;
      }, (err) => {
        msg.notKept = err instanceof filebox.NotKept ? err.message : 'the browser refused to keep it';
        this.render();
        this.announce?.(`Not kept if the page reloads: ${msg.notKept}.`);
      });
  }

  // record is what is kept of msg, bar the files' bytes.
  record(msg) {
    const files = msg.items.map((it) => ({
      key: it.fileKey, name: it.file.name || '', type: it.file.type || '', size: it.file.size, id: it.id || '',
    }));
    return {
      clientId: msg.clientId,
      seq: msg.seq,
      room: msg.room,
      author: msg.author,
      text: msg.text,
      replyTo: msg.replyTo,
      state: msg.state === 'failed' ? 'failed' : 'waiting',
      error: msg.error || '',
      retryable: Boolean(msg.retryable),
      files,
      bytes: files.reduce((n, f) => n + f.size, 0),
    };
  }

  // persist runs op on msg's kept copy after those before it, if it is kept.
  persist(msg, op) {
    msg.chain = (msg.chain || Promise.resolve()).then(() => (msg.kept ? op() : null)).catch(() => {});
  }

  // save writes msg's state and its files' ids to its kept copy.
  save(msg) {
    const { state, error, retryable, files, bytes } = this.record(msg);
    this.persist(msg, () => filebox.update(msg.clientId, {
      state, error, retryable, files, bytes,
    }));
  }

  /**
   * restore shows the messages with files this tab kept before a reload
   * and sends them: files not stored are uploaded (again), uploads the
   * server still holds are reused. Texts wait for it (before).
   */
  async restore() {
    let records = [];
    try {
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(() => resolve([]), restoreTimeout);
      });
      records = await Promise.race([filebox.load(scopeName(), (room) => this.followed(room)), late]);
      clearTimeout(timer);
    } catch {
      // No IndexedDB here: nothing was kept.
    }
    const restored = records.map((r) => this.revive(r));
    this.pending.push(...restored);
    this.pending.sort((a, b) => a.seq - b.seq);
    this.restored = true;
    for (const msg of restored) {
      if (msg.state !== 'failed') for (const it of msg.items) this.start(it);
    }
    this.render();
    this.flush();
    this.released?.();
  }

  // revive turns a kept record back into a pending message with its files.
  revive(r) {
    noteSeq(r.seq);
    const refused = r.state === 'failed' && !r.retryable;
    const msg = {
      room: r.room,
      text: r.text,
      replyTo: r.replyTo,
      items: [],
      state: refused ? 'failed' : 'waiting',
      error: r.error,
      retryable: r.retryable,
      clientId: r.clientId,
      author: r.author,
      seq: r.seq,
      time: r.time,
      kept: true,
    };
    r.files.forEach((f, i) => {
      const blob = r.blobs[i];
      const file = blob instanceof File ? blob : new File([blob], f.name, { type: f.type });
      const item = {
        key: ++nextKey, file, room: r.room, id: f.id, fileKey: f.key, message: msg, state: 'uploading', loaded: 0,
      };
      // A refused message waits for Retry, which goes over every file.
      if (refused) Object.assign(item, { state: 'failed', error: r.error });
      msg.items.push(item);
      this.items.push(item);
    });
    return msg;
  }

  /**
   * before returns the message with files, not posted yet, that a text
   * outbox item must follow in its room, or null. Until the kept messages
   * are read back, every text waits.
   */
  before(item) {
    if (!this.restored) return { state: 'waiting' };
    return this.pending.find((m) => m.room === item.room && m.seq < item.seq && !isRefused(m)) || null;
  }

  // flush posts the pending messages whose files are all stored, each
  // after those written before it in its room.
  async flush() {
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.again = false;
        const held = new Set(); // rooms with an earlier message not posted
        for (const msg of this.pending) {
          const stored = this.filesStored(msg);
          if (held.has(msg.room)) continue;
          if (!stored || !this.ready(msg)) {
            if (!isRefused(msg)) held.add(msg.room);
            continue;
          }
          await this.deliver(msg);
          this.again = true; // the list changed: look again from the start
          break;
        }
      } while (this.again);
    } finally {
      this.flushing = false;
    }
  }

  // filesStored says whether msg's files are all stored, and marks it
  // failed once one of them failed and none is still on its way.
  filesStored(msg) {
    if (msg.items.some((it) => it.state === 'uploading')) return false;
    const failed = msg.items.filter((it) => it.state === 'failed');
    if (failed.length && msg.state === 'waiting') {
      msg.state = 'failed';
      msg.error = failed[0].error;
      msg.retryable = failed.every((it) => it.retryable);
      this.save(msg);
      // After a 401 it waits for the next sign-in, which reloads the page.
      if (msg.retryable && !failed.some((it) => it.signedOut)) {
        this.scheduleResend?.(Math.max(...failed.map((it) => it.retryAfter || 0)));
      }
      this.render();
    }
    return !failed.length;
  }

  // ready says whether msg, its files stored, can be posted now.
  ready(msg) {
    if (msg.state !== 'waiting' || !this.restored) return false;
    return !this.blocked?.(msg.room, msg.seq);
  }

  // deliver posts msg with its files' ids.
  async deliver(msg) {
    msg.state = 'posting';
    this.render();
    try {
      await api.postMessage(msg.room, {
        author: msg.author, text: msg.text, clientId: msg.clientId, replyTo: msg.replyTo, files: msg.items.map((it) => it.id),
      });
    } catch (err) {
      const reused = msg.items.filter((it) => it.reused);
      if (!retryable(err) && reused.length) {
        // An upload from before the reload went between the check and the
        // post: upload those files again, once.
        msg.state = 'waiting';
        for (const it of reused) {
          Object.assign(it, { reused: false, id: '' });
          this.start(it);
        }
      } else {
        Object.assign(msg, { state: 'failed', retryable: retryable(err), error: err.message || 'Something went wrong.' });
        if (retryable(err) && !signedOut(err)) this.scheduleResend?.(err.retryAfter);
      }
      this.save(msg);
      this.render();
      return;
    }
    this.pending = this.pending.filter((m) => m !== msg);
    this.items = this.items.filter((it) => it.message !== msg);
    this.persist(msg, () => filebox.forget(msg.clientId));
    this.render();
    this.released?.();
  }

  // retry uploads a message's failed files again and posts it.
  retry(msg) {
    msg.state = 'waiting';
    msg.error = '';
    for (const it of msg.items) if (it.state === 'failed') this.start(it);
    this.save(msg);
    this.render();
    this.flush();
  }

  /** resend retries the messages that failed for a reason retrying can fix. */
  resend() {
    for (const msg of this.pending) if (msg.state === 'failed' && msg.retryable) this.retry(msg);
  }

  /**
   * signOut stops every upload and forgets the messages with files of the
   * identity signing out, in every tab of this browser.
   */
  signOut() {
    for (const it of this.items) it.xhr?.abort();
    this.items = [];
    this.pending = [];
    filebox.forgetScope(scopeName()).catch(() => {});
    this.render();
  }

  render() {
    const room = this.active();
    this.tray.replaceChildren();
    for (const msg of this.pending.filter((m) => m.room === room)) {
      const li = document.createElement('li');
      li.className = `pending-message ${msg.state}`;
      li.dataset.state = msg.state;
      li.dataset.clientId = msg.clientId;
      const text = document.createElement('p');
      text.dir = 'auto';
      text.textContent = msg.text || '(files)';
      const status = document.createElement('span');
      status.className = 'pending-status';
      status.textContent = statusText(msg);
      li.append(text, status);
      if (msg.notKept) {
        const note = document.createElement('span');
        note.className = 'pending-note';
        note.textContent = `Not kept if the page reloads: ${msg.notKept}.`;
        li.append(note);
      }
      if (msg.state === 'failed') {
        const retry = button('Retry', () => this.retry(msg));
        retry.dataset.action = 'retry-upload';
        li.append(retry);
      }
      if (msg.state !== 'posting') {
        const discard = button('Discard', () => this.discard(msg));
        discard.dataset.action = 'discard-upload';
        li.append(discard);
      }
      this.tray.append(li);
    }
    for (const item of this.items.filter((it) => it.room === room)) {
      item.li = document.createElement('li');
      item.li.className = 'upload';
      this.tray.append(item.li);
      this.renderItem(item);
    }
    this.tray.hidden = !this.tray.children.length;
    this.changed?.();
  }

  renderItem(item) {
    const li = item.li;
    if (!li || !li.isConnected) return;
    li.dataset.state = item.state;
    li.replaceChildren();
    const name = document.createElement('span');
    name.className = 'upload-name';
    name.dir = 'auto';
    name.textContent = `${item.file.name || 'pasted file'} (${formatBytes(item.file.size)})`;
    const bar = document.createElement('progress');
    bar.max = 1;
    bar.value = item.loaded || 0;
    bar.setAttribute('aria-label', `Upload of ${item.file.name || 'pasted file'}`);
    li.append(name, bar);
    if (item.state === 'failed') {
      const err = document.createElement('span');
      err.className = 'upload-error';
      err.textContent = item.error;
      li.append(err);
    }
    const cancel = button('×', () => this.cancel(item));
    cancel.className = 'icon-button upload-cancel';
    cancel.setAttribute('aria-label', `Remove ${item.file.name || 'pasted file'}`);
    li.append(cancel);
  }
}

// signedOut is true for an answer saying the session has ended (401): the
// message is not refused but kept, and sent after the next sign-in.
function signedOut(err) {
  return err instanceof api.ApiError && err.status === 401;
}

// retryable is true for an error that trying again may get past: the
// server or the network, or an ended session (signedOut).
function retryable(err) {
  return err instanceof api.ApiError && (err.retryable || signedOut(err));
}

// isRefused is true for a message the server refused for a reason that
// retrying cannot fix: the messages after it do not wait for it.
function isRefused(msg) {
  return msg.state === 'failed' && !msg.retryable;
}

function statusText(msg) {
  if (msg.state === 'failed') return `Not sent: ${msg.error}`;
  if (msg.state === 'posting' || msg.items.every((it) => it.state === 'stored')) return 'Sending…';
  return 'Sending when the files are stored…';
}

function button(label, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}
