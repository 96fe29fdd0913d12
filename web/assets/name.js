// The name prompt: asked on the first visit, kept in localStorage, and
// changeable at any time.

import { maxNameLength, prefs } from './cache.js';

export class NamePrompt {
  constructor({ dialog, form, input, cancel, error, onChange }) {
    Object.assign(this, { dialog, form, input, cancel, error, onChange });
    this.then = null;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const name = input.value.trim().replace(/\s+/g, ' ');
      if (!name || name.length > maxNameLength) {
        error.textContent = `Please enter a name of 1 to ${maxNameLength} characters.`;
        error.hidden = false;
        input.focus();
        return;
      }
      prefs.name = name;
      dialog.close();
      onChange(name);
      const then = this.then;
      this.then = null;
      then?.();
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      this.then = null;
      this.restoreFocus?.focus({ preventScroll: true });
    });
  }

  /** open shows the prompt; then runs after a name is saved. */
  open(then) {
    this.then = then || null;
    this.restoreFocus = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    this.input.value = prefs.name;
    this.error.hidden = true;
    this.cancel.hidden = !prefs.name;
    if (!this.dialog.open) this.dialog.showModal();
    this.input.focus();
    this.input.select();
  }
}
