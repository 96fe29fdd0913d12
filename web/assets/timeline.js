// The open room's message list: rendering, grouping, day separators,
// sticking to the bottom, the "new messages" pill, scrollback paging,
// redrawing messages in place when they are edited, deleted or reacted to,
// and reading a window of older history around a linked message.

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
  constructor({
    scroller, list, outbox, pill, olderButton, historyStatus, me, onNeedOlder, onNeedNewer, onLeaveDetached,
    onBottom, wantsLine,
  }) {
    Object.assign(this, {
      scroller, list, outbox, pill, olderButton, historyStatus, me, onNeedOlder, onNeedNewer, onLeaveDetached,
    });
    // The "new messages" line goes before the first message from others
    // after lineAt, the read mark when the room was opened (set by whoever
    // opens it). It is drawn with the room, and with messages appended
    // when wantsLine(events) (they came while the reader was away or the
    // stream was catching up).
    // onBottom() runs when the reader sees the newest message.
    this.onBottom = onBottom || (() => {});
    this.wantsLine = wantsLine || (() => false);
    this.lineAt = '';
    this.lineShown = false;
    // Reading older history around a message (a permalink): the list shows
    // a window of the room that does not reach the newest message, while
    // the room itself keeps taking live events. onNeedNewer() loads more
    // below; onLeaveDetached() goes back to the room's newest messages.
    this.detached = false;
    this.highlighted = ''; // the id of the message a permalink points at
    this.room = null;
    this.guestBadges = false; // set under access control
    this.elements = new Map(); // event id → its <li>
    this.replies = new Map(); // parent id → Set of ids of shown replies to it
    // Parts that outlive a redraw of their message: the inline editor
    // (in place of the text) and the reaction picker, by message id.
    this.mounts = { editor: null, picker: null }; // each {id, node} or null
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
    if (this.room?.name !== room.name) this.highlighted = '';
    if (this.room !== room) this.mounts = { editor: null, picker: null };
    this.room = room;
    this.detached = false;
    this.renderAll(room.events);
    this.renderOutbox(outboxItems);
    this.setLoading(false);
    this.scrollToBottom();
    this.fill();
  }

  /**
   * showDetached renders win, a window of the open room's older history,
   * at message id, highlighted; the pill offers the way back.
   */
  showDetached(win, id) {
    this.mounts = { editor: null, picker: null };
    this.room = win;
    this.detached = true;
    this.highlighted = id;
    this.renderAll(win.events);
    this.outbox.replaceChildren();
    this.setLoading(false);
    this.stuck = false;
    this.unseen = 0;
    this.updatePill();
    this.scrollTo(id);
  }

  /**
   * rejoin shows room, which now holds the window's messages too, in
   * place: the reader keeps their place and is back on the live room.
   */
  rejoin(room, outboxItems) {
    const anchor = this.anchor();
    this.room = room;
    this.detached = false;
    this.renderAll(room.events);
    this.renderOutbox(outboxItems);
    this.restore(anchor);
    this.stuck = this.atBottom();
    this.unseen = 0;
    this.updatePill();
  }

  /** appendedBelow shows newer messages just loaded into a window. */
  appendedBelow(events) {
    if (!events.length) return;
    this.list.append(this.renderRange(events, this.lastRendered));
    this.quotesFor(events);
  }

  /** highlight marks message id as the one a link pointed at, and shows it. */
  highlight(id) {
    const old = this.highlighted;
    this.highlighted = id;
    this.redraw(new Set([old, id].filter(Boolean)));
    return this.scrollTo(id);
  }

  // renderAll replaces the whole list with events.
  renderAll(events) {
    this.elements.clear();
    this.replies.clear();
    this.lastRendered = null;
    this.lineShown = false;
    this.list.replaceChildren(this.renderRange(events, null, !this.detached));
  }

  /** setLine moves the "new messages" line to after id and redraws. */
  setLine(id) {
    if (id === this.lineAt) return;
    this.lineAt = id;
    if (this.room && !this.detached) this.rerender();
  }

  renderRange(events, prev, line = false) {
    const fragment = document.createDocumentFragment();
    for (const event of events) {
      if (!sameDay(prev, event)) fragment.append(dayElement(event));
      if (line && !this.lineShown && this.lineAt && event.id > this.lineAt && event.author !== this.me()) {
        fragment.append(lineElement());
        this.lineShown = true;
      }
      fragment.append(this.element(event, continues(prev, event)));
      prev = event;
    }
    if (prev && (!this.lastRendered || prev.id > this.lastRendered.id)) this.lastRendered = prev;
    return fragment;
  }

  // element renders one message of the room and notes it.
  element(message, continued) {
    const li = messageElement(message, {
      continued,
      mine: message.author === this.me(),
      me: this.me(),
      parent: this.parentOf(message),
      actions: true,
      guestBadges: this.guestBadges,
    });
    li.classList.toggle('target', message.id === this.highlighted);
    this.elements.set(message.id, li);
    if (message.reply_to) {
      if (!this.replies.has(message.reply_to)) this.replies.set(message.reply_to, new Set());
      this.replies.get(message.reply_to).add(message.id);
    }
    const { editor, picker } = this.mounts;
    if (editor?.id === message.id) {
      if (message.redacted) this.mounts.editor = null;
      else li.querySelector('.msg-line').replaceWith(editor.node);
    }
    if (picker?.id === message.id) {
      if (message.redacted) this.mounts.picker = null;
      else {
        li.querySelector('.msg-actions')?.after(picker.node);
        li.querySelector('[data-action="react"]')?.setAttribute('aria-expanded', 'true');
      }
    }
    return li;
  }

  /** parentOf is the loaded message that message replies to, or null. */
  parentOf(message) {
    return (message.reply_to && this.room?.byId.get(message.reply_to)) || null;
  }

  /**
   * updated redraws messages of the open room that changed in place, and
   * the quotes of replies to them, keeping focus and the reader's place.
   */
  updated(messages) {
    const ids = new Set();
    for (const m of messages) {
      ids.add(m.id);
      for (const child of this.replies.get(m.id) || []) ids.add(child);
    }
    this.redraw(ids);
  }

  // redraw replaces the shown <li> of each id with a fresh one.
  redraw(ids) {
    const anchor = this.stuck ? null : this.anchor();
    const active = document.activeElement;
    for (const id of ids) {
      const old = this.elements.get(id);
      const message = this.room?.byId.get(id);
      if (!old || !message || !old.isConnected) continue;
      const focus = focusKey(old);
      const li = this.element(message, old.classList.contains('continued'));
      li.classList.toggle('selected', old.classList.contains('selected'));
      old.replaceWith(li);
      if (focus !== null) restoreFocus(li, focus);
    }
    refocus(active);
    if (this.stuck) this.scrollToBottom();
    else this.restore(anchor);
  }

  // quotesFor redraws shown replies to messages that just loaded.
  quotesFor(messages) {
    const ids = new Set();
    for (const m of messages) for (const child of this.replies.get(m.id) || []) ids.add(child);
    if (ids.size) this.redraw(ids);
  }

  /**
   * mount keeps node (the editor or the reaction picker, by kind) on the
   * message id across redraws; a null node removes it. It returns the
   * message's <li>, redrawn.
   */
  mount(kind, id, node) {
    const prev = this.mounts[kind];
    this.mounts[kind] = node ? { id, node } : null;
    const ids = new Set([id]);
    if (prev && prev.id !== id) {
      prev.node.remove();
      ids.add(prev.id);
    }
    if (!node && prev) prev.node.remove();
    this.redraw(ids);
    return this.elements.get(id);
  }

  /** mounted returns the node of kind on message id, if any. */
  mounted(kind, id) {
    const m = this.mounts[kind];
    return m && (id === undefined || m.id === id) ? m.node : null;
  }

  /**
   * scrollTo brings a shown message into view, highlights it briefly and
   * moves focus to it. It returns false if the message is not shown.
   */
  scrollTo(id) {
    const li = this.elements.get(id);
    if (!li?.isConnected) return false;
    li.scrollIntoView({ block: 'center' });
    this.onScroll();
    li.tabIndex = -1;
    li.focus({ preventScroll: true });
    li.classList.remove('flash');
    void li.offsetWidth; // restart the animation
    li.classList.add('flash');
    return true;
  }

  /**
   * appended shows events just added to the open room. It keeps the reader
   * at the bottom if they were there, and otherwise counts them on the pill.
   */
  appended(events, { own = false } = {}) {
    if (!events.length) return;
    if (this.detached) { // the window does not reach them: count them
      this.unseen += events.filter((e) => e.author !== this.me()).length;
      this.updatePill();
      return;
    }
    const stick = this.stuck || own;
    if (this.lastRendered && events[0].id < this.lastRendered.id) {
      this.rerender();
    } else {
      this.list.append(this.renderRange(events, this.lastRendered, this.wantsLine(events)));
      this.quotesFor(events);
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
    const active = document.activeElement;
    const focus = this.list.contains(document.activeElement) ? document.activeElement.closest('li.msg') : null;
    const focusId = focus?.dataset.id;
    const focusPart = focus ? focusKey(focus) : null;
    this.renderAll(this.room.events);
    this.restore(anchor);
    const li = focusId && this.elements.get(focusId);
    if (li) restoreFocus(li, focusPart);
    refocus(active);
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
        if (node.classList?.contains('unread-line')) this.lineShown = false;
        node.remove();
        if (node === headElement) break;
      }
    }
    this.list.prepend(this.renderRange(events.slice(0, head ? count + 1 : count), null, true));
    this.restore(anchor);
    this.quotesFor(events.slice(0, count));
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
    if (this.detached) return; // they belong below the newest messages
    const stick = this.stuck;
    const fragment = document.createDocumentFragment();
    let prev = this.lastRendered;
    for (const item of items) {
      fragment.append(outboxElement(item, {
        continued: continues(prev, item), parent: this.parentOf(item), guestBadges: this.guestBadges,
      }));
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
    if (this.detached) {
      if (this.scroller.scrollHeight - top - this.scroller.clientHeight < topSlack && this.room?.hasNewer) this.onNeedNewer();
    } else if (this.atBottom()) {
      this.stuck = true;
      this.onBottom();
    } else if (top < this.lastTop) this.stuck = false;
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
    if (this.detached) {
      this.onLeaveDetached(); // shows the room's newest messages, at the bottom
      return;
    }
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.lastTop = this.scroller.scrollTop;
    this.stuck = true;
    this.unseen = 0;
    this.updatePill();
    this.onBottom();
  }

  updatePill() {
    const count = this.unseen === 1 ? '1 new message' : `${formatNumber(this.unseen)} new messages`;
    if (this.detached) { // always the way back while reading older history
      this.pill.hidden = false;
      this.pill.textContent = this.unseen ? `${count} · Jump to newest ↓` : 'Jump to newest ↓';
      return;
    }
    this.pill.hidden = this.unseen === 0;
    this.pill.textContent = `${count} ↓`;
  }
}

