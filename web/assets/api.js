// The HTTP API of the Parley server. Every function returns decoded JSON or
// throws an ApiError; nothing here touches the DOM.

/** ApiError is a failed request: status 0 means the server was not reached. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }

  /** retryable is true when trying the same request again may succeed. */
  get retryable() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** roomPattern is the server's rule for room names. */
export const roomPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** maxStreamRooms is how many rooms one event stream may follow. */
export const maxStreamRooms = 100;

const defaultTimeout = 15000;

async function request(path, { method = 'GET', body, timeout = defaultTimeout } = {}) {
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
    throw new ApiError(response.status, message);
  }
  return data;
}

function roomPath(room) {
  return `/api/rooms/${encodeURIComponent(room)}`;
}

/** getConfig returns the server's limits, e.g. {max_message_bytes}. */
export function getConfig() {
  return request('/api/config');
}

/** listRooms returns [{name, events, last_id}] for every room. */
export async function listRooms() {
  const data = await request('/api/rooms');
  return Array.isArray(data?.rooms) ? data.rooms : [];
}

/**
 * getMessages returns events of room in ascending id order: the newest
 * `limit` by default, or those just before `before`, or just after `after`.
 */
export async function getMessages(room, { before, after, limit } = {}) {
  const query = new URLSearchParams();
  if (before) query.set('before', before);
  if (after) query.set('after', after);
  if (limit) query.set('limit', String(limit));
  const qs = query.toString();
  const data = await request(`${roomPath(room)}/messages${qs ? `?${qs}` : ''}`);
  return Array.isArray(data?.events) ? data.events : [];
}

/**
 * postMessage stores a message and returns its event. Sending the same
 * client_id again returns the original event, so a retry never duplicates.
 * replyTo, if set, is the id of the message in room it answers.
 */
export function postMessage(room, { author, text, clientId, replyTo }, { timeout } = {}) {
  const body = { author, text, client_id: clientId };
  if (replyTo) body.reply_to = replyTo;
  return request(`${roomPath(room)}/messages`, { method: 'POST', body, timeout });
}

function messagePath(room, id) {
  return `${roomPath(room)}/messages/${encodeURIComponent(id)}`;
}

// The calls below change a stored message. Each returns the new event (an
// edit, delete or reaction) or, when there was nothing to change, the
// message's current state (type "message"); the page applies either.

/** editMessage replaces the text of author's message id. */
export function editMessage(room, id, { author, text }) {
  return request(messagePath(room, id), { method: 'PATCH', body: { author, text } });
}

/** deleteMessage deletes author's message id; only a tombstone remains. */
export function deleteMessage(room, id, { author }) {
  return request(messagePath(room, id), { method: 'DELETE', body: { author } });
}

/** addReaction adds author's emoji to message id. */
export function addReaction(room, id, { author, emoji }) {
  return request(`${messagePath(room, id)}/reactions`, { method: 'POST', body: { author, emoji } });
}

/** removeReaction takes author's emoji off message id. */
export function removeReaction(room, id, { author, emoji }) {
  return request(`${messagePath(room, id)}/reactions/${encodeURIComponent(emoji)}`, {
    method: 'DELETE', body: { author },
  });
}

/** exportURL is where the room's whole history downloads from. */
export function exportURL(room) {
  return `${roomPath(room)}/export?format=jsonl`;
}

/** eventsURL is the one stream for all of rooms, resuming after cursor. */
export function eventsURL(rooms, cursor) {
  const query = new URLSearchParams({ rooms: rooms.join(',') });
  if (cursor) query.set('last_event_id', cursor);
  return `/api/events?${query.toString().replaceAll('%2C', ',')}`;
}
