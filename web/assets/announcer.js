// Tells screen readers about new messages through an ARIA live region,
// summarising bursts (e.g. the catch-up after a reconnect) in one sentence.

const flushAfter = 800; // milliseconds to gather a burst
const keep = 5; // announcements left in the region

export class Announcer {
  constructor(region) {
    this.region = region;
    this.pending = new Map(); // room → messages to announce
    this.timer = 0;
  }

  /** message queues the announcement of one new message in room. */
  message(room, event) {
    const list = this.pending.get(room) || [];
    list.push(event);
    this.pending.set(room, list);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), flushAfter);
  }

  flush() {
    this.timer = 0;
    for (const [room, events] of this.pending) {
      const text = events.length === 1
        ? `${events[0].author} in #${room}: ${events[0].text}`
        : `${events.length} new messages in #${room}.`;
      this.say(text);
    }
    this.pending.clear();
  }

  /** say adds one announcement to the live region. */
  say(text) {
    const p = document.createElement('p');
    p.textContent = text.length > 300 ? `${text.slice(0, 300)}…` : text;
    this.region.append(p);
    while (this.region.childElementCount > keep) this.region.firstElementChild.remove();
  }
}
