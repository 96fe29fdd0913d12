// The open room's message list: rendering, grouping, day separators,
// sticking to the bottom, the "new messages" pill and scrollback paging.

import { continues, dayElement, messageElement, outboxElement, sameDay } from './render.js';
import { formatNumber } from './format.js';

// Within this many pixels of the end counts as "at the bottom".
const bottomSlack = 48;
// Older messages load when the reader scrolls this close to the top.
const topSlack = 400;

/**
 * Timeline renders one Room at a time into the scroller. onNeedOlder() is
 * called when the reader nears the top and older events may exist.
 */
export class Timeline {
  constructor({ scroller, list, outbox, pill, olderButton, historyStatus, me, onNeedOlder }) {
    Object.assign(this, { scroller, list, outbox, pill, olderButton, historyStatus, me, onNeedOlder });
    this.room = null;
    this.elements = new Map(); // event id → its <li>
    this.lastRendered = null; // the newest event in the DOM
    this.stuck = true; // the reader is at the bottom
    this.unseen = 0; // messages appended below the fold since then
    this.loading = false;

    scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    pill.addEventListener('click', () => {
      this.scrollToBottom();
      this.scroller.focus({ preventScroll: true });
    });
    olderButton.addEventListener('click', () => this.onNeedOlder());
    // Whatever changes size (the composer growing, a late font, the outbox)
    // keeps a reader who was at the bottom there.
    const resized = new ResizeObserver(() => {
      if (this.stuck) this.scrollToBottom();
    });
    for (const node of [scroller, list, outbox]) resized.observe(node);
    this.lastTop = 0;
  }

  /** show renders room from scratch, scrolled to its newest message. */
  show(room, outboxItems) {
    this.room = room;
    this.elements.clear();
    this.lastRendered = null;
    this.list.replaceChildren(this.renderRange(room.events, null));
    this.renderOutbox(outboxItems);
    this.setLoading(false);
    this.scrollToBottom();
    this.fill();
  }

  renderRange(events, prev) {
    const fragment = document.createDocumentFragment();
    for (const event of events) {
      if (!sameDay(prev, event)) fragment.append(dayElement(event));
      const li = messageElement(event, { continued: continues(prev, event), mine: event.author === this.me() });
      this.elements.set(event.id, li);
      fragment.append(li);
      prev = event;
    }
    if (prev && (!this.lastRendered || prev.id > this.lastRendered.id)) this.lastRendered = prev;
    return fragment;
  }

  /**
   * appended shows events just added to the open room. It keeps the reader
   * at the bottom if they were there, and otherwise counts them on the pill.
   */
  appended(events, { own = false } = {}) {
    if (!events.length) return;
    const stick = this.stuck || own;
    if (this.lastRendered && events[0].id < this.lastRendered.id) {
      this.rerender();
    } else {
      this.list.append(this.renderRange(events, this.lastRendered));
    }
    if (stick) {
      this.scrollToBottom();
    } else {
      this.unseen += events.filter((e) => e.author !== this.me()).length;
      this.updatePill();
    }
  }

  // rerender redraws the whole room in place, for the rare event that lands
  // between two already shown (e.g. a slow writer's message after a reconnect).
  rerender() {
    const anchor = this.anchor();
    this.elements.clear();
    this.lastRendered = null;
    this.list.replaceChildren(this.renderRange(this.room.events, null));
    this.restore(anchor);
  }

  /** prepended shows the count oldest events of the room, just loaded. */
  prepended(count) {
    const events = this.room.events;
    if (!count) return;
    const anchor = this.anchor();
    const head = events[count];
    if (head) {
      // The old first message may now continue the new last one: redraw it
      // together with the older block, dropping its day separator.
      const headElement = this.elements.get(head.id);
      while (headElement && this.list.firstChild) {
        const node = this.list.firstChild;
        node.remove();
        if (node === headElement) break;
      }
    }
    this.list.prepend(this.renderRange(events.slice(0, head ? count + 1 : count), null));
    this.restore(anchor);
  }

  // anchor notes where the first visible message sits, so content added
  // above it can be compensated for and the reader sees no jump.
  anchor() {
    const top = this.scroller.getBoundingClientRect().top;
    for (const li of this.list.querySelectorAll('li.msg')) {
      const rect = li.getBoundingClientRect();
      if (rect.bottom > top) return { id: li.dataset.id, top: rect.top };
    }
    return null;
  }

  restore(anchor) {
    const li = anchor && this.elements.get(anchor.id);
    if (!li) return;
    this.scroller.scrollTop += li.getBoundingClientRect().top - anchor.top;
  }

  /** renderOutbox redraws the reader's unconfirmed messages below the list. */
  renderOutbox(items) {
    const stick = this.stuck;
    const fragment = document.createDocumentFragment();
    let prev = this.lastRendered;
    for (const item of items) {
      fragment.append(outboxElement(item, { continued: continues(prev, item) }));
      prev = item;
    }
    this.outbox.replaceChildren(fragment);
    if (stick) this.scrollToBottom();
  }

  /**
   * setLoading shows whether older messages are loading, the room's first
   * page has yet to arrive, or the whole history is shown. aria-busy is set
   * while anything is loading.
   */
  setLoading(loading) {
    this.loading = loading;
    const room = this.room;
    const first = Boolean(room && !room.loaded);
    const more = Boolean(room && room.loaded && room.hasMore);
    this.scroller.setAttribute('aria-busy', loading || first ? 'true' : 'false');
    this.olderButton.hidden = !more || loading;
    let status = '';
    if (first) status = 'Loading messages…';
    else if (loading) status = 'Loading older messages…';
    else if (room && !room.hasMore) status = `This is the start of #${room.name}.`;
    this.historyStatus.textContent = status;
  }

  onScroll() {
    // Only the reader scrolling up unsticks the view; content or the view
    // changing size under a stuck reader does not.
    const top = this.scroller.scrollTop;
    if (this.atBottom()) this.stuck = true;
    else if (top < this.lastTop) this.stuck = false;
    this.lastTop = top;
    if (this.stuck && this.unseen) {
      this.unseen = 0;
      this.updatePill();
    }
    if (this.scroller.scrollTop < topSlack) this.needOlder();
  }

  /** fill asks for older messages while the list does not fill the view. */
  fill() {
    if (this.scroller.scrollHeight - this.scroller.clientHeight < topSlack) this.needOlder();
  }

  needOlder() {
    if (this.room && this.room.hasMore && this.room.loaded && !this.loading) this.onNeedOlder();
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= bottomSlack;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.lastTop = this.scroller.scrollTop;
    this.stuck = true;
    this.unseen = 0;
    this.updatePill();
  }

  updatePill() {
    this.pill.hidden = this.unseen === 0;
    this.pill.textContent = this.unseen === 1 ? '1 new message ↓' : `${formatNumber(this.unseen)} new messages ↓`;
  }
}
