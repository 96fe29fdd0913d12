// DOM for messages and day separators. Message data only ever reaches the
// page through textContent, text nodes and checked link hrefs (formatting
// too: markdown.js builds elements, never HTML).

import { dayKey, dayLabel, fullTime, linkify, shortTime } from './format.js';
import { messageHref } from './jump.js';
import { renderMarkdown } from './markdown.js';
import { highlightMentions, mentions, mentionsOf } from './mentions.js';
import { filesElement } from './viewer.js';

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

// A guest's name under access control: the name they chose and a suffix
// with a number from the second guest of that name in the room on, "Bob
// (guest)", "Bob (guest 2)". The server never gives one twice in a room.
const guestRE = /^(.+) \(guest(?: ([1-9][0-9]*))?\)$/;

/**
 * guestParts splits a guest's name into the name they chose, the suffix
 * and the badge that shows it ("guest", "guest 2"); null for anyone else.
 */
export function guestParts(name) {
  const m = guestRE.exec(name);
  if (!m) return null;
  return { chosen: m[1], suffix: name.slice(m[1].length), badge: m[2] ? `guest ${m[2]}` : 'guest' };
}

/** isGuest is true for the name of a guest (under access control). */
export function isGuest(name) {
  return guestParts(name) !== null;
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

// userText is an element holding text a user chose (a name, a message):
// isolated, with its own direction, so neither right-to-left script nor
// bidi controls in it can reorder what is around it.
function userText(tag, className, text) {
  const node = el(tag, className, text);
  node.dir = 'auto';
  return node;
}

function timeElement(date, className) {
  const time = el('time', className, shortTime(date));
  time.dateTime = date.toISOString();
  time.title = fullTime(date);
  return time;
}

// permalink wraps node in a link to message (its time, say), which the page
// opens in place (jump.js) and a reader can copy.
function permalink(message, node) {
  if (!message.id || !message.room) return node;
  const link = el('a', 'msg-permalink');
  link.href = messageHref(message.room, message.id);
  link.dataset.jump = message.id;
  link.dataset.room = message.room;
  link.append(node);
  return link;
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
 * messageElement renders one message in its current state. continued drops
 * the author header under the previous message of the same author; mine
 * marks the reader's; me is the reader's name, to mark their reactions;
 * parent is the message it replies to (null if not loaded); actions adds
 * the buttons to react, reply, and for mine, edit and delete; guestBadges
 * marks guests' names with a "guest" badge (only under access control,
 * where nobody else can have such a name).
 */
export function messageElement(message, {
  continued = false, mine = false, me = '', parent = null, actions = false, guestBadges = false,
} = {}) {
  const date = new Date(message.time);
  const li = el('li', 'msg');
  if (message.id) li.dataset.id = message.id;
  li.dataset.author = message.author;
  li.classList.toggle('continued', continued);
  li.classList.toggle('mine', mine);
  li.classList.toggle('mentions-me', !mine && mentions(message, me));
  li.classList.toggle('deleted', Boolean(message.redacted));
  li.classList.toggle('from-guest', guestBadges && isGuest(message.author));

  const gutter = el('div', 'msg-gutter');
  if (continued) {
    gutter.append(permalink(message, timeElement(date, 'msg-gutter-time')));
  } else {
    const avatar = el('span', `avatar ${hueClass(message.author)}`, initial(message.author));
    avatar.setAttribute('aria-hidden', 'true');
    gutter.append(avatar);
  }

  const body = el('div', 'msg-body');
  if (!continued) {
    const head = el('div', 'msg-head');
    head.append(...authorElements(message.author, guestBadges), ' ', permalink(message, timeElement(date, 'msg-time')));
    body.append(head);
  } else {
    // Screen readers still hear who wrote a grouped message.
    body.append(el('span', 'visually-hidden', `${message.author}: `));
  }
  if (message.reply_to) {
    li.dataset.replyTo = message.reply_to;
    body.append(quoteElement(parent, message));
  }
  body.append(lineElement(message, me));
  if (message.files?.length && !message.redacted) body.append(filesElement(message));
  if (message.reactions?.length) body.append(reactionsElement(message.reactions, me));
  li.append(gutter, body);
  if (actions && message.id && !message.redacted) li.append(actionsElement(mine));
  return li;
}

// authorElements shows an author's name; a guest's as "Bob" and a badge,
// "guest" or "guest 2", which tells two guests of one name apart, with the
// full name still the text of .msg-author for screen readers.
function authorElements(author, guestBadges) {
  const guest = guestBadges ? guestParts(author) : null;
  if (!guest) return [userText('span', 'msg-author', author)];
  const name = userText('span', 'msg-author', guest.chosen);
  name.append(el('span', 'visually-hidden', guest.suffix));
  const badge = el('span', 'guest-badge', guest.badge);
  badge.setAttribute('aria-hidden', 'true');
  badge.title = 'A guest from an invite link';
  return [name, badge];
}

/**
 * lineElement is a message's text with its "edited" mark, or its
 * tombstone; the names it mentions are highlighted, me's most.
 */
export function lineElement(message, me = '') {
  const line = el('div', 'msg-line');
  if (message.redacted) {
    line.append(el('p', 'msg-text msg-tombstone', 'message deleted'));
    return line;
  }
  // Formatting (markdown.js): one paragraph stays inline, in a <p>, so the
  // "edited" mark follows it; anything with blocks is a <div> of them.
  // User text is isolated (dir="auto") so it cannot reorder the page.
  const names = mentionsOf(message);
  const inline = names.length ? (t) => highlightMentions(linkify(t), names, me) : linkify;
  const { block, nodes } = renderMarkdown(message.text ?? '', inline);
  const text = userText(block ? 'div' : 'p', block ? 'msg-text md-blocks' : 'msg-text');
  text.append(...nodes);
  line.append(text);
  if (message.edited_at) {
    const mark = el('span', 'msg-edited', '(edited)');
    const when = new Date(message.edited_at);
    if (!Number.isNaN(when.getTime())) mark.title = `Edited ${fullTime(when)}`;
    line.append(' ', mark);
  }
  return line;
}

/** firstLine is the start of a message's text, for quotes. */
export function firstLine(message) {
  if (message.redacted) return 'message deleted';
  const line = (message.text ?? '').trim().split('\n', 1)[0];
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

// quoteElement shows the message a reply answers: its author and first
// line, a button that goes to it; or, when it is not loaded, a link that
// loads it (a permalink).
function quoteElement(parent, reply) {
  if (!parent) {
    const missing = permalink({ id: reply.reply_to, room: reply.room }, el('span', 'quote-text', 'original message not loaded'));
    missing.classList.add('msg-quote', 'missing');
    missing.setAttribute('aria-label', 'Original message not loaded. Show it.');
    return missing;
  }
  const quote = el('button', 'msg-quote');
  quote.type = 'button';
  quote.dataset.action = 'show-parent';
  quote.dataset.target = parent.id;
  quote.classList.toggle('deleted', Boolean(parent.redacted));
  const line = firstLine(parent);
  quote.setAttribute('aria-label', `Reply to ${parent.author}: ${line}. Go to the original message.`);
  quote.append(userText('span', 'quote-author', parent.author), ' ', userText('span', 'quote-text', line));
  return quote;
}

// How many names a reaction's tooltip lists.
const namesShown = 10;

function reactionsElement(reactions, me) {
  const group = el('div', 'msg-reactions');
  group.setAttribute('role', 'group');
  group.setAttribute('aria-label', 'Reactions');
  for (const r of reactions) {
    const button = el('button', 'reaction');
    button.type = 'button';
    button.dataset.action = 'toggle-reaction';
    button.dataset.emoji = r.emoji;
    const pressed = Boolean(me) && r.authors.includes(me);
    button.setAttribute('aria-pressed', String(pressed));
    let names = r.authors.slice(0, namesShown).join(', ');
    if (r.count > namesShown) names += ` and ${r.count - namesShown} more`;
    button.title = names;
    button.setAttribute('aria-label', `${r.emoji} ${r.count}: ${names}`);
    button.append(el('span', 'reaction-emoji', r.emoji), el('span', 'reaction-count', String(r.count)));
    group.append(button);
  }
  return group;
}

function actionsElement(mine) {
  const bar = el('div', 'msg-actions');
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', 'Message actions');
  const actions = [['react', 'React'], ['reply', 'Reply']];
  if (mine) actions.push(['edit', 'Edit'], ['delete', 'Delete']);
  for (const [action, label] of actions) {
    const button = el('button', `msg-action ${action}`, label);
    button.type = 'button';
    button.dataset.action = action;
    bar.append(button);
  }
  bar.firstChild.setAttribute('aria-haspopup', 'true');
  bar.firstChild.setAttribute('aria-expanded', 'false');
  return bar;
}

function initial(name) {
  const first = [...name.trim()][0];
  return first ? first.toUpperCase() : '?';
}

/**
 * outboxElement renders a message the reader sent that the stream has not
 * delivered yet, with its state and, once failed, Retry and Discard.
 */
export function outboxElement(item, { continued, parent = null, guestBadges = false }) {
  const li = messageElement(item, { continued, mine: true, parent, guestBadges });
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
