// Text and time formatting. Everything here builds DOM nodes or plain
// strings; message text never goes through innerHTML.

const shortTimeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
});
const numberFormat = new Intl.NumberFormat();

/** shortTime gives the local hour and minute, e.g. "20:05". */
export function shortTime(date) {
  return shortTimeFormat.format(date);
}

/** fullTime gives the local date and time to the second, for tooltips. */
export function fullTime(date) {
  return fullTimeFormat.format(date);
}

/** dayKey names the local calendar day of date, e.g. "2026-11-21". */
export function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

/** dayLabel names the local day of date for a day separator. */
export function dayLabel(date, now = new Date()) {
  if (dayKey(date) === dayKey(now)) return 'Today';
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (dayKey(date) === dayKey(yesterday)) return 'Yesterday';
  return dayFormat.format(date);
}

const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
const shortDateFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const relativeUnits = [['minute', 60], ['hour', 24], ['day', 7]];

/**
 * sinceLabel says how long ago date was, briefly: "now", "5 min. ago",
 * "yesterday", then the date.
 */
export function sinceLabel(date, now = new Date()) {
  let value = (now - date) / 60000; // minutes
  if (value < 1) return 'now';
  for (const [unit, next] of relativeUnits) {
    if (value < next) return relativeFormat.format(-Math.floor(value), unit);
    value /= next;
  }
  return shortDateFormat.format(date);
}

/** formatNumber groups digits the local way: 16384 → "16,384". */
export function formatNumber(n) {
  return numberFormat.format(n);
}

const encoder = new TextEncoder();

/** byteLength is the length of text in UTF-8 bytes, as the server counts. */
export function byteLength(text) {
  return encoder.encode(text).length;
}

// A URL starts at http:// or https:// that does not follow a letter or
// digit, and runs to whitespace or a character that cannot end a URL in
// running text. Only these two schemes ever become links.
const urlPattern = /(?<![\p{L}\p{N}])https?:\/\/[^\s<>"`{}|\\^]+/giu;
const trailing = /[.,;:!?'*_~]+$/u;

/**
 * linkify turns text into a fragment of text nodes and links. Links point
 * only at http or https URLs and open with rel="noopener noreferrer".
 */
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(urlPattern)) {
    const candidate = trimURL(match[0]);
    const url = safeURL(candidate);
    if (!url) continue;
    if (match.index > last) fragment.append(text.slice(last, match.index));
    const link = document.createElement('a');
    link.href = url;
    link.textContent = candidate;
    link.rel = 'noopener noreferrer';
    link.target = '_blank';
    fragment.append(link);
    last = match.index + candidate.length;
  }
  if (last < text.length) fragment.append(text.slice(last));
  return fragment;
}

const urlAtPattern = /https?:\/\/[^\s<>"`{}|\\^]+/iuy;

/**
 * urlAt returns the URL that linkify would make a link of at index i of
 * text (trailing punctuation trimmed), or '' if none starts there, so
 * formatting can leave URLs whole.
 */
export function urlAt(text, i) {
  if (i > 0 && /[\p{L}\p{N}]/u.test(text[i - 1])) return '';
  urlAtPattern.lastIndex = i;
  const match = urlAtPattern.exec(text);
  return match ? trimURL(match[0]) : '';
}

// trimURL drops punctuation that ends a sentence rather than the URL, and a
// closing bracket that has no opening partner inside the URL.
function trimURL(s) {
  for (;;) {
    const before = s;
    s = s.replace(trailing, '');
    for (const [open, close] of [['(', ')'], ['[', ']']]) {
      if (s.endsWith(close) && count(s, close) > count(s, open)) s = s.slice(0, -1);
    }
    if (s === before) return s;
  }
}

function count(s, ch) {
  return s.split(ch).length - 1;
}

function safeURL(s) {
  try {
    const url = new URL(s);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return '';
    if (!url.hostname) return '';
    return url.href;
  } catch {
    return '';
  }
}
