// The message box: Enter sends, Shift+Enter starts a new line, and text
// over the server's limit is refused before it is sent. In reply mode it
// shows the message being answered; Escape leaves reply mode.

import { byteLength, formatNumber } from './format.js';
import { firstLine } from './render.js';

// The byte counter appears once a message uses this share of the limit.
const warnAt = 0.8;
const maxHeight = 200; // pixels; then the box scrolls

/**
 * Composer owns the message box. onSend(text, replyTo) returns false if it
 * did not take the message; onEditLast() is for ↑ in an empty box.
 */
export class Composer {
  constructor({ form, textarea, button, hint, reply, onSend, onEditLast, announce }) {
    Object.assign(this, { form, textarea, button, hint, reply, onSend, onEditLast, announce });
    this.replyTo = null; // the message being answered, or null
    this.over = false;
    this.maxBytes = 16384;
    this.autoSize = !CSS.supports('field-sizing', 'content');

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.replyTo) {
        e.preventDefault();
        this.setReply(null);
        return;
      }
      if (e.key === 'ArrowUp' && !textarea.value && !e.altKey && !e.shiftKey && this.onEditLast?.()) {
        e.preventDefault();
        return;
      }
      if (e.key !== 'Enter' || e.shiftKey || e.isComposing || e.keyCode === 229) return;
      e.preventDefault();
      this.enterSent = true;
      this.send();
    });
    // Some input paths (synthetic keys, a few virtual keyboards) still insert
    // the line break of an Enter whose keydown was cancelled.
    textarea.addEventListener('beforeinput', (e) => {
      if (this.enterSent && (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph')) {
        e.preventDefault();
      }
      this.enterSent = false;
    });
    textarea.addEventListener('keyup', () => {
      this.enterSent = false;
    });
    textarea.addEventListener('input', () => this.update());
    reply.cancel.addEventListener('click', () => {
      this.setReply(null);
      this.focus();
    });
  }

  /** setReply puts the box in reply mode for message, or leaves it (null). */
  setReply(message) {
    this.replyTo = message || null;
    const r = this.reply;
    r.bar.hidden = !message;
    r.author.textContent = message ? message.author : '';
    r.text.textContent = message ? firstLine(message) : '';
    const described = ['composer-hint'];
    if (message) described.unshift(r.label.id);
    this.textarea.setAttribute('aria-describedby', described.join(' '));
  }

  /** setLimit applies the server's limit on a message's UTF-8 bytes. */
  setLimit(maxBytes) {
    if (Number.isInteger(maxBytes) && maxBytes > 0) this.maxBytes = maxBytes;
    this.update();
  }

  setRoom(name) {
    if (this.room !== name) this.setReply(null);
    this.room = name;
    this.textarea.placeholder = `Message #${name}`;
    this.textarea.setAttribute('aria-label', `Message #${name}`);
  }

  send() {
    const text = this.textarea.value;
    if (byteLength(text) <= this.maxBytes && this.takeSend?.(text, this.replyTo)) {
      // A message with files: upload.js sends it once they are stored.
      this.setReply(null);
      this.textarea.value = '';
      this.update();
      this.textarea.focus();
      return;
    }
    if (!text.trim()) return;
    if (byteLength(text) > this.maxBytes) {
      this.update();
      return;
    }
    if (this.onSend(text, this.replyTo) === false) return;
    this.setReply(null);
    this.textarea.value = '';
    this.update();
    this.textarea.focus();
  }

  // update shows the byte count near and over the limit, and blocks sending
  // over it.
  update() {
    const text = this.textarea.value;
    const bytes = byteLength(text);
    const over = bytes > this.maxBytes;
    this.button.disabled = over || (!text.trim() && !this.hasFiles?.());
    this.textarea.setAttribute('aria-invalid', over ? 'true' : 'false');
    this.hint.classList.toggle('error', over);
    if (over) {
      this.hint.textContent = `Too long to send: ${formatNumber(bytes)} bytes; the server's limit is ${formatNumber(this.maxBytes)}.`;
      if (!this.over) this.announce?.(this.hint.textContent);
    } else if (bytes >= this.maxBytes * warnAt) {
      this.hint.textContent = `${formatNumber(bytes)} of ${formatNumber(this.maxBytes)} bytes`;
    } else {
      this.hint.textContent = '';
    }
    this.hint.hidden = !this.hint.textContent;
    this.over = over;
    if (this.autoSize) {
      this.textarea.style.height = 'auto';
      this.textarea.style.height = `${Math.min(this.textarea.scrollHeight, maxHeight)}px`;
    }
  }

  focus() {
    this.textarea.focus({ preventScroll: true });
  }
}
