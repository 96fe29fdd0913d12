// A safe subset of Markdown for message text: **bold**, *italic* (and
// _italic_, __bold__), ~~strike~~, `code`, fenced code blocks, > quotes,
// - lists and 1. lists; line breaks stay as typed. It builds DOM nodes:
// text only ever reaches the page as text nodes, and links only through
// linkify (http and https). The HTML export renders the same subset on the
// server (api/markdown.go); the two follow the same rules, step by step.

import { urlAt } from './format.js';

// Quotes nest at most this deep; deeper markers stay text.
const maxDepth = 3;

const fence = /^ {0,3}```/;
const quoteLine = /^ {0,3}> ?/;
const bulletLine = /^ {0,3}[-*+] +(?=\S)/;
const numberLine = /^ {0,3}(\d{1,9})[.)] +(?=\S)/;

/**
 * renderMarkdown returns the nodes of text: a single paragraph as inline
 * nodes (so it can sit in a line with an "edited" mark), anything else as
 * block elements. inline(text) renders a run of plain text (linkify).
 */
export function renderMarkdown(text, inline) {
  const blocks = parseBlocks(text.replace(/\r\n?/g, '\n').split('\n'), 0);
  if (blocks.length === 1 && blocks[0].type === 'p') return { block: false, nodes: inlineNodes(blocks[0].text, inline) };
  return { block: true, nodes: blocks.map((b) => blockNode(b, inline)) };
}

// parseBlocks cuts lines into blocks: {type: 'code'|'quote'|'ul'|'ol'|'p'}.
export function parseBlocks(lines, depth) {
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
    } else if (fence.test(line)) {
      const body = [];
      for (i++; i < lines.length && !/^ {0,3}```\s*$/.test(lines[i]); i++) body.push(lines[i]);
      i++; // the closing fence, or the end
      blocks.push({ type: 'code', text: body.join('\n') });
    } else if (depth < maxDepth && quoteLine.test(line)) {
      const inner = [];
      for (; i < lines.length && quoteLine.test(lines[i]); i++) inner.push(lines[i].replace(quoteLine, ''));
      blocks.push({ type: 'quote', children: parseBlocks(inner, depth + 1) });
    } else if (bulletLine.test(line) || numberLine.test(line)) {
      const ordered = numberLine.test(line);
      const pattern = ordered ? numberLine : bulletLine;
      const items = [];
      for (; i < lines.length && pattern.test(lines[i]); i++) items.push(lines[i].replace(pattern, ''));
      const start = ordered ? Number(line.match(numberLine)[1]) : 1;
      blocks.push({ type: ordered ? 'ol' : 'ul', items, start });
    } else {
      const para = [];
      for (; i < lines.length && !startsBlock(lines[i], depth); i++) para.push(lines[i]);
      while (para.length && !para[para.length - 1].trim()) para.pop();
      blocks.push({ type: 'p', text: para.join('\n') });
    }
  }
  return blocks;
}

// startsBlock is true for a line that ends a paragraph: the start of
// another kind of block. Blank lines stay in the paragraph, as typed.
function startsBlock(line, depth) {
  return fence.test(line) || (depth < maxDepth && quoteLine.test(line)) || bulletLine.test(line) || numberLine.test(line);
}

function blockNode(b, inline) {
  switch (b.type) {
    case 'code': return codeBlock(b.text);
    case 'quote': {
      const q = document.createElement('blockquote');
      q.className = 'md-quote';
      q.append(...b.children.map((c) => blockNode(c, inline)));
      return q;
    }
    case 'ul':
    case 'ol': {
      const list = document.createElement(b.type);
      list.className = 'md-list';
      if (b.type === 'ol' && b.start !== 1) list.start = b.start;
      for (const item of b.items) {
        const li = document.createElement('li');
        li.append(...inlineNodes(item, inline));
        list.append(li);
      }
      return list;
    }
    default: {
      const p = document.createElement('p');
      p.append(...inlineNodes(b.text, inline));
      return p;
    }
  }
}

// codeBlock is a scrolling monospace block with a button that copies it.
function codeBlock(text) {
  const wrap = document.createElement('div');
  wrap.className = 'md-code';
  const pre = document.createElement('pre');
  const code = document.createElement('code');
  code.textContent = text;
  pre.tabIndex = 0; // scrollable by keyboard
  pre.append(code);
  const copy = document.createElement('button');
  copy.type = 'button';
  copy.className = 'md-copy';
  copy.textContent = 'Copy';
  copy.setAttribute('aria-label', 'Copy code');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      copy.textContent = 'Copied';
    } catch {
      copy.textContent = 'Copy failed';
    }
    setTimeout(() => { copy.textContent = 'Copy'; }, 1500);
  });
  wrap.append(pre, copy);
  return wrap;
}