// lineElement is the "new messages" line.
function lineElement() {
  const li = document.createElement('li');
  li.className = 'unread-line';
  li.setAttribute('role', 'separator');
  const label = document.createElement('span');
  label.textContent = 'New messages';
  li.append(label);
  return li;
}

// focusKey names the focused control inside a message's <li> so a redraw
// can focus its successor: "" for the <li> itself, null if focus is
// elsewhere.
function focusKey(li) {
  const active = document.activeElement;
  if (!li.contains(active)) return null;
  if (active === li) return '';
  const control = active.closest('[data-action]');
  if (!control || !li.contains(control)) return null; // the editor or picker keeps its own focus
  return `${control.dataset.action} ${control.dataset.emoji ?? ''}`;
}

function restoreFocus(li, key) {
  if (key === null || li.contains(document.activeElement)) return;
  const target = [...li.querySelectorAll('[data-action]')]
    .find((b) => `${b.dataset.action} ${b.dataset.emoji ?? ''}` === key);
  if (target) {
    target.focus({ preventScroll: true });
  } else {
    li.tabIndex = -1;
    li.focus({ preventScroll: true });
  }
}

// refocus gives focus back to a control that a redraw moved (the editor's
// text box, say): moving a node out of the document blurs it.
function refocus(active) {
  if (active instanceof HTMLElement && active !== document.activeElement && active.isConnected) {
    active.focus({ preventScroll: true });
  }
}
