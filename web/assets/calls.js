// One-to-one calls: who can be called (presence), ringing, accepting,
// declining, busy, hanging up, and ending when the other side goes. The
// signals go to one connection through POST /api/rooms/:room/signal and
// come back as `signal` events on the stream; the media itself is
// call.js's, peer to peer (docs/live.md, "Calls").

import * as api from './api.js';
import { Call } from './call.js';

// A caller stops ringing after this long; a callee a little later, in case
// the caller's hang-up was lost.
const ringOut = 60000;
const ringIn = 75000;

// A tab in a call says so again this often; its siblings forget it (a tab
// that crashed says nothing more) after siblingFor.
const siblingEvery = 10000;
const siblingFor = 35000;

// Longest reason text taken from the other side.
const maxReason = 120;

/**
 * Calls holds the page's call (one at a time) and who is in each streamed
 * room, from the live events of the page's streams (live). stream is the
 * page's Stream (carries(room) says whether a room is still streamed);
 * me() the author name without access control; onChange() runs after any
 * change a view shows (people, the call).
 */
export class Calls {
  constructor({ stream, me, onChange }) {
    Object.assign(this, { stream, me, onChange });
    this.rosters = new Map(); // room → Map(name → {name, guest, connections})
    this.you = null; // {name, guest} as the streams' hello said
    this.iceServers = [];
    this.call = null; // the current call, or the last one, ended
    this.ringing = new Set(); // outgoing: the callee's connections still ringing
    this.timer = 0; // the ring timeout
    this.queue = Promise.resolve(); // signals go one after the other, in order
    this.connections = new Map(); // room → the connection id of its stream (hello)
    // The browser's other tabs: which call each is in, and which rings
    // they answered. Tabs that share one stream all get its signals.
    this.tab = callId();
    this.siblings = new Map(); // tab → {call, at}: the id of its call in progress
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('parley.calls') : null;
    if (this.channel) this.channel.onmessage = (e) => this.fromSibling(e.data);
    this.tell({ type: 'hello' });
    setInterval(() => {
      if (this.told) this.tellCall(true);
    }, siblingEvery);
    window.addEventListener('pagehide', () => this.leavePage());
  }

  /** setConfig takes ice_servers from GET /api/config. */
  setConfig(config) {
    if (Array.isArray(config?.ice_servers)) this.iceServers = config.ice_servers;
  }

  /** busy is true while a call rings or goes on. */
  get busy() {
    return Boolean(this.call?.active);
  }