// Inline delimiters, longest first, and the element each makes.
const delimiters = [['**', 'strong'], ['__', 'strong'], ['~~', 'del'], ['*', 'em'], ['_', 'em']];

const isSpace = (c) => c === undefined || c === ' ' || c === '\t' || c === '\n';
const isAlnum = (c) => c !== undefined && /^[A-Za-z0-9]$/.test(c);
const isPunct = (c) => c !== undefined && /^[!-/:-@[-`{-~]$/.test(c);

// Emphasis nests at most this deep; deeper delimiters stay text.
const maxNesting = 8;

/** inlineNodes renders one block's text: emphasis, code spans, escapes. */
export function inlineNodes(s, inline, depth = 0) {
  const out = [];
  let text = '';
  // A delimiter that found no close from one place finds none from any
  // later one: remember, so hostile text costs linear time.
  const unclosed = new Set();
  const flush = () => {
    if (text) out.push(inline(text));
    text = '';
  };
  for (let i = 0; i < s.length;) {
    const c = s[i];
    if (c === '\\' && isPunct(s[i + 1])) {
      text += s[i + 1];
      i += 2;
      continue;
    }
    const url = (c === 'h' || c === 'H') && urlAt(s, i);
    if (url) { // a URL is never formatting: linkify takes it whole
      text += url;
      i += url.length;
      continue;
    }
    if (c === '`') {
      const n = runLength(s, i, '`');
      const close = unclosed.has(n) ? -1 : findTicks(s, i + n, n);
      if (close < 0) unclosed.add(n);
      if (close >= 0) {
        flush();
        const code = document.createElement('code');
        code.className = 'md-inline-code';
        code.textContent = trimCode(s.slice(i + n, close));
        out.push(code);
        i = close + n;
      } else {
        text += s.slice(i, i + n);
        i += n;
      }
      continue;
    }
    const d = depth < maxNesting && delimiters.find(([m]) => s.startsWith(m, i) && !unclosed.has(m) && canOpen(s, i, m));
    const close = d ? findClose(s, i + d[0].length, d[0]) : -1;
    if (d && close < 0) unclosed.add(d[0]);
    if (close < 0) {
      text += c;
      i++;
      continue;
    }
    flush();
    const node = document.createElement(d[1]);
    node.append(...inlineNodes(s.slice(i + d[0].length, close), inline, depth + 1));
    out.push(node);
    i = close + d[0].length;
  }
  flush();
  return out;
}

function runLength(s, i, ch) {
  let n = 0;
  while (s[i + n] === ch) n++;
  return n;
}

// findTicks finds the next run of exactly n backticks at or after i.
function findTicks(s, i, n) {
  for (let j = i; j < s.length;) {
    if (s[j] !== '`') {
      j++;
      continue;
    }
    const m = runLength(s, j, '`');
    if (m === n) return j;
    j += m;
  }
  return -1;
}

// trimCode drops one space on each side of a code span that has both, so
// `` `x` `` can show backticks.
function trimCode(s) {
  return s.length > 2 && s[0] === ' ' && s[s.length - 1] === ' ' ? s.slice(1, -1) : s;
}

// canOpen: a delimiter opens when text follows it; an underscore also only
// at the start of a word (snake_case stays as typed).
function canOpen(s, i, m) {
  if (isSpace(s[i + m.length])) return false;
  return m[0] !== '_' || !isAlnum(s[i - 1]);
}

// findClose finds where delimiter m, opened before i, closes: preceded by
// text, not part of a longer run, an underscore at the end of a word;
// code spans and escapes in between are skipped. -1 if it never closes.
function findClose(s, i, m) {
  for (let j = i + 1; j < s.length; j++) {
    const c = s[j];
    if (c === '\\') {
      j++;
      continue;
    }
    if (c === '`') {
      const n = runLength(s, j, '`');
      const close = findTicks(s, j + n, n);
      j = (close >= 0 ? close + n : j + n) - 1;
      continue;
    }
    if (!s.startsWith(m, j) || isSpace(s[j - 1])) continue;
    if (m.length === 1 && (s[j + 1] === m || s[j - 1] === m)) continue;
    if (m[0] === '_' && isAlnum(s[j + m.length])) continue;
    return j;
  }
  return -1;
}
