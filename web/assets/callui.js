// The call's part of the page: the Call button and its list of people in
// the room, the card of a call ringing here, and the call panel (videos,
// mute, camera, hang up, state and duration). What happens is calls.js's;
// this only shows it and passes clicks on.

const $ = (id) => document.getElementById(id);

const stateText = {
  calling: 'Ringing…',
  ringing: 'is calling…',
  connecting: 'Connecting…',
  connected: '',
};

/**
 * CallView draws calls (a Calls) in the page; room() is the open room,
 * whose people the Call button lists.
 */
export class CallView {
  constructor({ calls, room }) {
    Object.assign(this, { calls, room });
    this.button = $('call-button');
    this.menu = $('call-menu');
    this.shown = null; // the call the panel shows, until closed
    this.closed = null; // the call whose panel was closed
    this.tick = 0;

    this.button.addEventListener('click', () => this.toggleMenu());
    this.menu.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-media]');
      if (!b) return;
      this.closeMenu();
      calls.start(this.room(), b.closest('li').dataset.name, b.dataset.media);
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !this.menu.hidden) {
        this.closeMenu();
        this.button.focus();
      }
    });
    document.addEventListener('click', (e) => {
      if (!this.menu.hidden && !this.menu.contains(e.target) && e.target !== this.button) this.closeMenu();
    });
    $('call-accept').addEventListener('click', () => calls.accept());
    $('call-decline').addEventListener('click', () => calls.decline());
    $('call-hangup').addEventListener('click', () => calls.hangUp());
    $('call-mute').addEventListener('click', () => calls.call?.setMuted(!calls.call.muted));
    $('call-camera').addEventListener('click', () => calls.call?.setCameraOff(!calls.call.cameraOff));
    $('call-sound').addEventListener('click', () => this.soundOn());
    $('call-close').addEventListener('click', () => {
      this.closed = this.shown;
      this.shown = null;
      this.render();
    });
  }

  toggleMenu() {
    if (this.menu.hidden) this.openMenu();
    else this.closeMenu();
  }

  openMenu() {
    this.menu.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    this.renderMenu();
    this.menu.querySelector('button')?.focus();
  }

  closeMenu() {
    this.menu.hidden = true;
    this.button.setAttribute('aria-expanded', 'false');
  }

  /** render shows the calls' state now. */
  render() {
    this.button.disabled = !this.room();
    if (!this.menu.hidden) this.renderMenu();
    const call = this.calls.call;
    // A call ringing here shows in the panel once answered.
    const answered = call && (call.outgoing || (call.active ? call.state !== 'ringing' : call.endedFrom !== 'ringing'));
    if (answered && call !== this.shown && call !== this.closed) this.show(call);
    this.renderRing(call);
    this.renderPanel(this.shown);
  }

  renderMenu() {
    const room = this.room();
    $('call-menu-room').textContent = room;
    const people = this.calls.people(room);
    const list = $('call-people');
    list.replaceChildren(...people.map((p) => {
      const li = document.createElement('li');
      li.dataset.name = p.name;
      const name = document.createElement('span');
      name.className = 'call-person';
      name.dir = 'auto';
      name.textContent = p.name;
      li.append(name, this.startButton('video', p.name), this.startButton('audio', p.name));
      return li;
    }));
    const note = $('call-menu-note');
    if (this.calls.busy) note.textContent = 'You are in a call.';
    else if (!people.length) note.textContent = 'Nobody else is here now.';
    else note.textContent = '';
    for (const b of list.querySelectorAll('button')) b.disabled = this.calls.busy;
  }

  startButton(media, name) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.media = media;
    b.textContent = media === 'video' ? 'Video' : 'Audio';
    b.setAttribute('aria-label', `${media === 'video' ? 'Video' : 'Audio'} call ${name}`);
    return b;
  }

  renderRing(call) {
    const ring = $('call-ring');
    const ringing = Boolean(call?.active && !call.outgoing && call.state === 'ringing');
    if (ringing) {
      $('call-ring-name').textContent = call.peerName;
      $('call-ring-media').textContent = call.video ? 'video call' : 'audio call';
      $('call-ring-room').textContent = call.room;
    }
    if (ring.hidden === !ringing) return;
    ring.hidden = !ringing;
    if (ringing) $('call-accept').focus();
  }

  // show makes the panel show call, with its streams.
  show(call) {
    this.shown = call;
    const remote = $('call-remote');
    remote.muted = false;
    remote.srcObject = call.remote;
    $('call-local').srcObject = null;
    $('call-sound').hidden = true;
  }

  renderPanel(call) {
    const panel = $('call-panel');
    panel.hidden = !call;
    clearInterval(this.tick);
    if (!call) return;
    panel.dataset.state = call.state;
    panel.dataset.connection = call.pcState;
    panel.dataset.media = call.media;
    $('call-peer').textContent = call.peerName;
    $('call-avatar').textContent = [...call.peerName][0]?.toUpperCase() || '';
    $('call-state').textContent = call.active ? stateText[call.state] ?? '' : `· ${call.reason}`;
    if (call.pcState === 'disconnected' && call.active) $('call-state').textContent = '· connection interrupted…';
    const local = $('call-local');
    if (call.local && local.srcObject !== call.local && call.active) local.srcObject = call.local;
    if (!call.active) local.srcObject = null;
    if (call.state === 'connected') this.play();
    const error = $('call-error');
    error.hidden = !call.error;
    error.textContent = call.error;

    const mute = $('call-mute');
    mute.hidden = !call.active || !call.local;
    mute.textContent = call.muted ? 'Unmute' : 'Mute';
    mute.setAttribute('aria-pressed', String(call.muted));
    const camera = $('call-camera');
    camera.hidden = !call.active || !call.local || !call.video;
    camera.textContent = call.cameraOff ? 'Camera on' : 'Camera off';
    camera.setAttribute('aria-pressed', String(call.cameraOff));
    $('call-hangup').hidden = !call.active;
    $('call-hangup').textContent = call.state === 'calling' ? 'Cancel' : 'Hang up';
    $('call-close').hidden = call.active;

    this.renderDuration(call);
    if (call.active && call.connectedAt) this.tick = setInterval(() => this.renderDuration(call), 1000);
  }

  renderDuration(call) {
    const end = call.active ? Date.now() : call.endedAt;
    $('call-duration').textContent = call.connectedAt ? duration(end - call.connectedAt) : '';
  }

  // play starts the remote media; a browser that will not play sound
  // before the reader clicks something plays it muted, with a button.
  play() {
    const remote = $('call-remote');
    if (!remote.paused || this.playing) return;
    this.playing = true;
    remote.play().catch(() => {
      remote.muted = true;
      $('call-sound').hidden = false;
      return remote.play();
    }).catch(() => {}).finally(() => {
      this.playing = false;
    });
  }

  soundOn() {
    const remote = $('call-remote');
    remote.muted = false;
    remote.play().then(() => {
      $('call-sound').hidden = true;
    }, () => {});
  }
}

// duration is m:ss, or h:mm:ss past an hour.
function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}
