// Desktop notifications (the browser's Notification API): opt-in from a
// button in the room's header, raised only while the tab is hidden, for
// messages that mention the reader and, in the rooms where the reader chose
// so, for every message. The choice is per room and kept in this browser.

import { mentions } from './mentions.js';

const modesKey = 'parley.notify'; // room → mode
const onKey = 'parley.notify-on'; // the reader opted in
// The button's label for each mode of the open room, and the next mode.
const modes = {
  off: { label: 'Notify: off', next: 'mentions' },
  mentions: { label: 'Notify: mentions', next: 'all' },
  all: { label: 'Notify: all messages', next: 'off' },
};
const maxBody = 160;

/**
 * Notifier owns the notifications button, placed before anchor. room() is
 * the open room; me() the reader's name; onClick(room, id) shows a message
 * when its notification is clicked.
 */
export class Notifier {
  constructor({ anchor, room, me, onClick }) {
    Object.assign(this, { room, me, onClick });
    this.supported = typeof window.Notification === 'function';
    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.id = 'notify-button';
    this.button.hidden = !this.supported;
    anchor.before(this.button);
    this.button.addEventListener('click', () => this.toggle());
  }

  get granted() {
    return this.supported && window.Notification.permission === 'granted';
  }

  // on is true once the reader opted in here (and the browser allows it).
  get on() {
    try {
      return this.granted && localStorage.getItem(onKey) === 'true';
    } catch {
      return false;
    }
  }

  // modes maps a room to its mode; a room not in it notifies of mentions
  // once the reader opted in.
  get modes() {
    try {
      const v = JSON.parse(localStorage.getItem(modesKey) || '{}');
      return v && typeof v === 'object' ? v : {};
    } catch {
      return {};
    }
  }

  /** mode is "off", "mentions" or "all" for room. */
  mode(room) {
    if (!this.on) return 'off';
    const m = this.modes[room];
    return modes[m] ? m : 'mentions';
  }

  setMode(room, mode) {
    const all = this.modes;
    all[room] = mode;
    try {
      localStorage.setItem(modesKey, JSON.stringify(all));
    } catch {
      // Storage is full or off: the choice lasts until the page goes.
    }
    this.render();
  }

  // toggle asks for permission the first time, then steps the open room
  // through off, mentions and all messages.
  async toggle() {
    const room = this.room();
    if (!room || !this.supported) return;
    if (!this.on) {
      const answer = await window.Notification.requestPermission();
      if (answer === 'granted') {
        try {
          localStorage.setItem(onKey, 'true');
        } catch {
          // Storage is off: notifications last until the page goes.
        }
        this.setMode(room, 'mentions');
      } else this.render();
      return;
    }
    this.setMode(room, modes[this.mode(room)].next);
  }

  render() {
    if (!this.supported) return;
    const room = this.room();
    const mode = this.mode(room);
    const denied = window.Notification.permission === 'denied';
    this.button.textContent = denied ? 'Notifications blocked' : modes[mode].label;
    this.button.disabled = denied;
    this.button.dataset.mode = mode;
    this.button.title = denied
      ? 'This browser blocks notifications from this site: allow them in its site settings.'
      : `Desktop notifications for #${room} while this tab is hidden. Click to change.`;
  }

  /**
   * message considers a new message of a followed room arriving live: a
   * notification when the tab is hidden and the room's mode wants it.
   */
  message(event) {
    if (document.visibilityState !== 'hidden' || !this.on) return;
    const me = this.me();
    if (event.author === me || event.redacted) return;
    const mode = this.mode(event.room);
    const mentioned = mentions(event, me);
    if (mode === 'off' || (mode === 'mentions' && !mentioned)) return;
    const text = (event.text || '').replace(/\s+/g, ' ').trim();
    try {
      // The tag makes the tabs of one browser show one notification.
      const n = new window.Notification(mentioned ? `${event.author} mentioned you in #${event.room}` : `${event.author} in #${event.room}`, {
        body: text.length > maxBody ? `${text.slice(0, maxBody)}…` : text,
        tag: event.id,
      });
      n.addEventListener('click', () => {
        window.focus();
        this.onClick(event.room, event.id);
        n.close();
      });
    } catch {
      // Some browsers only notify from a service worker: nothing to do.
    }
  }
}
