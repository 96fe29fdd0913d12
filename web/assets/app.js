// Parley's browser client: wires the room store, the event stream and the
// views together, and owns routing (/r/:room, /join/:code), sending, read
// state and, under access control, who the reader is and what they may see.

import * as api from './api.js';
import { Access } from './access.js';
import { Actions } from './actions.js';
import { Announcer } from './announcer.js';
import { AuthView } from './auth.js';
import {
  clearSession, loadSession, prefs, saveSession, setScope,
} from './cache.js';
import { Composer } from './composer.js';
import { InviteDialog } from './invite.js';
import { NamePrompt } from './name.js';
import { Sidebar, normalizeRoom, roomHref } from './sidebar.js';
import { OutboxItem, Store, changeTypes } from './store.js';
import { Stream } from './stream.js';
import { Timeline } from './timeline.js';

const $ = (id) => document.getElementById(id);

const defaultRoom = 'general';
const pageSize = 50;
const sendTimeout = 10000;
const roomsRefresh = 30000;
const pendingRetry = 2000;
const saveDelay = 1000;
const batchDelay = 10; // gather a burst of stream events into one redraw
// The smallest id: a stream that resumes after it replays everything.
const zeroId = '00000000000000000000000000';
const statusLabels = {
  connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline',
};

const store = new Store();
let me = prefs.name;
let active = '';
let cursorKnown = false;
let serverRooms = [];

const timeline = new Timeline({
  scroller: $('scroller'),
  list: $('messages'),
  outbox: $('outbox'),
  pill: $('new-pill'),
  olderButton: $('load-older'),
  historyStatus: $('history-status'),
  me: () => me,
  onNeedOlder: () => loadOlder(store.room(active)),
});

const sidebar = new Sidebar({
  list: $('room-list'),
  others: $('other-rooms'),
  othersHeading: $('other-heading'),
  form: $('room-form'),
  input: $('room-input'),
  error: $('room-error'),
  suggestions: $('room-suggestions'),
  onOpen: (name) => openRoom(name, { push: true, focus: true }),
});

const composer = new Composer({
  form: $('composer'),
  textarea: $('composer-text'),
  button: $('send-button'),
  hint: $('composer-hint'),
  reply: {
    bar: $('reply-bar'), label: $('reply-label'), author: $('reply-author'), text: $('reply-text'), cancel: $('reply-cancel'),
  },
  onSend: sendNew,
  onEditLast: () => actions.editLast(),
  announce: (text) => announcer.say(text),
});

const actions = new Actions({
  list: $('messages'),
  outbox: $('outbox'),
  timeline,
  dialog: {
    dialog: $('delete-dialog'),
    form: $('delete-form'),
    preview: $('delete-preview'),
    error: $('delete-error'),
    cancel: $('delete-cancel'),
    confirm: $('delete-confirm'),
  },
  me: () => me,
  room: () => store.room(active),
  maxBytes: () => composer.maxBytes,
  onResult: applyResult,
  onReply: (message) => {
    composer.setReply(message);
    composer.focus();
  },
  needName: () => namePrompt.open(),
  notify,
  announce: (text) => announcer.say(text),
});

const namePrompt = new NamePrompt({
  dialog: $('name-dialog'),
  form: $('name-form'),
  input: $('name-input'),
  cancel: $('name-cancel'),
  error: $('name-error'),
  onChange: (name) => {
    me = name;
    showName();
    timeline.rerender();
    renderOutbox();
    for (const room of store.rooms.values()) room.countUnread(me);
    renderSidebar();
    composer.focus();
  },
});

const announcer = new Announcer($('announcer'));

const stream = new Stream({
  onEvent: queueEvent,
  onStatus: showStatus,
  onOpen: () => {
    for (const room of store.rooms.values()) loadInitial(room);
    refreshRooms();
  },
  onError: () => access.check(streamRooms()),
});

