// Parley's browser client: builds the room store, the event stream and the
// views, wires them to each other and to the page, and starts the chat:
// from the cache at once, then sign-in under access control, then the
// stream. Each part's work lives in its own module.

import * as api from './api.js';
import { Access } from './access.js';
import { Actions } from './actions.js';
import { Announcer } from './announcer.js';
import { AuthView } from './auth.js';
import { clearSession, prefs, saveSession, scopeName, setScope } from './cache.js';
import { Calls } from './calls.js';
import { CallView } from './callui.js';
import { Composer } from './composer.js';
import { InviteDialog } from './invite.js';
import { Jumper, routeMessage } from './jump.js';
import { Live } from './live.js';
import { NamePrompt } from './name.js';
import { Rooms } from './rooms.js';
import { Search } from './search.js';
import { routeJoin, routeRoom } from './routes.js';
import { Sender } from './sender.js';
import { Shell } from './shell.js';
import { Sidebar, roomHref } from './sidebar.js';
import { Store } from './store.js';
import { roster } from './roster.js';
import { SharedStream } from './tabs.js';
import { Timeline } from './timeline.js';
import { Updates } from './updates.js';
import { Uploads } from './upload.js';

const $ = (id) => document.getElementById(id);

const defaultRoom = 'general';
const roomsRefresh = 30000;
const saveDelay = 1000;

const store = new Store();
let me = prefs.name; // the reader's name

const timeline = new Timeline({
  scroller: $('scroller'),
  list: $('messages'),
  outbox: $('outbox'),
  pill: $('new-pill'),
  olderButton: $('load-older'),
  historyStatus: $('history-status'),
  me: () => me,
  // While reading a window of older history (a permalink), that window.
  onNeedOlder: () => rooms.loadOlder(timeline.detached ? timeline.room : store.room(rooms.active)),
  onNeedNewer: () => jumper.loadNewer(),
  onLeaveDetached: () => jumper.leave(),
  onBottom: () => rooms.readAtBottom(),
  wantsLine: (events) => document.hidden || live.missed(events),
});

const sidebar = new Sidebar({
  list: $('room-list'),
  others: $('other-rooms'),
  othersHeading: $('other-heading'),
  form: $('room-form'),
  input: $('room-input'),
  error: $('room-error'),
  suggestions: $('room-suggestions'),
  onOpen: (name) => rooms.open(name, { push: true, focus: true }),
});

const composer = new Composer({
  form: $('composer'),
  textarea: $('composer-text'),
  button: $('send-button'),
  hint: $('composer-hint'),
  reply: {
    bar: $('reply-bar'), label: $('reply-label'), author: $('reply-author'), text: $('reply-text'), cancel: $('reply-cancel'),
  },
  onSend: (text, replyTo) => sender.send(text, replyTo),
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
  room: () => store.room(rooms.active),
  maxBytes: () => composer.maxBytes,
  onResult: (room, data) => updates.applyResult(room, data),
  onReply: (message) => {
    composer.setReply(message);
    composer.focus();
  },
  needName: () => namePrompt.open(),
  notify: (text) => shell.notify(text),
  announce: (text) => announcer.say(text),
  showMessage: (id) => jumper.jump(rooms.active, id, { push: true }),
});

const namePrompt = new NamePrompt({
  dialog: $('name-dialog'),
  form: $('name-form'),
  input: $('name-input'),
  cancel: $('name-cancel'),
  error: $('name-error'),
  onChange: (name) => {
    me = name;
    shell.showName(me);
    timeline.rerender();
    sender.render();
    for (const room of store.rooms.values()) room.countUnread(me);
    rooms.render();
    // Presence shows the stream under the new name; the read markers wait for one.
    stream.reconnectNow(true);
    live.marks.flush();
    composer.focus();
  },
});

const announcer = new Announcer($('announcer'));

