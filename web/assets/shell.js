// The page around the rooms: the connection indicator, the reader's name,
// unread counts in the tab's title and on the menu button, short notes over
// the timeline, and on a phone, the room list that folds away.

import * as api from './api.js';

const statusLabels = {
  connecting: 'Connecting…', 'catching-up': 'Catching up…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline', stopped: 'Stopped',
};
const toastTime = 6000; // milliseconds a note stays up

/**
 * Shell owns the chrome of the chat page in app. roomList and roomInput
 * are where focus goes when the room list unfolds.
 */
export class Shell {
  constructor({ app, menu, scrim, roomList, roomInput, conn, connLabel, streamError, meName, toast }) {
    Object.assign(this, { app, menu, scrim, roomList, roomInput, conn, connLabel, streamError, meName, toast });
    this.toastTimer = 0;
    menu.addEventListener('click', () => {
      if (app.classList.contains('nav-open')) this.closeNav();
      else this.openNav();
    });
    scrim.addEventListener('click', () => this.closeNav());
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && app.classList.contains('nav-open')) {
        this.closeNav();
        menu.focus();
      }
    });
  }

  /** showStatus shows the stream's state: see Stream's onStatus. */
  showStatus(state) {
    this.conn.dataset.state = state;
    this.connLabel.textContent = statusLabels[state] || state;
    if (state !== 'stopped') this.showStreamError('');
  }

  /**
   * showStreamError says why live updates stopped, until they run again;
   * '' hides it.
   */
  showStreamError(text) {
    this.streamError.textContent = text;
    this.streamError.hidden = !text;
  }

  showName(name) {
    this.meName.textContent = name || 'no name yet';
  }

  /**
   * showUnread puts the unread count in the tab's title, and flags unread
   * rooms other than the open one on the menu button.
   */
  showUnread({ active, unread, elsewhere }) {
    const title = active ? `#${active} · Parley` : 'Parley';
    document.title = unread ? `(${unread}) ${title}` : title;
    // On a phone the room list is folded away: flag unread rooms on its button.
    this.menu.classList.toggle('has-unread', elsewhere > 0);
    this.menu.setAttribute('aria-label', elsewhere ? `Rooms, ${elsewhere} unread` : 'Rooms');
  }

  /** notify shows a short note over the timeline, e.g. a failed reaction. */
  notify(text) {
    const { toast } = this;
    toast.textContent = text;
    toast.classList.add('shown');
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => toast.classList.remove('shown'), toastTime);
  }

  openNav() {
    this.app.classList.add('nav-open');
    this.menu.setAttribute('aria-expanded', 'true');
    (this.roomList.querySelector('[aria-current]') || this.roomInput).focus();
  }

  closeNav() {
    if (!this.app.classList.contains('nav-open')) return;
    this.app.classList.remove('nav-open');
    this.menu.setAttribute('aria-expanded', 'false');
  }

  /**
   * untilReached calls fn until the server answers, showing the wait on the
   * connection indicator. An answer that is an error (a 4xx) is thrown.
   */
  async untilReached(fn) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof api.ApiError && !err.retryable) throw err;
        this.showStatus(attempt < 5 ? 'reconnecting' : 'offline');
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 15000)));
      }
    }
  }
}