const access = new Access({
  panel: $('denied'),
  note: $('denied-note'),
  hideWhenDenied: [$('timeline'), $('composer'), $('export-link')],
  invite: $('invite-button'),
  signOut: $('sign-out'),
  onDeny: deny,
  onEnd: ({ signedOut, note }) => {
    if (signedOut) clearSession();
    else save();
    stream.stop();
    for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
    authView.showSignIn({ note });
  },
  onOpen: (name) => openRoom(name, { push: true, focus: true }),
  notify,
});

const authView = new AuthView({
  root: $('auth'),
  app: $('app'),
  signInForm: $('signin-form'),
  setupForm: $('setup-form'),
  joinForm: $('join-form'),
  onSignedIn: signedIn,
  onJoined: (who) => location.replace(roomHref(who.room)),
});

const invite = new InviteDialog({
  dialog: $('invite-dialog'),
  title: $('invite-title'),
  note: $('invite-note'),
  link: $('invite-link'),
  copy: $('invite-copy'),
  status: $('invite-status'),
  error: $('invite-error'),
});

// ---- Rooms -----------------------------------------------------------------

function routeRoom() {
  const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  if (!match) return '';
  try {
    return normalizeRoom(decodeURIComponent(match[1]));
  } catch {
    return '';
  }
}

function routeJoin() {
  const match = location.pathname.match(/^\/join\/([^/]+)\/?$/);
  try {
    return match ? decodeURIComponent(match[1]) : '';
  } catch {
    return '';
  }
}

// streamRooms are the followed rooms the stream may carry: under access
// control, not those the reader may not read (one would make the whole
// stream 403) nor new ones until their history shows they may.
function streamRooms() {
  return [...store.rooms.values()].filter((r) => !r.denied && !r.pending).map((r) => r.name);
}

function saveRooms() {
  prefs.rooms = [...store.rooms.values()].filter((r) => !r.denied).map((r) => r.name);
}

/** openRoom shows a room, following it first if it is new to the reader. */
function openRoom(name, { push = false, focus = false } = {}) {
  const previous = store.rooms.get(active);
  if (!store.rooms.has(name)) {
    if (store.rooms.size >= api.maxStreamRooms) {
      sidebar.showError(`You can follow at most ${api.maxStreamRooms} rooms. Leave one first.`);
      return;
    }
    const room = store.room(name);
    // A guest sees one room: any other is shown as out of reach without
    // asking the server anything about it.
    if (access.guest && name !== access.identity.room) room.denied = true;
    else if (access.on) room.pending = true;
    saveRooms();
    if (cursorKnown) {
      stream.follow(streamRooms());
      loadInitial(room);
    }
  }
  // A room the reader may not read is only kept while it is shown.
  if (previous?.denied && previous.name !== name) store.remove(previous.name);
  active = name;
  if (!store.rooms.get(name).denied) prefs.lastRoom = name;
  const href = roomHref(name);
  if (location.pathname !== href) history[push ? 'pushState' : 'replaceState'](null, '', href);

  const room = store.room(name);
  $('room-title').textContent = name;
  const exportLink = $('export-link');
  exportLink.href = api.exportURL(name);
  exportLink.download = `${name}.jsonl`;
  const leave = $('leave-button');
  leave.hidden = store.rooms.size <= 1 || access.guest;
  leave.textContent = `Leave #${name}`;
  access.show(room);
  composer.setRoom(name);
  if (timeline.room !== room) actions.reset();
  timeline.show(room, store.outboxFor(name));
  markRead(room);
  renderSidebar();
  closeNav();
  if (focus) composer.focus();
}

function leaveRoom() {
  if (store.rooms.size <= 1) return;
  store.remove(active);
  saveRooms();
  stream.follow(streamRooms());
  openRoom(store.rooms.keys().next().value, { push: true, focus: true });
  refreshRooms();
  scheduleSave();
}