const live = new Live({
  store,
  rooms: () => rooms,
  me: () => me,
  showStatus: (state) => shell.showStatus(state),
  elements: {
    header: document.querySelector('.room-header'),
    actions: document.querySelector('.room-actions'),
    composer: $('composer'),
    textarea: $('composer-text'),
  },
  jump: (room, id) => jumper.jump(room, id, { push: true }),
});

// One stream for all the tabs of this browser (tabs.js).
const stream = new SharedStream({
  onEvent: (event) => {
    live.onEvent(event);
    updates.add(event);
  },
  onLive: (type, data, streamRooms) => {
    live.onLive(type, data, streamRooms);
    calls.live(type, data, streamRooms);
  },
  // The name as saved: another tab may have changed it.
  who: () => ({ author: prefs.name || me }),
  onReset: (name) => {
    // Events of the room that came before the reset belong to the old copy.
    updates.flush();
    rooms.reset(name);
  },
  onStatus: (state) => live.showStatus(state),
  onOpen: () => {
    for (const room of store.rooms.values()) rooms.loadInitial(room);
    rooms.refresh();
    // The server answers again: what failed while it did not goes now.
    sender.resend();
  },
  onError: () => access.check(rooms.streamRooms()),
  onRefused: streamRefused,
}, { scope: scopeName, snapshot: () => roster.snapshot() });

// Signals name the same author as the stream.
const calls = new Calls({ stream, me: () => prefs.name || me, onChange: () => callView.render() });
const callView = new CallView({ calls, room: () => rooms.active });

