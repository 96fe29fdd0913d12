// The HTTP API of the Parley server. Every function returns decoded JSON or
// throws an ApiError; nothing here touches the DOM.

/**
 * ApiError is a failed request: status 0 means the server was not reached.
 * retryAfter is the server's Retry-After in seconds, or 0.
 */
export class ApiError extends Error {
  constructor(status, message, retryAfter = 0) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfter = retryAfter;
  }

  /** retryable is true when trying the same request again may succeed. */
  get retryable() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** roomPattern is the server's rule for room names. */
export const roomPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const defaultTimeout = 15000;

// Under access control the server names a message's author itself; bodies
// then leave author out (naming anyone, even oneself, is not needed).
let serverAuthor = false;
let unauthorized = null;

/**
 * useAccessControl makes requests leave author out, and calls
 * onUnauthorized() whenever the server answers 401: the session has ended.
 */
export function useAccessControl(onUnauthorized) {
  serverAuthor = true;
  unauthorized = onUnauthorized;
}

/**
 * sessionEnded tells the page its session has ended, for a 401 answered to
 * a request made outside this module (an upload's XMLHttpRequest).
 */
export function sessionEnded() {
  unauthorized?.();
}

function authorField(author) {
  return serverAuthor ? undefined : author;
}

// request sends one call. expect401 is for calls whose 401 is an answer to
// the caller (a wrong password, "not signed in"), not an ended session.
async function request(path, {
  method = 'GET', body, timeout = defaultTimeout, expect401 = false,
} = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      cache: 'no-store',
    });
  } catch (err) {
    const timedOut = controller.signal.aborted;
    throw new ApiError(0, timedOut ? 'The server took too long to answer.' : 'Could not reach the server.');
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // A proxy error page or an empty body: fall through to the status.
  }
  if (!response.ok) {
    const message = data && typeof data.error === 'string' ? data.error : `The server answered ${response.status}.`;
    if (response.status === 401 && !expect401) unauthorized?.();
    throw new ApiError(response.status, message, retryAfter(response.headers.get('Retry-After')));
  }
  return data;
}