/** loadInitial fetches the newest page of a room that has none loaded. */
async function loadInitial(room) {
  if (room.loaded || room.loadingInitial || room.denied) return;
  room.loadingInitial = true;
  try {
    const events = await api.getMessages(room.name, { limit: pageSize });
    if (store.rooms.get(room.name) !== room) return;
    if (room.pending) {
      room.pending = false;
      stream.follow(streamRooms());
    }
    room.add(events); // also applies changes the stream brought meanwhile
    room.hasMore = events.length >= pageSize;
    room.loaded = true;
    if (!room.readMark) room.readMark = prefs.readMarks[room.name] || room.lastId;
    store.confirm(events);
    if (room.name === active) {
      timeline.show(room, store.outboxFor(room.name));
      markRead(room);
    }
    room.countUnread(me);
    renderSidebar();
    scheduleSave();
  } catch (err) {
    // On anything but a 403 the next connect of the stream tries again; a
    // room not in the stream yet cannot wait for that.
    if (err?.status === 403) deny(room.name);
    else if (room.pending && err?.retryable !== false) {
      setTimeout(() => {
        if (store.rooms.get(room.name) === room) loadInitial(room);
      }, pendingRetry);
    }
  } finally {
    room.loadingInitial = false;
  }
}

/** loadOlder pages in the events just before the oldest one loaded. */
async function loadOlder(room) {
  if (room.loadingOlder || !room.hasMore || !room.loaded) return;
  room.loadingOlder = true;
  if (room.name === active) timeline.setLoading(true);
  let failed = false;
  try {
    const events = await api.getMessages(room.name, { before: room.oldestId, limit: pageSize });
    const { added } = room.add(events);
    if (events.length < pageSize) room.hasMore = false;
    if (room.name === active && timeline.room === room) timeline.prepended(added.length);
  } catch (err) {
    failed = true;
    if (err?.status === 403) deny(room.name);
  } finally {
    room.loadingOlder = false;
  }
  if (room.name !== active) return;
  timeline.setLoading(false);
  if (failed) {
    $('history-status').textContent = 'Could not load older messages.';
  } else {
    timeline.fill();
  }
}

async function refreshRooms() {
  if (access.guest || access.ended) return;
  try {
    serverRooms = await api.listRooms();
  } catch {
    return;
  }
  sidebar.renderOthers(serverRooms, new Set(store.rooms.keys()));
}

// ---- Access (servers with access control) -------------------------------------

$('invite-button').addEventListener('click', () => invite.open(active));

/**
 * deny marks a room the reader may not read: it leaves the stream and the
 * saved rooms, forgets what was loaded of it, and, if open, shows so.
 */
function deny(name) {
  const old = store.rooms.get(name);
  if (!old || old.denied) return;
  store.remove(name);
  if (prefs.lastRoom === name) prefs.lastRoom = '';
  if (name === active) {
    const room = store.room(name);
    room.denied = true;
  }
  saveRooms();
  stream.follow(streamRooms());
  if (name === active) openRoom(name);
  else renderSidebar();
  scheduleSave();
}

// signedIn runs after the sign-in or setup form succeeds.
function signedIn() {
  // A session that ended mid-chat starts again from a clean page.
  if (access.ended) location.reload();
  else startSignedIn();
}

// ---- Stream events -----------------------------------------------------------

let queue = [];
let batchTimer = 0;

function queueEvent(event) {
  queue.push(event);
  if (!batchTimer) batchTimer = setTimeout(flushEvents, batchDelay);
}