const access = new Access({
  panel: $('denied'),
  note: $('denied-note'),
  hideWhenDenied: [$('timeline'), $('composer'), $('export-link'), $('call-button')],
  invite: $('invite-button'),
  signOut: $('sign-out'),
  onDeny: (name) => rooms.deny(name),
  onEnd: ({ signedOut, note }) => {
    calls.hangUp();
    if (signedOut) {
      clearSession();
      uploads.signOut();
    }
    else save();
    stream.stop();
    for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
    authView.showSignIn({ note });
  },
  onOpen: (name) => rooms.open(name, { push: true, focus: true }),
  notify: (text) => shell.notify(text),
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

const shell = new Shell({
  app: $('app'),
  menu: $('menu-button'),
  scrim: $('scrim'),
  roomList: $('room-list'),
  roomInput: $('room-input'),
  conn: $('conn'),
  connLabel: $('conn-label'),
  streamError: $('stream-error'),
  meName: $('me-name'),
  toast: $('toast'),
});

const rooms = new Rooms({
  store,
  stream,
  access,
  sidebar,
  timeline,
  composer,
  actions,
  header: { title: $('room-title'), exportLink: $('export-link'), leave: $('leave-button') },
  me: () => me,
  showUnread: (counts) => shell.showUnread(counts),
  closeNav: () => shell.closeNav(),
  notify: (text) => shell.notify(text),
  scheduleSave,
  live,
});

const sender = new Sender({
  store,
  list: $('outbox'),
  timeline,
  composer,
  me: () => me,
  active: () => rooms.active,
  needName: (then) => namePrompt.open(then),
  scheduleSave,
});

const uploads = new Uploads({
  form: $('composer'),
  textarea: $('composer-text'),
  dropZone: $('room'),
  active: () => rooms.active,
  me: () => me,
  announce: (text) => announcer.say(text),
  changed: () => composer.update(),
  followed: (room) => store.rooms.has(room),
});
composer.takeSend = (text, replyTo) => uploads.takeSend(text, replyTo);
composer.hasFiles = () => uploads.hasFiles();
// Texts and messages with files reach a room in the order they were written.
sender.waitsFor = (item) => uploads.before(item);
sender.onPosted = () => uploads.flush();
sender.onResend = () => uploads.resend();
uploads.blocked = (room, seq) => sender.blocks(room, seq);
uploads.released = () => sender.resend();
uploads.scheduleResend = (seconds) => sender.scheduleResend(seconds);

const jumper = new Jumper({
  store, rooms, timeline, notify: (text) => shell.notify(text),
});

new Search({
  form: $('search-form'), input: $('search-input'), panel: $('search-panel'),
  status: $('search-status'), results: $('search-results'), more: $('search-more'),
}, { onOpen: () => shell.closeNav() });

const updates = new Updates({
  store,
  rooms,
  timeline,
  announcer,
  me: () => me,
  renderOutbox: () => sender.render(),
  scheduleSave,
});

$('invite-button').addEventListener('click', () => invite.open(rooms.active));
$('change-name').addEventListener('click', () => namePrompt.open());

window.addEventListener('popstate', () => {
  const name = routeRoom();
  const id = routeMessage();
  if (name && id) jumper.jump(name, id);
  else if (name && name !== rooms.active) rooms.open(name);
  else if (name && timeline.detached) jumper.leave();
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    if (rooms.active) rooms.markRead(store.room(rooms.active));
    rooms.refresh();
  } else {
    save();
  }
  rooms.render();
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
  rooms.render();
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
  updates.flush();
  saveSession(store, stream.cursor, stream.roomCursors());
}

// useConfig applies the server's limits from GET /api/config.
function useConfig(config) {
  composer.setLimit(config?.max_message_bytes);
  rooms.setCapacity(config?.max_stream_rooms);
  calls.setConfig(config);
}

/**
 * streamRefused runs when the server refused a stream for good (a 400 or
 * 404). A server restarted with a lower max_stream_rooms refuses the old
 * grouping: then the page regroups and carries on. Anything else is shown.
 */
async function streamRefused({ status, message }) {
  if (status === 400) {
    const config = await api.getConfig().catch(() => null);
    if (config && config.max_stream_rooms !== stream.maxRooms) {
      useConfig(config);
      return;
    }
  }
  // Another refused stream may have regrouped the rooms meanwhile.
  if (stream.state !== 'stopped') return;
  shell.showStreamError(`Live updates have stopped: the server refused them (${status}: ${message}). `
    + 'Reload the page to try again.');
}

const untilReached = (fn) => shell.untilReached(fn);

// boot starts the chat: rooms and messages from the cache, then the stream.
async function boot() {
  $('app').hidden = false;
  shell.showName(me);
  shell.showStatus('connecting');
  const guest = access.guest;

  const session = rooms.restore(guest ? [access.identity.room] : prefs.rooms);
  const home = guest ? access.identity.room : prefs.lastRoom || store.rooms.keys().next().value || defaultRoom;
  rooms.open(routeRoom() || home);
  // A permalink (/r/room?m=ID) opens at its message once the room loads.
  if (routeRoom() && routeMessage()) jumper.jump(routeRoom(), routeMessage());
  if (!me) namePrompt.open();

  const cursor = session?.cursor || await rooms.initialCursor(untilReached);
  if (access.ended) return;
  rooms.follow(cursor, session?.cursors);
  // Messages that were in flight when the page unloaded go again, safely;
  // those with files once they are read back from IndexedDB.
  sender.resend();
  uploads.restore();
  setInterval(() => {
    if (document.visibilityState === 'visible') rooms.refresh();
  }, roomsRefresh);
}

// signedIn runs after the sign-in or setup form succeeds.
function signedIn() {
  // A session that ended mid-chat starts again from a clean page.
  if (access.ended) location.reload();
  else startSignedIn();
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
    // Joining replaces the browser's session: say so to someone signed in.
    api.getMe().then((who) => {
      if (who?.role === 'member' || who?.role === 'admin') authView.warnSignedIn(who.name);
    }, () => {});
    return;
  }
  // A server last seen with access control: no chat shell until signed in.
  if (prefs.authMode === 'on') $('app').hidden = true;
  shell.showStatus('connecting');
  let config = null;
  try {
    config = await api.getConfig();
  } catch {
    // A server last seen without access control starts as it always has,
    // from this tab's cache if the server is down.
    if (prefs.authMode !== 'on') {
      boot();
      untilReached(api.getConfig).then(useConfig).catch(() => {});
      return;
    }
    config = await untilReached(api.getConfig).catch(() => null);
  }
  useConfig(config);
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