// retryAfter reads a Retry-After header, seconds or a date, as seconds.
function retryAfter(header) {
  if (!header) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(header);
  return Number.isNaN(date) ? 0 : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function roomPath(room) {
  return `/api/rooms/${encodeURIComponent(room)}`;
}

/**
 * getConfig returns the server's settings: {auth: "on"|"none", setup,
 * max_message_bytes, …}. setup is true while no admin exists.
 */
export function getConfig() {
  return request('/api/config');
}

// ---- Identity (servers with access control) ----

/**
 * getMe returns who the browser is signed in as: {name, role} and, for a
 * guest, room. It throws an ApiError with status 401 when nobody is.
 */
export function getMe() {
  return request('/api/me', { expect401: true });
}

/** login starts a session for a user; a wrong password is a 401. */
export function login(name, password) {
  return request('/api/login', { method: 'POST', body: { name, password }, expect401: true });
}

/** setup creates the first admin with the server's one-time setup token. */
export function setup(token, name, password) {
  return request('/api/setup', { method: 'POST', body: { token, name, password }, expect401: true });
}

/** logout ends the session on the server. */
export function logout() {
  return request('/api/logout', { method: 'POST', expect401: true });
}

/**
 * join redeems the invite code for a guest session in its room and returns
 * {name, role, room}. An unusable invite is a 404.
 */
export function join(code, name) {
  return request(`/api/join/${encodeURIComponent(code)}`, { method: 'POST', body: { name }, expect401: true });
}

/**
 * createInvite makes a guest link to room with the server's defaults and
 * returns it: {id, code, url, room, expires, max_uses, …}; url is a path.
 */
export function createInvite(room) {
  return request(`${roomPath(room)}/invites`, { method: 'POST', body: {} });
}

/**
 * listRooms returns [{name, events, messages, last_id}] for every room,
 * and for a caller who is someone (signed in, or author without access
 * control) their read marker and counts: read, unread, mentions.
 */
export async function listRooms(author) {
  const who = author && !serverAuthor ? `?author=${encodeURIComponent(author)}` : '';
  const data = await request(`/api/rooms${who}`);
  return Array.isArray(data?.rooms) ? data.rooms : [];
}

/**
 * getMessages returns events of room in ascending id order: the newest
 * `limit` by default, or those just before `before`, or just after `after`,
 * or the page centred on message `around`.
 */
export async function getMessages(room, {
  before, after, around, limit,
} = {}) {
  const query = new URLSearchParams();
  if (before) query.set('before', before);
  if (after) query.set('after', after);
  if (around) query.set('around', around);
  if (limit) query.set('limit', String(limit));
  const qs = query.toString();
  const data = await request(`${roomPath(room)}/messages${qs ? `?${qs}` : ''}`);
  return Array.isArray(data?.events) ? data.events : [];
}

/**
 * searchMessages returns {results: [{event, highlights}], next} for query
 * q in every room the reader may read (GET /api/search); highlights are
 * [start, end) indices of event.text; next, if set, is the before of the
 * next page.
 */
export function searchMessages(q, { before, limit } = {}) {
  const query = new URLSearchParams({ q });
  if (before) query.set('before', before);
  if (limit) query.set('limit', String(limit));
  return request(`/api/search?${query}`);
}

/**
 * postMessage stores a message and returns its event. Sending the same
 * client_id again returns the original event, so a retry never duplicates.
 * replyTo, if set, is the id of the message in room it answers.
 */
export function postMessage(room, {
  author, text, clientId, replyTo, files,
}, { timeout } = {}) {
  const body = { author: authorField(author), text, client_id: clientId };
  if (replyTo) body.reply_to = replyTo;
  if (files?.length) body.files = files;
  return request(`${roomPath(room)}/messages`, { method: 'POST', body, timeout });
}

/** uploadURL is where a file named name is uploaded to room (upload.js). */
export function uploadURL(room, name, author) {
  const q = new URLSearchParams({ name });
  if (!serverAuthor && author) q.set('author', author);
  return `${roomPath(room)}/files?${q}`;
}

/**
 * hasUpload reports whether the server still holds upload id of room for
 * the reader (a file waiting for its message, or one already attached):
 * false on a 404; any other failure throws.
 */
export async function hasUpload(room, id) {
  try {
    await request(`${roomPath(room)}/files/${encodeURIComponent(id)}`, { method: 'HEAD' });
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return false;
    throw err;
  }
}

function messagePath(room, id) {
  return `${roomPath(room)}/messages/${encodeURIComponent(id)}`;
}

// The calls below change a stored message. Each returns the new event (an
// edit, delete or reaction) or, when there was nothing to change, the
// message's current state (type "message"); the page applies either.

/** editMessage replaces the text of author's message id. */
export function editMessage(room, id, { author, text }) {
  return request(messagePath(room, id), { method: 'PATCH', body: { author: authorField(author), text } });
}

/** deleteMessage deletes author's message id; only a tombstone remains. */
export function deleteMessage(room, id, { author }) {
  return request(messagePath(room, id), { method: 'DELETE', body: { author: authorField(author) } });
}

/** addReaction adds author's emoji to message id. */
export function addReaction(room, id, { author, emoji }) {
  return request(`${messagePath(room, id)}/reactions`, { method: 'POST', body: { author: authorField(author), emoji } });
}

/** removeReaction takes author's emoji off message id. */
export function removeReaction(room, id, { author, emoji }) {
  return request(`${messagePath(room, id)}/reactions/${encodeURIComponent(emoji)}`, {
    method: 'DELETE', body: { author: authorField(author) },
  });
}

/** exportURL is where the room's whole history downloads from. */
export function exportURL(room) {
  return `${roomPath(room)}/export?format=jsonl`;
}

/**
 * eventsURL is the one stream for all of rooms, resuming after cursor, as
 * author (without access control: who presence shows) keeping connection
 * (an id a hello gave) if set.
 */
export function eventsURL(rooms, cursor, { author, connection } = {}) {
  const query = new URLSearchParams({ rooms: rooms.join(',') });
  if (cursor) query.set('last_event_id', cursor);
  if (author && !serverAuthor) query.set('author', author);
  if (connection) query.set('connection', connection);
  return `/api/events?${query.toString().replaceAll('%2C', ',')}`;
}

// ---- Live: typing and read markers (docs/live.md) ----

/** sendTyping says author is typing in room, or stopped (stop). */
export function sendTyping(room, author, stop = false) {
  const body = { author: authorField(author) };
  if (stop) body.stop = true;
  return request(`${roomPath(room)}/typing`, { method: 'POST', body });
}

/**
 * putRead moves author's read marker in room to id (never back) and
 * returns {room, id, unread, mentions}.
 */
export function putRead(room, author, id) {
  return request(`${roomPath(room)}/read`, { method: 'PUT', body: { author: authorField(author), id } });
}

/**
 * sendSignal delivers a call signal ({from, to, kind, payload}) to one
 * connection of room (docs/live.md). A recipient that is gone is a 404.
 * keepalive lets a hang-up leave with a closing page.
 */
export function sendSignal(room, { author, from, to, kind, payload }, { keepalive = false } = {}) {
  const body = { author: authorField(author), from, to, kind, payload };
  if (keepalive) {
    return fetch(`${roomPath(room)}/signal`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), keepalive: true,
    }).catch(() => {});
  }
  return request(`${roomPath(room)}/signal`, { method: 'POST', body });
}