function flushEvents() {
  clearTimeout(batchTimer);
  batchTimer = 0;
  const events = queue;
  queue = [];
  const byRoom = new Map(); // room → {added, changed}
  for (const event of events) {
    const room = store.rooms.get(event.room);
    if (!room) continue;
    let added = [];
    let changed = [];
    if (event.type === 'message') {
      ({ added, changed } = room.add([event]));
    } else if (changeTypes.has(event.type)) {
      const message = room.apply(event);
      if (message) changed = [message];
    }
    if (!added.length && !changed.length) continue;
    if (!byRoom.has(room)) byRoom.set(room, { added: [], changed: new Set() });
    const r = byRoom.get(room);
    r.added.push(...added);
    for (const m of changed) r.changed.add(m);
  }
  for (const [room, { added, changed }] of byRoom) {
    if (room.name === active) {
      // Messages drawn just now already show their changes.
      for (const m of added) changed.delete(m);
      if (changed.size) timeline.updated([...changed]);
    }
    if (!added.length) continue;
    const own = store.confirm(added);
    if (room.name === active) {
      timeline.appended(added, { own });
      if (own) renderOutbox();
      for (const event of added) if (event.author !== me && !event.redacted) announcer.message(room.name, event);
    }
    if (!markRead(room)) room.countUnread(me);
  }
  if (byRoom.size) {
    renderSidebar();
    scheduleSave();
  }
}

/**
 * applyResult applies what the server answered to a change the reader
 * made: the new event, or the message's current state when nothing
 * changed. The stream brings the same event later; applying it twice is
 * harmless.
 */
function applyResult(room, data) {
  if (!data || store.rooms.get(room.name) !== room) return;
  const message = data.type === 'message' ? room.setState(data) : room.apply(data);
  if (!message) return;
  if (room.name === active) timeline.updated([message]);
  scheduleSave();
}

let toastTimer = 0;

/** notify shows a short note over the timeline, e.g. a failed reaction. */
function notify(text) {
  const toast = $('toast');
  toast.textContent = text;
  toast.classList.add('shown');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove('shown'), 6000);
}

// markRead moves the read mark of the open room while the page is seen.
function markRead(room) {
  if (room.name !== active || document.visibilityState !== 'visible' || !room.loaded) return false;
  if (room.markRead()) prefs.saveReadMark(room.name, room.readMark);
  room.unread = 0;
  return true;
}

// ---- Sending -----------------------------------------------------------------

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Plain http on a LAN address is not a secure context: no randomUUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function sendNew(text, replyTo) {
  if (!me) {
    namePrompt.open(() => composer.send());
    return false;
  }
  const item = new OutboxItem({
    clientId: newClientId(), room: active, author: me, text, time: new Date().toISOString(), replyTo: replyTo?.id || '',
  });
  store.outbox.set(item.clientId, item);
  deliver(item);
  timeline.scrollToBottom();
  return true;
}

/** deliver posts an outbox item; retries reuse its client_id. */
async function deliver(item) {
  item.state = 'pending';
  item.error = '';
  if (item.room === active) renderOutbox();
  try {
    const event = await api.postMessage(item.room, item, { timeout: sendTimeout });
    if (store.outbox.get(item.clientId) === item) {
      if (store.rooms.get(item.room)?.byId.has(event?.id)) {
        store.outbox.delete(item.clientId);
      } else {
        item.state = 'sent'; // stored; shown as sent until the stream brings it
        item.event = event;
      }
    }
  } catch (err) {
    if (store.outbox.get(item.clientId) === item) {
      item.state = 'failed';
      item.error = err instanceof api.ApiError ? err.message : 'Something went wrong.';
    }
  }
  if (item.room === active) renderOutbox();
  scheduleSave();
}

function renderOutbox() {
  timeline.renderOutbox(store.outboxFor(active));
}

$('outbox').addEventListener('click', (e) => {
  const button = e.target.closest('button[data-action="retry"], button[data-action="discard"]');
  const li = button?.closest('li[data-client-id]');
  const item = li && store.outbox.get(li.dataset.clientId);
  if (!item) return;
  if (button.dataset.action === 'retry') {
    deliver(item);
  } else {
    store.outbox.delete(item.clientId);
    renderOutbox();
    scheduleSave();
  }
  composer.focus();
});