  /** people are those present in room that the reader can call, by name. */
  people(room) {
    const roster = this.rosters.get(room);
    if (!roster) return [];
    return [...roster.values()]
      .filter((p) => p.connections.length && !this.isMe(p))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  isMe(person) {
    return Boolean(this.you) && person.name === this.you.name && person.guest === this.you.guest;
  }

  /**
   * live takes an event without an id of the stream carrying rooms (see
   * Stream's onLive).
   */
  live(type, data, rooms) {
    if (type === 'hello') {
      this.you = data.you && typeof data.you.name === 'string' ? data.you : null;
      for (const room of Array.isArray(data.rooms) ? data.rooms : rooms) this.connections.set(room, data.connection);
      // Rooms regroup over new streams when one is left: is ours still here?
      const call = this.call;
      const carried = this.stream.carries ? this.stream.carries(call?.room) : this.connections.has(call?.room);
      if (call?.active && !carried) this.end(call, `You left #${call.room}.`);
      this.changed();
    } else if (type === 'closed') {
      // A room that moved to another stream keeps the id (it is handed on).
      for (const room of rooms) if (!this.stream.carries?.(room)) this.connections.delete(room);
    } else if (type === 'presence') {
      this.presence(data);
    } else if (type === 'signal') {
      this.signal(data);
    }
  }

  presence(p) {
    if (typeof p.room !== 'string') return;
    let roster = this.rosters.get(p.room);
    if (p.kind === 'roster') {
      roster = new Map();
      for (const person of Array.isArray(p.people) ? p.people : []) {
        if (isPerson(person)) roster.set(person.name, person);
      }
      this.rosters.set(p.room, roster);
    } else if (p.kind === 'join' || p.kind === 'update') {
      if (!isPerson(p)) return;
      if (!roster) this.rosters.set(p.room, roster = new Map());
      roster.set(p.name, { name: p.name, guest: Boolean(p.guest), connections: p.connections });
    } else if (p.kind === 'leave') {
      roster?.delete(p.name);
    } else {
      return;
    }
    this.checkPeer(p.room);
    this.changed();
  }

  // checkPeer ends the call, or stops ringing a connection, when the other
  // side's connection has left room.
  checkPeer(room) {
    const call = this.call;
    if (!call?.active || call.room !== room) return;
    const here = new Set();
    for (const p of this.rosters.get(room)?.values() || []) for (const c of p.connections) here.add(c);
    if (call.state === 'calling' && !call.peer) {
      for (const c of this.ringing) if (!here.has(c)) this.ringing.delete(c);
      if (!this.ringing.size) this.end(call, `${call.peerName} left the room.`);
    } else if (call.peer && !here.has(call.peer)) {
      this.end(call, call.state === 'ringing' ? `${call.peerName} left: missed call.` : `${call.peerName} left the room.`);
    }
  }

  signal(s) {
    const p = s.payload;
    if (!p || typeof p.call !== 'string' || typeof s.from !== 'string' || typeof s.room !== 'string') return;
    if (s.kind === 'ring') {
      this.ringed(s);
      return;
    }
    const call = this.call;
    // Only the person called, and only about this call: the server vouches
    // for a signal's author and from.
    if (!call?.active || call.id !== p.call || call.room !== s.room || s.author !== call.peerName) return;
    if (call.outgoing && call.state === 'calling') {
      if (s.kind === 'accept' && this.ringing.has(s.from)) this.accepted(call, s.from);
      if (s.kind === 'decline' && this.ringing.has(s.from)) this.declined(call, reasonOf(p));
      return;
    }
    if (s.from !== call.peer) return;
    // A ring answered in another tab of a shared stream: its signals are
    // that tab's.
    if (!call.outgoing && call.state === 'ringing' && s.kind !== 'hangup') return;
    const failed = (err) => this.end(call, `The call could not be set up: ${err?.message || err}`, true);
    switch (s.kind) {
      case 'offer':
        if (!call.outgoing && p.sdp) call.answer(p.sdp).catch(failed);
        break;
      case 'answer':
        if (call.outgoing && p.sdp) call.answered(p.sdp).catch(failed);
        break;
      case 'candidate':
        if (p.candidate) call.candidate(p.candidate);
        break;
      case 'hangup':
        this.hungUp(call, reasonOf(p));
        break;
      default:
    }
  }

  // ringed answers a ring: busy if a call is on here or in another tab,
  // else it rings here.
  ringed(s) {
    const { payload: p } = s;
    if (this.call?.active && this.call.id === p.call) return;
    if (this.call?.active || this.siblingBusy(p.call)) {
      this.post(s.room, null, s.from, 'decline', { call: p.call, reason: 'busy' }).catch(() => {});
      return;
    }
    const call = this.newCall({
      id: p.call, room: s.room, media: p.media === 'audio' ? 'audio' : 'video', outgoing: false, peerName: String(s.author),
    });
    call.peer = s.from;
    this.timer = setTimeout(() => this.end(call, `Missed call from ${call.peerName}.`), ringIn);
    this.changed();
  }

  newCall(options) {
    clearTimeout(this.timer);
    this.ringing = new Set();
    const call = new Call({
      ...options,
      iceServers: this.iceServers,
      send: (kind, payload) => this.sendTo(call, call.peer, kind, payload),
      onChange: () => this.changed(),
    });
    this.call = call;
    return call;
  }

  /**
   * start calls name, present in room, with media "video" or "audio": it
   * rings every connection of theirs in the room.
   */
  async start(room, name, media) {
    if (this.busy) return;
    const person = this.rosters.get(room)?.get(name);
    if (!person?.connections.length) return;
    const call = this.newCall({
      id: callId(), room, media, outgoing: true, peerName: name,
    });
    this.changed();
    if (!await call.getMedia()) {
      call.end(`Could not call ${name}.`);
      return;
    }
    if (!call.active) return;
    this.ringing = new Set(person.connections);
    for (const to of person.connections) this.sendTo(call, to, 'ring', { call: call.id, media });
    this.timer = setTimeout(() => this.end(call, `${name} did not answer.`, true), ringOut);
  }

  accepted(call, from) {
    clearTimeout(this.timer);
    call.peer = from;
    this.ringing.delete(from);
    this.hangUpRinging(call, 'answered elsewhere');
    call.offer().catch((err) => this.end(call, `The call could not be set up: ${err?.message || err}`, true));
  }

  declined(call, reason) {
    this.hangUpRinging(call, 'declined elsewhere');
    if (reason === 'busy') this.end(call, `${call.peerName} is busy in another call.`);
    else this.end(call, reason ? `${call.peerName} declined: ${reason}` : `${call.peerName} declined.`);
  }

  hungUp(call, reason) {
    if (!call.outgoing && call.state === 'ringing') {
      this.end(call, reason === 'answered elsewhere' ? 'Answered on another device.'
        : reason === 'declined elsewhere' ? 'Declined on another device.'
          : `${call.peerName} cancelled the call: missed call.`);
      return;
    }
    this.end(call, `${call.peerName} hung up.`);
  }

  /** accept answers the call ringing here. */
  async accept() {
    const call = this.call;
    if (!call?.active || call.outgoing || call.state !== 'ringing') return;
    clearTimeout(this.timer);
    this.tell({ type: 'answered', call: call.id, how: 'accepted' });
    call.state = 'connecting';
    this.changed();
    if (!await call.getMedia()) {
      this.sendTo(call, call.peer, 'decline', { call: call.id, reason: 'their camera or microphone is not available.' });
      call.end('You could not answer.');
      return;
    }
    if (!call.active) return;
    call.connect();
    this.sendTo(call, call.peer, 'accept', { call: call.id });
  }

  /** decline refuses the call ringing here. */
  decline() {
    const call = this.call;
    if (!call?.active || call.outgoing || call.state !== 'ringing') return;
    this.tell({ type: 'answered', call: call.id, how: 'declined' });
    this.end(call, `You declined ${call.peerName}'s call.`, true);
  }

  /** hangUp ends the call, ringing or not, on both sides. */
  hangUp() {
    if (this.call?.active) this.end(this.call, this.call.state === 'calling' ? 'Cancelled.' : 'You hung up.', true);
  }

  /**
   * end ends call for reason; with signal, the other side is told: a
   * callee ringing here gets a decline, anyone else a hangup.
   */
  end(call, reason, signal = false) {
    if (!call.active) return;
    if (call === this.call) clearTimeout(this.timer);
    if (signal) {
      const kind = !call.outgoing && call.state === 'ringing' ? 'decline' : 'hangup';
      const to = call.peer ? [call.peer] : [...this.ringing];
      for (const c of to) this.sendTo(call, c, kind, { call: call.id });
    }
    this.ringing = new Set();
    call.end(reason);
  }

  hangUpRinging(call, reason) {
    for (const c of this.ringing) this.sendTo(call, c, 'hangup', { call: call.id, reason });
    this.ringing = new Set();
  }

  // leavePage tells the other side when the page goes away mid-call.
  leavePage() {
    const call = this.call;
    if (!call?.active) return;
    const from = this.connections.get(call.room) || this.stream.connection;
    const ringing = !call.outgoing && call.state === 'ringing';
    const payload = ringing ? { call: call.id, reason: 'they left the page.' } : { call: call.id };
    for (const to of call.peer ? [call.peer] : this.ringing) {
      api.sendSignal(call.room, {
        author: this.me(), from, to, kind: ringing ? 'decline' : 'hangup', payload,
      }, { keepalive: true });
    }
    call.end('You left the page.');
    this.tell({ type: 'call', call: '' });
  }

  /**
   * sendTo sends a signal of call to a connection, after those sent
   * before, and ends the call when that cannot work: the recipient is gone
   * (404), or the server refuses. It resolves to whether it was sent.
   */
  sendTo(call, to, kind, payload) {
    return this.post(call.room, null, to, kind, payload).then(() => true, (err) => {
      this.sendFailed(call, to, kind, err);
      return false;
    });
  }

  // post queues one signal; from is the stream carrying room unless given.
  post(room, from, to, kind, payload) {
    const sent = this.queue.then(() => {
      // A tab sharing another's stream may only know its first id.
      const conn = from || this.connections.get(room) || this.stream.connection;
      if (!conn) throw new Error('not connected to the room');
      return api.sendSignal(room, {
        author: this.me(), from: conn, to, kind, payload,
      });
    });
    this.queue = sent.catch(() => {});
    return sent;
  }

  sendFailed(call, to, kind, err) {
    if (!call.active || kind === 'hangup' || kind === 'decline') return;
    if (err?.status === 404 && call.state === 'calling' && !call.peer) {
      this.ringing.delete(to);
      if (!this.ringing.size) this.end(call, `${call.peerName} is not here any more.`);
      return;
    }
    if (err?.status === 404) {
      this.end(call, `${call.peerName} is gone: their connection closed.`);
      return;
    }
    // A lost candidate may leave another that works: the connection state
    // says if none did.
    if (kind === 'candidate' && err?.retryable) return;
    this.end(call, `The call could not go on: ${err?.message || err}`, true);
  }

  // fromSibling takes a message of another tab of this browser.
  fromSibling(m) {
    if (!m || typeof m.tab !== 'string' || m.tab === this.tab) return;
    if (m.type === 'hello') this.tellCall(true);
    if (m.type === 'call') this.siblings.set(m.tab, { call: typeof m.call === 'string' ? m.call : '', at: Date.now() });
    const call = this.call;
    // A ring that reached several tabs (one shared stream) was answered
    // in one of them.
    if (m.type === 'answered' && call?.active && !call.outgoing && call.state === 'ringing' && call.id === m.call) {
      this.end(call, m.how === 'declined' ? 'Declined in another tab.' : 'Answered in another tab.');
    }
  }

  // siblingBusy is true if another tab of this browser is in a call but id.
  siblingBusy(id) {
    const now = Date.now();
    return [...this.siblings.values()].some((s) => s.call && s.call !== id && now - s.at < siblingFor);
  }

  tell(message) {
    try {
      this.channel?.postMessage({ ...message, tab: this.tab });
    } catch {
      // The channel is closed: the page is going.
    }
  }

  // tellCall says which call this tab is in, when that changed (or always).
  tellCall(always = false) {
    const now = this.call?.active && this.call.state !== 'ringing' ? this.call.id : '';
    if (now === this.told && !always) return;
    this.told = now;
    this.tell({ type: 'call', call: now });
  }

  changed() {
    this.tellCall();
    this.onChange?.();
  }
}

function isPerson(p) {
  return p && typeof p.name === 'string' && Array.isArray(p.connections)
    && p.connections.every((c) => typeof c === 'string');
}

function reasonOf(payload) {
  return typeof payload.reason === 'string' ? payload.reason.slice(0, maxReason) : '';
}

function callId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}
