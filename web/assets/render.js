// DOM for messages and day separators. Message data only ever reaches the
// page through textContent, text nodes and checked link hrefs.

import { dayKey, dayLabel, fullTime, linkify, shortTime } from './format.js';

// Messages from one author closer together than this share one header.
const groupGap = 5 * 60 * 1000;
const hues = 12;

/** continues is true when b can sit under a's header without its own. */
export function continues(a, b) {
  if (!a || a.author !== b.author) return false;
  const da = new Date(a.time);
  const db = new Date(b.time);
  return dayKey(da) === dayKey(db) && db - da >= 0 && db - da < groupGap;
}

/** sameDay is true when a and b fall on the same local calendar day. */
export function sameDay(a, b) {
  return Boolean(a) && dayKey(new Date(a.time)) === dayKey(new Date(b.time));
}

/** hueClass picks a stable colour class for an author's avatar. */
export function hueClass(name) {
  let h = 0x811c9dc5; // FNV-1a
  for (const ch of name) h = Math.imul(h ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return `hue-${h % hues}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeElement(date, className) {
  const time = el('time', className, shortTime(date));
  time.dateTime = date.toISOString();
  time.title = fullTime(date);
  return time;
}

/** dayElement is the separator that starts the day of event. */
export function dayElement(event) {
  const date = new Date(event.time);
  const li = el('li', 'day');
  li.dataset.day = dayKey(date);
  li.append(el('h2', 'day-label', dayLabel(date)));
  return li;
}

/**
 * messageElement renders one message. continued drops the author header
 * under the previous message of the same author; mine marks the reader's.
 */
export function messageElement(message, { continued = false, mine = false } = {}) {
  const date = new Date(message.time);
  const li = el('li', 'msg');
  if (message.id) li.dataset.id = message.id;
  li.dataset.author = message.author;
  li.classList.toggle('continued', continued);
  li.classList.toggle('mine', mine);

  const gutter = el('div', 'msg-gutter');
  if (continued) {
    gutter.append(timeElement(date, 'msg-gutter-time'));
  } else {
    const avatar = el('span', `avatar ${hueClass(message.author)}`, initial(message.author));
    avatar.setAttribute('aria-hidden', 'true');
    gutter.append(avatar);
  }

  const body = el('div', 'msg-body');
  if (!continued) {
    const head = el('div', 'msg-head');
    head.append(el('span', 'msg-author', message.author), ' ', timeElement(date, 'msg-time'));
    body.append(head);
  } else {
    // Screen readers still hear who wrote a grouped message.
    body.append(el('span', 'visually-hidden', `${message.author}: `));
  }
  const text = el('p', 'msg-text');
  text.append(linkify(message.text ?? ''));
  body.append(text);
  li.append(gutter, body);
  return li;
}

function initial(name) {
  const first = [...name.trim()][0];
  return first ? first.toUpperCase() : '?';
}

/**
 * outboxElement renders a message the reader sent that the stream has not
 * delivered yet, with its state and, once failed, Retry and Discard.
 */
export function outboxElement(item, { continued }) {
  const li = messageElement(item, { continued, mine: true });
  li.classList.add('outgoing');
  li.dataset.clientId = item.clientId;
  li.dataset.state = item.state;
  const status = el('div', 'msg-status');
  if (item.state === 'failed') {
    status.append(el('span', 'msg-error', item.error ? `Not sent: ${item.error}` : 'Not sent.'), ' ');
    const retry = el('button', 'retry link-button', 'Retry');
    retry.type = 'button';
    retry.dataset.action = 'retry';
    const discard = el('button', 'discard link-button', 'Discard');
    discard.type = 'button';
    discard.dataset.action = 'discard';
    status.append(retry, ' ', discard);
  } else {
    status.append(el('span', 'msg-state', item.state === 'sent' ? 'Sent' : 'Sending…'));
  }
  li.querySelector('.msg-body').append(status);
  return li;
}