// ---- Chrome around the rooms -------------------------------------------------

function renderSidebar() {
  sidebar.render([...store.rooms.values()], active);
  let unread = 0;
  let elsewhere = 0;
  for (const room of store.rooms.values()) {
    if (room.name !== active) elsewhere += room.unread;
    if (room.name !== active || document.hidden) unread += room.unread;
  }
  const title = active ? `#${active} · Parley` : 'Parley';
  document.title = unread ? `(${unread}) ${title}` : title;
  // On a phone the room list is folded away: flag unread rooms on its button.
  const menu = $('menu-button');
  menu.classList.toggle('has-unread', elsewhere > 0);
  menu.setAttribute('aria-label', elsewhere ? `Rooms, ${elsewhere} unread` : 'Rooms');
}

function showStatus(state) {
  const conn = $('conn');
  conn.dataset.state = state;
  $('conn-label').textContent = statusLabels[state] || state;
}

function showName() {
  $('me-name').textContent = me || 'no name yet';
}

function openNav() {
  $('app').classList.add('nav-open');
  $('menu-button').setAttribute('aria-expanded', 'true');
  ($('room-list').querySelector('[aria-current]') || $('room-input')).focus();
}

function closeNav() {
  if (!$('app').classList.contains('nav-open')) return;
  $('app').classList.remove('nav-open');
  $('menu-button').setAttribute('aria-expanded', 'false');
}

$('menu-button').addEventListener('click', () => {
  if ($('app').classList.contains('nav-open')) closeNav();
  else openNav();
});
$('scrim').addEventListener('click', closeNav);
$('leave-button').addEventListener('click', leaveRoom);
$('change-name').addEventListener('click', () => namePrompt.open());

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && $('app').classList.contains('nav-open')) {
    closeNav();
    $('menu-button').focus();
  }
  // Alt+↑ / Alt+↓ move between followed rooms.
  if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
    const names = [...store.rooms.keys()];
    const next = names[names.indexOf(active) + (e.key === 'ArrowUp' ? -1 : 1)];
    if (next) {
      e.preventDefault();
      openRoom(next, { push: true, focus: true });
    }
  }
});

window.addEventListener('popstate', () => {
  const name = routeRoom();
  if (name && name !== active) openRoom(name);
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    if (active) markRead(store.room(active));
    refreshRooms();
  } else {
    save();
  }
  renderSidebar();
});

window.addEventListener('pagehide', save);

window.addEventListener('storage', (e) => {
  if (!prefs.isReadKey(e.key)) return;
  const marks = prefs.readMarks;
  for (const room of store.rooms.values()) {
    if ((marks[room.name] || '') > room.readMark) {
      room.readMark = marks[room.name];
      room.countUnread(me);
    }
  }
  renderSidebar();
});

// ---- Saving and start-up -------------------------------------------------------

let saveTimer = 0;

function scheduleSave() {
  if (!saveTimer) saveTimer = setTimeout(save, saveDelay);
}

function save() {
  clearTimeout(saveTimer);
  saveTimer = 0;
  if (access.ended) return;
  // The cursor moves as events arrive: draw those queued first, so the
  // cache never holds a cursor ahead of its messages.
  if (queue.length) flushEvents();
  saveSession(store, stream.cursor);
}

// untilReached calls fn until the server answers, showing the wait on the
// connection indicator. An answer that is an error (a 4xx) is thrown.
async function untilReached(fn) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof api.ApiError && !err.retryable) throw err;
      showStatus(attempt < 5 ? 'reconnecting' : 'offline');
      await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 15000)));
    }
  }
}

// initialCursor asks the server where its log ends, so the stream can start
// there and miss nothing that happens while the page loads.
async function initialCursor() {
  let rooms = [];
  try {
    rooms = await untilReached(api.listRooms);
  } catch {
    // Refused (a guest may have no list): the stream replays the followed
    // rooms from their start instead.
  }
  serverRooms = rooms;
  return rooms.reduce((max, r) => (typeof r.last_id === 'string' && r.last_id > max ? r.last_id : max), zeroId);
}

