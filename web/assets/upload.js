// Uploads: files dropped on the room, pasted into the message box or
// picked with the attach button wait in a tray above the box, each with a
// progress bar and a cancel button (XMLHttpRequest: fetch reports no upload
// progress). Sending a message with files shows it at once as pending in
// the tray; it is posted, with the files' ids and a client id, once every
// file is stored. A failed upload or post shows the error and a retry
// button. See docs/files.md, "The web UI".

import * as api from './api.js';
import { formatBytes } from './viewer.js';

let nextKey = 0;

/**
 * Uploads owns the tray. active() is the open room's name, me() the
 * reader's name (null before one is chosen), announce(text) speaks.
 */
export class Uploads {
  constructor({ form, textarea, dropZone, active, me, announce, changed }) {
    Object.assign(this, { form, textarea, active, me, announce, changed });
    this.items = []; // files in the tray: {key, file, room, state, id, xhr, li, ...}
    this.pending = []; // messages waiting for their files

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
    return this.items.some((it) => it.room === this.active() && it.state !== 'failed');
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

  // start uploads one file, updating its progress bar.
  start(item) {
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    item.state = 'uploading';
    item.error = '';
    item.loaded = 0;
    xhr.open('POST', api.uploadURL(item.room, item.file.name || 'pasted', this.me()));
    xhr.setRequestHeader('Content-Type', item.file.type || 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) item.loaded = e.loaded / e.total;
      this.renderItem(item);
    };
    xhr.onload = () => {
      if (xhr.status === 201 && xhr.response?.id) {
        Object.assign(item, { state: 'stored', id: xhr.response.id, loaded: 1, stored: xhr.response });
      } else {
        item.state = 'failed';
        item.error = xhr.response?.error || `The server answered ${xhr.status}.`;
      }
      this.settled(item);
    };
    xhr.onerror = () => {
      item.state = 'failed';
      item.error = 'Could not reach the server.';
      this.settled(item);
    };
    xhr.send(item.file);
  }

  // settled redraws an item that finished and posts messages now ready.
  settled(item) {
    this.renderItem(item);
    if (item.state === 'failed') this.announce?.(`Upload of ${item.file.name || 'a file'} failed: ${item.error}`);
    this.flush();
  }

  cancel(item) {
    item.xhr?.abort();
    this.items = this.items.filter((it) => it !== item);
    for (const m of this.pending) m.items = m.items.filter((it) => it !== item);
    this.render();
    this.flush();
  }

  /**
   * takeSend takes a message with the tray's files of the open room: shown
   * pending, posted once they are stored. false if there are none.
   */
  takeSend(text, replyTo) {
    const room = this.active();
    const items = this.items.filter((it) => it.room === room && !it.message);
    if (!items.length) return false;
    const msg = {
      room, text, replyTo: replyTo?.id || '', items, state: 'waiting', clientId: newClientId(), author: this.me(),
    };
    for (const it of items) it.message = msg;
    this.pending.push(msg);
    this.render();
    this.flush();
    return true;
  }

  // flush posts the pending messages whose files are all stored, in order.
  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length) {
        const msg = this.pending[0];
        if (msg.items.some((it) => it.state === 'uploading') || msg.state === 'failed') break;
        const failed = msg.items.filter((it) => it.state === 'failed');
        if (failed.length) {
          msg.state = 'failed';
          msg.error = failed[0].error;
          this.render();
          break;
        }
        msg.state = 'posting';
        this.render();
        try {
          await api.postMessage(msg.room, {
            author: msg.author, text: msg.text, clientId: msg.clientId, replyTo: msg.replyTo, files: msg.items.map((it) => it.id),
          });
        } catch (err) {
          msg.state = 'failed';
          msg.error = err.message || 'Something went wrong.';
          this.render();
          break;
        }
        this.pending.shift();
        this.items = this.items.filter((it) => it.message !== msg);
        this.render();
      }
    } finally {
      this.flushing = false;
    }
  }

  // retry uploads a message's failed files again and posts it.
  retry(msg) {
    msg.state = 'waiting';
    msg.error = '';
    for (const it of msg.items) if (it.state === 'failed') this.start(it);
    this.render();
    this.flush();
  }

  render() {
    const room = this.active();
    this.tray.replaceChildren();
    for (const msg of this.pending.filter((m) => m.room === room)) {
      const li = document.createElement('li');
      li.className = `pending-message ${msg.state}`;
      li.dataset.state = msg.state;
      const text = document.createElement('p');
      text.dir = 'auto';
      text.textContent = msg.text || '(files)';
      const status = document.createElement('span');
      status.className = 'pending-status';
      status.textContent = msg.state === 'failed' ? `Not sent: ${msg.error}` : 'Sending when the files are stored…';
      li.append(text, status);
      if (msg.state === 'failed') {
        const retry = button('Retry', () => this.retry(msg));
        retry.dataset.action = 'retry-upload';
        li.append(retry);
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
