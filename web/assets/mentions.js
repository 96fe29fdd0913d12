// Mentions: "@name" in a message, as the server finds them (docs/live.md
// #mentions) and stores them with the message (its mentions field). The
// page highlights the names the server stored, so what is highlighted is
// exactly what counts and notifies. Nodes only: message text never goes
// through HTML.

// The server's syntax: "@" not after a letter, digit or one of _.+-@, then
// a user name; a "." or "-" ending it is punctuation.
const mentionPattern = /(^|[^\p{L}\p{N}_.+\-@])@([a-z0-9][a-z0-9_.-]{0,31})(?![\p{L}\p{N}])/giu;

/** mentionsOf is the lower-case names a message mentions, as the server stored them. */
export function mentionsOf(message) {
  return Array.isArray(message?.mentions) ? message.mentions.filter((n) => typeof n === 'string') : [];
}

/** mentions is true if message mentions name (a user name; case does not matter). */
export function mentions(message, name) {
  if (!name) return false;
  const lower = name.toLowerCase();
  return mentionsOf(message).includes(lower);
}

/**
 * highlightMentions wraps each "@name" of names in the text nodes of node
 * (a fragment from linkify; link text is left alone) in
 * <span class="mention">, with "mention-me" when it is me.
 */
export function highlightMentions(node, names, me = '') {
  if (!names.length) return node;
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const mine = me.toLowerCase();
  for (const text of [...node.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE)) {
    const parts = split(text.data, wanted, mine);
    if (parts) text.replaceWith(...parts);
  }
  return node;
}

// split returns text cut into strings and mention spans, or null if it
// mentions none of wanted.
function split(data, wanted, mine) {
  const out = [];
  let last = 0;
  for (const m of data.matchAll(mentionPattern)) {
    const name = m[2].replace(/[.-]+$/, '');
    if (!wanted.has(name.toLowerCase())) continue;
    const start = m.index + m[1].length;
    if (start > last) out.push(data.slice(last, start));
    const span = document.createElement('span');
    span.className = name.toLowerCase() === mine ? 'mention mention-me' : 'mention';
    span.textContent = `@${name}`;
    out.push(span);
    last = start + 1 + name.length;
  }
  if (!out.length) return null;
  if (last < data.length) out.push(data.slice(last));
  return out;
}
