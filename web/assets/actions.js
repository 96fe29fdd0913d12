// What the reader can do to a message: react (the quick picker or a
// reaction already there), reply, and for their own, edit in place and
// delete after confirming. Every change goes to the server; its answer is
// applied at once and the stream brings the same change to other pages.

import * as api from './api.js';
import { Editor } from './editor.js';
import { firstLine } from './render.js';

const touchOnly = matchMedia('(hover: none)');

/** quickReactions are offered on every message; others' emoji show too. */
export const quickReactions = [
  ['👍', 'Thumbs up'], ['❤️', 'Heart'], ['😂', 'Laughing'],
  ['🎉', 'Party'], ['😮', 'Surprised'], ['😢', 'Sad'],
];

/**
 * Actions handles the message controls in the timeline. me() is the
 * reader's name; room() is the open Room; onResult(room, data) applies what
 * the server answered (an event or a message's state); onReply(message)
 * starts a reply; needName() asks for a name first; notify(text) tells the
 * reader about a failure.
 */
export class Actions {
  constructor({
    list, outbox, timeline, dialog, me, room, maxBytes, onResult, onReply, needName, notify, announce, showMessage,
  }) {
    Object.assign(this, {
      list, timeline, dialog, me, room, maxBytes, onResult, onReply, needName, notify, announce, showMessage,
    });
    this.editor = null;
    this.deleting = null; // the message the delete dialog is about
    this.pending = new Set(); // reaction toggles in flight, "id emoji"
    this.again = new Set(); // of those, the ones clicked again meanwhile

    list.addEventListener('click', (e) => this.onClick(e));
    outbox.addEventListener('click', (e) => {
      const quote = e.target.closest('[data-action="show-parent"]');
      if (quote) this.timeline.scrollTo(quote.dataset.target);
    });
    list.addEventListener('keydown', (e) => this.onKey(e));
    list.addEventListener('focusout', (e) => {
      const picker = this.timeline.mounted('picker');
      if (picker && picker.contains(e.target) && !picker.contains(e.relatedTarget)
        && e.relatedTarget && !e.relatedTarget.closest?.('[data-action="react"]')) {
        this.closePicker(false);
      }
    });
    document.addEventListener('pointerdown', (e) => {
      const picker = this.timeline.mounted('picker');
      if (picker && !picker.contains(e.target) && !e.target.closest?.('[data-action="react"]')) {
        this.closePicker(false);
      }
    });

    const d = dialog;
    d.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.confirmDelete();
    });
    d.cancel.addEventListener('click', () => d.dialog.close());
    d.dialog.addEventListener('close', () => {
      const message = this.deleting;
      this.deleting = null;
      if (!message) return;
      const li = this.timeline.elements.get(message.id);
      const back = li?.querySelector('[data-action="delete"]');
      focusOn(back || li);
    });
  }

  /** reset forgets an open editor or picker, e.g. when the room changes. */
  reset() {
    if (this.editor) this.editor.closed = true;
    this.editor = null;
  }

  message(li) {
    return li && this.room()?.byId.get(li.dataset.id);
  }

  onClick(e) {
    const control = e.target.closest('[data-action]');
    const li = e.target.closest('li.msg');
    if (!control) {
      // On a touch screen there is no hover: a tap shows a message's actions.
      if (li && touchOnly.matches && !e.target.closest('a, button, textarea, input')) this.select(li);
      return;
    }
    const message = this.message(li);
    if (!message) return;
    switch (control.dataset.action) {
      case 'react':
        if (this.timeline.mounted('picker', message.id)) this.closePicker(true);
        else this.openPicker(message);
        break;
      case 'pick-reaction':
        this.closePicker(true);
        this.toggle(message, control.dataset.emoji);
        break;
      case 'toggle-reaction':
        this.toggle(message, control.dataset.emoji);
        break;
      case 'reply':
        this.onReply(message);
        break;
      case 'edit':
        this.edit(message);
        break;
      case 'delete':
        this.askDelete(message);
        break;
      case 'show-parent': // as a permalink: highlighted, loaded if need be
        this.showMessage(control.dataset.target);
        break;
      default:
    }
  }

  select(li) {
    for (const other of this.list.querySelectorAll('li.msg.selected')) {
      if (other !== li) other.classList.remove('selected');
    }
    li.classList.toggle('selected');
  }

  onKey(e) {
    const picker = this.timeline.mounted('picker');
    if (!picker || !picker.contains(e.target)) return;
    const buttons = [...picker.querySelectorAll('button')];
    const i = buttons.indexOf(e.target);
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      this.closePicker(true);
    } else if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      e.preventDefault();
      const next = (i + (e.key === 'ArrowRight' ? 1 : -1) + buttons.length) % buttons.length;
      buttons[next].focus();
    }
  }

  // ---- Reactions ----

  openPicker(message) {
    const me = this.me();
    const picker = document.createElement('div');
    picker.className = 'reaction-picker';
    picker.setAttribute('role', 'group');
    picker.setAttribute('aria-label', 'Add a reaction');
    for (const [emoji, name] of quickReactions) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'pick';
      button.dataset.action = 'pick-reaction';
      button.dataset.emoji = emoji;
      button.textContent = emoji;
      button.title = name;
      button.setAttribute('aria-label', name);
      const mine = Boolean(me) && Boolean(message.reactions?.find((r) => r.emoji === emoji)?.authors.includes(me));
      button.setAttribute('aria-pressed', String(mine));
      picker.append(button);
    }
    this.timeline.mount('picker', message.id, picker);
    picker.querySelector('button').focus({ preventScroll: true });
  }

  closePicker(returnFocus) {
    const open = this.timeline.mounts.picker;
    if (!open) return;
    const li = this.timeline.mount('picker', open.id, null);
    if (returnFocus) focusOn(li?.querySelector('[data-action="react"]') || li);
  }

  /**
   * toggle adds the reader's emoji to message, or takes it off. A click
   * while the same toggle is in flight toggles again once it is done: the
   * stream may show its result before the server's answer arrives.
   */
  async toggle(message, emoji, room = this.room()) {
    const me = this.me();
    if (!me) {
      this.needName();
      return;
    }
    const key = `${message.id} ${emoji}`;
    if (!emoji) return;
    if (this.pending.has(key)) {
      this.again.add(key);
      return;
    }
    const mine = Boolean(message.reactions?.find((r) => r.emoji === emoji)?.authors.includes(me));
    this.pending.add(key);
    let ok = false;
    try {
      const call = mine ? api.removeReaction : api.addReaction;
      this.onResult(room, await call(room.name, message.id, { author: me, emoji }));
      ok = true;
    } catch (err) {
      this.notify(`Could not ${mine ? 'remove' : 'add'} the reaction: ${reason(err)}`);
    } finally {
      this.pending.delete(key);
    }
    if (this.again.delete(key) && ok) this.toggle(message, emoji, room);
  }

  // ---- Editing ----

  /** edit opens the inline editor on one of the reader's messages. */
  edit(message) {
    if (!message || message.redacted || message.author !== this.me()) return;
    this.closePicker(false);
    if (this.editor) {
      if (this.editor.message === message) {
        this.editor.focus();
        return;
      }
      this.editor.close(false);
    }
    const room = this.room();
    const editor = new Editor({
      message,
      maxBytes: this.maxBytes(),
      onSave: async (text) => {
        try {
          this.onResult(room, await api.editMessage(room.name, message.id, { author: this.me(), text }));
        } catch (err) {
          throw new Error(`Not saved: ${reason(err)}`);
        }
      },
      onClose: (saved) => {
        if (this.editor === editor) this.editor = null;
        const hadFocus = editor.form.contains(document.activeElement) || document.activeElement === document.body;
        const li = this.timeline.mount('editor', message.id, null);
        if (saved) this.announce('Message edited.');
        if (hadFocus) focusOn(li?.querySelector('[data-action="edit"]') || li);
      },
    });
    this.editor = editor;
    this.timeline.mount('editor', message.id, editor.form);
    editor.focus();
  }

  /** editLast edits the reader's newest message in the open room. */
  editLast() {
    const me = this.me();
    const events = this.room()?.events || [];
    for (let i = events.length - 1; i >= 0; i--) {
      if (events[i].author === me && !events[i].redacted) {
        this.edit(events[i]);
        this.timeline.elements.get(events[i].id)?.scrollIntoView({ block: 'nearest' });
        return true;
      }
    }
    return false;
  }

  // ---- Deleting ----

  askDelete(message) {
    if (message.redacted || message.author !== this.me()) return;
    const d = this.dialog;
    this.deleting = message;
    this.deletingRoom = this.room();
    d.preview.textContent = firstLine(message);
    d.error.hidden = true;
    d.confirm.disabled = false;
    d.dialog.showModal();
    d.cancel.focus();
  }

  async confirmDelete() {
    const message = this.deleting;
    const room = this.deletingRoom;
    if (!message) return;
    const d = this.dialog;
    d.confirm.disabled = true;
    try {
      this.onResult(room, await api.deleteMessage(room.name, message.id, { author: this.me() }));
    } catch (err) {
      d.error.textContent = `Not deleted: ${reason(err)}`;
      d.error.hidden = false;
      d.confirm.disabled = false;
      return;
    }
    d.dialog.close();
    this.announce('Message deleted.');
  }
}

function reason(err) {
  return err instanceof api.ApiError ? err.message : 'something went wrong.';
}

function focusOn(node) {
  if (!node) return;
  if (node.matches('li')) node.tabIndex = -1;
  node.focus({ preventScroll: true });
}
