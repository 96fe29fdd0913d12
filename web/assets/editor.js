// The inline editor for one of the reader's messages: Enter saves,
// Shift+Enter starts a new line, Escape cancels.

import { byteLength, formatNumber } from './format.js';

let editors = 0; // for unique element ids

/**
 * Editor is a form in place of a message's text. onSave(text) returns a
 * promise that rejects with an Error whose message the form shows;
 * onClose(saved) runs once the editor is done, either way.
 */
export class Editor {
  constructor({ message, maxBytes, onSave, onClose }) {
    Object.assign(this, { message, maxBytes, onSave, onClose });
    this.saving = false;
    const n = ++editors;

    this.form = document.createElement('form');
    this.form.className = 'msg-editor';
    this.form.noValidate = true;

    const label = document.createElement('label');
    label.className = 'visually-hidden';
    label.htmlFor = `edit-text-${n}`;
    label.textContent = 'Edit message';

    this.textarea = document.createElement('textarea');
    this.textarea.id = `edit-text-${n}`;
    this.textarea.rows = 1;
    this.textarea.value = message.text ?? '';
    this.textarea.setAttribute('aria-describedby', `edit-hint-${n} edit-error-${n}`);

    const bar = document.createElement('div');
    bar.className = 'msg-editor-bar';
    const hint = document.createElement('span');
    hint.className = 'msg-editor-hint';
    hint.id = `edit-hint-${n}`;
    hint.textContent = 'Enter to save, Escape to cancel';
    this.error = document.createElement('p');
    this.error.className = 'field-error';
    this.error.id = `edit-error-${n}`;
    this.error.setAttribute('role', 'alert');
    this.error.hidden = true;
    this.cancelButton = document.createElement('button');
    this.cancelButton.type = 'button';
    this.cancelButton.textContent = 'Cancel';
    this.saveButton = document.createElement('button');
    this.saveButton.type = 'submit';
    this.saveButton.className = 'primary';
    this.saveButton.textContent = 'Save';
    bar.append(hint, this.cancelButton, this.saveButton);
    this.form.append(label, this.textarea, bar, this.error);

    this.autoSize = !CSS.supports('field-sizing', 'content');
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save();
    });
    this.cancelButton.addEventListener('click', () => this.close(false));
    this.textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        this.close(false);
      } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        this.enterSaved = true;
        this.save();
      }
    });
    // As in the composer: some input paths still insert the line break of
    // an Enter whose keydown was cancelled.
    this.textarea.addEventListener('beforeinput', (e) => {
      if (this.enterSaved && (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph')) {
        e.preventDefault();
      }
      this.enterSaved = false;
    });
    this.textarea.addEventListener('keyup', () => {
      this.enterSaved = false;
    });
    this.textarea.addEventListener('input', () => this.resize());
  }

  /** focus puts the caret at the end of the text. */
  focus() {
    this.resize();
    const end = this.textarea.value.length;
    this.textarea.focus({ preventScroll: true });
    this.textarea.setSelectionRange(end, end);
  }

  resize() {
    if (!this.autoSize) return;
    this.textarea.style.height = 'auto';
    this.textarea.style.height = `${Math.min(this.textarea.scrollHeight, 240)}px`;
  }

  async save() {
    if (this.saving) return;
    const text = this.textarea.value;
    if (text === (this.message.text ?? '')) {
      this.close(false);
      return;
    }
    if (!text.trim()) {
      this.showError('A message cannot be empty. To remove it, delete it instead.');
      return;
    }
    const bytes = byteLength(text);
    if (bytes > this.maxBytes) {
      this.showError(`Too long: ${formatNumber(bytes)} bytes; the server's limit is ${formatNumber(this.maxBytes)}.`);
      return;
    }
    this.saving = true;
    this.setBusy(true);
    try {
      await this.onSave(text);
    } catch (err) {
      this.saving = false;
      this.setBusy(false);
      this.showError(err?.message || 'Could not save the change.');
      this.textarea.focus({ preventScroll: true });
      return;
    }
    this.saving = false;
    this.close(true);
  }

  setBusy(busy) {
    this.textarea.readOnly = busy;
    this.saveButton.disabled = busy;
    this.saveButton.textContent = busy ? 'Saving…' : 'Save';
    this.form.setAttribute('aria-busy', String(busy));
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = false;
    this.textarea.setAttribute('aria-invalid', 'true');
  }

  close(saved) {
    if (this.closed) return;
    this.closed = true;
    this.onClose(saved);
  }
}