// boot starts the chat: rooms and messages from the cache, then the stream.
async function boot() {
  $('app').hidden = false;
  showName();
  showStatus('connecting');
  const guest = access.guest;

  const marks = prefs.readMarks;
  for (const name of guest ? [access.identity.room] : prefs.rooms) store.room(name);
  const session = loadSession();
  if (session) {
    for (const [name, cached] of session.rooms) {
      const room = store.rooms.get(name);
      if (!room || !cached.events.length) continue;
      room.add(cached.events);
      room.hasMore = cached.hasMore;
      room.loaded = true;
    }
    for (const item of session.outbox) {
      if (store.rooms.has(item.room)) store.outbox.set(item.clientId, item);
    }
  }
  for (const room of store.rooms.values()) {
    room.readMark = marks[room.name] || room.lastId;
    room.countUnread(me);
  }
  for (const room of store.rooms.values()) store.confirm(room.events);

  const home = guest ? access.identity.room : prefs.lastRoom || store.rooms.keys().next().value || defaultRoom;
  openRoom(routeRoom() || home);
  if (!me) namePrompt.open();

  const cursor = session?.cursor || await initialCursor();
  if (access.ended) return;
  cursorKnown = true;
  stream.follow(streamRooms(), cursor);
  for (const room of store.rooms.values()) loadInitial(room);
  if (!guest) sidebar.renderOthers(serverRooms, new Set(store.rooms.keys()));
  // Messages that were in flight when the page unloaded go again, safely.
  for (const item of store.outbox.values()) if (item.state === 'pending') deliver(item);
  setInterval(() => {
    if (document.visibilityState === 'visible') refreshRooms();
  }, roomsRefresh);
}

/**
 * startSignedIn starts the chat for who ({name, role, room} from /api/me),
 * or for whoever /api/me says is signed in now.
 */
async function startSignedIn(who) {
  if (!who) {
    try {
      who = await untilReached(api.getMe);
    } catch (err) {
      authView.showSignIn({ note: err instanceof api.ApiError ? err.message : '' });
      return;
    }
  }
  access.start(who);
  const { name, room } = access.identity;
  me = name;
  api.useAccessControl(() => access.end());
  setScope(access.guest ? `${name} in ${room}` : name);
  timeline.guestBadges = true;
  $('change-name').hidden = true;
  $('room-form').hidden = access.guest;
  $('auth').hidden = true;
  $('app').hidden = false;
  boot();
}

// start asks the server whether it has access control, and who the reader
// is, then shows the chat or what comes before it: sign-in, setup, or the
// join page of an invite link.
async function start() {
  const code = routeJoin();
  if (code) {
    authView.showJoin(code);
    return;
  }
  // A server last seen with access control: no chat shell until signed in.
  if (prefs.authMode === 'on') $('app').hidden = true;
  showStatus('connecting');
  let config = null;
  try {
    config = await api.getConfig();
  } catch {
    // A server last seen without access control starts as it always has,
    // from this tab's cache if the server is down.
    if (prefs.authMode !== 'on') {
      boot();
      untilReached(api.getConfig).then((c) => composer.setLimit(c?.max_message_bytes)).catch(() => {});
      return;
    }
    config = await untilReached(api.getConfig).catch(() => null);
  }
  composer.setLimit(config?.max_message_bytes);
  const on = config?.auth === 'on';
  prefs.authMode = on ? 'on' : 'none';
  if (!on) {
    boot();
    return;
  }
  let who;
  try {
    who = await untilReached(api.getMe);
  } catch (err) {
    if (config.setup) authView.showSetup();
    else authView.showSignIn({ note: err?.status === 401 ? '' : err.message });
    return;
  }
  startSignedIn(who);
}

start();
