// The room list: followed rooms with unread counts, other rooms on the
// server, and the form that opens or creates a room by name.

import { roomPattern } from './api.js';
import { formatNumber, fullTime, sinceLabel } from './format.js';
import { idTime } from './store.js';

/** roomHref is the shareable address of a room. */
export function roomHref(name) {
  return `/r/${encodeURIComponent(name)}`;
}

/**
 * normalizeRoom turns what a person typed into a room name, or returns ''
 * if it cannot be one: "#Team Chat" becomes "team-chat".
 */
export function normalizeRoom(input) {
  const name = input.trim().replace(/^#/, '').toLowerCase().replace(/\s+/g, '-');
  return roomPattern.test(name) ? name : '';
}

export class Sidebar {
  constructor({ list, others, othersHeading, form, input, error, suggestions, onOpen }) {
    Object.assign(this, { list, others, othersHeading, form, input, error, suggestions, onOpen });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const name = normalizeRoom(input.value);
      if (!name) {
        this.showError('Room names use a–z, 0–9, "-" and "_", up to 64 characters.');
        input.focus();
        return;
      }
      this.showError('');
      input.value = '';
      onOpen(name);
    });
    input.addEventListener('input', () => this.showError(''));
    // Room links are real links (middle-click opens a tab); a plain click
    // switches rooms in place.
    for (const ul of [list, others]) {
      ul.addEventListener('click', (e) => {
        const link = e.target.closest('a[data-room]');
        if (!link || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        onOpen(link.dataset.room);
      });
    }
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
    this.input.setAttribute('aria-invalid', message ? 'true' : 'false');
  }

  /** render draws the followed rooms; active is the open room's name. */
  render(rooms, active) {
    const fragment = document.createDocumentFragment();
    for (const room of rooms) {
      const li = document.createElement('li');
      const link = roomLink(room.name);
      if (room.name === active) link.setAttribute('aria-current', 'page');
      if (room.unread > 0 && room.name !== active) {
        const count = formatNumber(room.unread) + (room.unreadIsLowerBound ? '+' : '');
        addCounts(link, room.name, count, room.mentions);
      }
      li.append(link);
      fragment.append(li);
    }
    this.list.replaceChildren(fragment);
  }

  /**
   * renderOthers lists server rooms the reader does not follow, each with
   * when it was last active and, from the server's read markers, the
   * reader's unread messages (once they have read there) and mentions.
   */
  renderOthers(serverRooms, followed) {
    const others = serverRooms.filter((r) => !followed.has(r.name) && roomPattern.test(r.name));
    const fragment = document.createDocumentFragment();
    const now = new Date();
    for (const room of others) {
      const li = document.createElement('li');
      const link = roomLink(room.name);
      const last = idTime(room.last_id);
      if (last) {
        const time = document.createElement('time');
        time.className = 'last-active';
        time.dateTime = last.toISOString();
        time.textContent = sinceLabel(last, now);
        time.title = `Last active ${fullTime(last)}`;
        link.append(time);
        link.setAttribute('aria-label', `${room.name}, last active ${time.textContent}`);
      }
      const unread = Number.isInteger(room.unread) && room.read ? room.unread : 0;
      const mentions = Number.isInteger(room.mentions) ? room.mentions : 0;
      if (unread || mentions) addCounts(link, room.name, unread ? serverCount(unread) : '', mentions);
      li.append(link);
      fragment.append(li);
    }
    this.others.replaceChildren(fragment);
    this.others.hidden = others.length === 0;
    this.othersHeading.hidden = others.length === 0;

    const options = document.createDocumentFragment();
    for (const room of serverRooms) {
      const option = document.createElement('option');
      option.value = room.name;
      options.append(option);
    }
    this.suggestions.replaceChildren(options);
  }
}

// addCounts puts a room's unread count (text, '' for none) and mentions on
// its link.
function addCounts(link, name, unread, mentions) {
  const said = [];
  if (unread) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = unread;
    link.append(badge);
    said.push(`${unread} unread`);
  }
  if (mentions > 0) {
    const badge = document.createElement('span');
    badge.className = 'mention-count';
    badge.textContent = `@${serverCount(mentions)}`;
    badge.title = mentions === 1 ? '1 mention' : `${serverCount(mentions)} mentions`;
    link.append(badge);
    said.push(badge.title);
  }
  link.setAttribute('aria-label', `${name}, ${said.join(', ')}`);
  link.classList.add('has-unread');
}

// serverCount shows a count of the server's, which stops at 1000.
function serverCount(n) {
  return n >= 1000 ? '999+' : formatNumber(n);
}

function roomLink(name) {
  const link = document.createElement('a');
  link.className = 'room-link';
  link.href = roomHref(name);
  link.dataset.room = name;
  const label = document.createElement('span');
  label.className = 'room-name';
  label.textContent = name;
  link.append(label);
  return link;
}
