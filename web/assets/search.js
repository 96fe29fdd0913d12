// Search: the box at the top of the room list finds messages in every room
// the reader may read (GET /api/search), newest first, as you type. Each
// result is a permalink with data-jump, so the Jumper (jump.js) opens its
// room at the message, highlighted. Text is put in with textContent and
// <mark> elements only, never as HTML.

import * as api from './api.js';
import { messageHref } from './jump.js';

const typingDelay = 300; // ms after the last keystroke before searching
const pageSize = 20;

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/**
 * Search runs the search box. els: form, input, panel (shown while there
 * is a query), status, results (an <ol>), more (a button for the next
 * page). onOpen is called when a result is chosen.
 */
export class Search {
  constructor(els, { onOpen = () => {} } = {}) {
    Object.assign(this, els, { onOpen });
    this.seq = 0; // the latest search started: older answers are dropped
    this.next = '';
    this.timer = 0;
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.run(); });
    this.input.addEventListener('input', () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run(), typingDelay);
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.clear();
    });
    this.more.addEventListener('click', () => this.run({ more: true }));
    this.results.addEventListener('click', (e) => {
      if (e.target.closest?.('a[data-jump]')) this.onOpen();
    });
  }

  /** clear empties the box and hides the results. */
  clear() {
    clearTimeout(this.timer);
    this.seq++;
    this.input.value = '';
    this.panel.hidden = true;
    this.results.replaceChildren();
  }

  // run searches for the box's text: a first page, or the next one.
  async run({ more = false } = {}) {
    clearTimeout(this.timer);
    const q = this.input.value.trim();
    const seq = ++this.seq;
    if (!q) {
      this.clear();
      return;
    }
    this.panel.hidden = false;
    this.status.textContent = 'Searching…';
    this.more.hidden = true;
    let page;
    try {
      page = await api.searchMessages(q, { before: more ? this.next : '', limit: pageSize });
    } catch (err) {
      if (seq !== this.seq) return;
      this.status.textContent = err?.status === 400 ? err.message.replace(/^q: /, '') : 'Search failed: ' + (err?.message || 'try again.');
      if (!more) this.results.replaceChildren();
      return;
    }
    if (seq !== this.seq) return;
    if (!more) this.results.replaceChildren();
    for (const r of page.results) this.results.append(resultItem(r));
    this.next = page.next || '';
    this.more.hidden = !this.next;
    const n = this.results.children.length;
    this.status.textContent = n === 0 ? 'No messages found.' : `${n}${this.next ? '+' : ''} message${n === 1 ? '' : 's'} found`;
  }
}

// resultItem is one result: a link to the message with its room, author,
// time and text, the matches marked.
function resultItem({ event, highlights }) {
  const li = document.createElement('li');
  const a = document.createElement('a');
  a.className = 'search-result';
  a.href = messageHref(event.room, event.id);
  a.dataset.jump = event.id;
  a.dataset.room = event.room;
  const head = document.createElement('span');
  head.className = 'search-meta';
  const room = document.createElement('span');
  room.className = 'search-room';
  room.textContent = '#' + event.room;
  const author = document.createElement('span');
  author.className = 'search-author';
  author.dir = 'auto';
  author.textContent = event.author;
  const time = document.createElement('time');
  time.dateTime = event.time;
  time.textContent = timeFormat.format(new Date(event.time));
  head.append(room, author, time);
  const text = document.createElement('span');
  text.className = 'search-text';
  text.dir = 'auto';
  text.append(...marked(event.text || '', highlights || []));
  a.append(head, text);
  li.append(a);
  return li;
}

// marked returns text as nodes, each highlight (UTF-16 [start, end), the
// indices of a JavaScript string) in a <mark>.
export function marked(text, highlights) {
  const out = [];
  let at = 0;
  for (const [start, end] of highlights) {
    if (start < at || end > text.length || start >= end) continue;
    if (start > at) out.push(document.createTextNode(text.slice(at, start)));
    const m = document.createElement('mark');
    m.textContent = text.slice(start, end);
    out.push(m);
    at = end;
  }
  if (at < text.length) out.push(document.createTextNode(text.slice(at)));
  return out;
}
