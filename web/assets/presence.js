// Who is in the open room (a line under its header) and who is typing in
// it (a line above the message box), drawn from the roster.

import { guestParts } from './render.js';

// How many names the presence line shows before "and N more".
const namesShown = 8;

/**
 * PresenceView draws roster's state for the open room: people (their
 * names, a guest marked as one, a person with two tabs once) in a list
 * after header, and "alice is typing…" before the composer. room() is the
 * open room's name; me() the reader's name (not shown as typing).
 */
export class PresenceView {
  constructor({ roster, header, composer, room, me }) {
    Object.assign(this, { roster, room, me });
    this.bar = document.createElement('div');
    this.bar.className = 'presence';
    this.bar.id = 'presence';
    this.bar.setAttribute('aria-label', 'Who is here');
    header.after(this.bar);
    this.typingLine = document.createElement('p');
    this.typingLine.className = 'typing';
    this.typingLine.id = 'typing';
    this.typingLine.setAttribute('aria-live', 'polite');
    composer.prepend(this.typingLine);
    roster.addEventListener('change', (e) => {
      if (!e.detail.room || e.detail.room === this.room()) this.render();
    });
  }

  render() {
    this.renderPeople();
    this.renderTyping();
  }

  renderPeople() {
    const room = this.room();
    const people = this.roster.people(room);
    const anonymous = this.roster.anonymous(room);
    const list = document.createElement('ul');
    list.className = 'presence-list';
    for (const person of people.slice(0, namesShown)) {
      const li = document.createElement('li');
      li.className = 'presence-person';
      li.dataset.name = person.name;
      li.dataset.connections = String(person.connections.length);
      const guest = person.guest ? guestParts(person.name) : null;
      const name = document.createElement('span');
      name.className = 'presence-name';
      name.dir = 'auto';
      name.textContent = guest ? guest.chosen : person.name;
      li.append(name);
      if (person.guest) {
        li.classList.add('guest');
        const badge = document.createElement('span');
        badge.className = 'guest-badge';
        badge.textContent = guest ? guest.badge : 'guest';
        li.append(badge);
      }
      if (person.name === this.me()) li.classList.add('presence-me');
      list.append(li);
    }
    const count = document.createElement('span');
    count.className = 'presence-count';
    const more = people.length - namesShown;
    const parts = [`${people.length} here`];
    if (more > 0) parts.push(`${more} more not listed`);
    if (anonymous) parts.push(`${anonymous} unnamed`);
    count.textContent = parts.join(' · ');
    this.bar.replaceChildren(count, list);
    this.bar.hidden = people.length === 0 && anonymous === 0;
  }

  renderTyping() {
    const names = this.roster.typists(this.room()).filter((n) => n !== this.me())
      .map((n) => guestParts(n)?.chosen || n);
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    this.typingLine.textContent = text;
    this.typingLine.classList.toggle('shown', Boolean(text));
  }
}
