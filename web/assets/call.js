// One call's media: the camera and microphone, the RTCPeerConnection and
// the WebRTC half of the signals (offer, answer, candidates). Which call
// rings, who answered and when it ends is calls.js's; this file only moves
// media between two browsers, peer to peer (docs/live.md).

/** constraints are what each kind of call asks of getUserMedia. */
const constraints = {
  video: { audio: true, video: true },
  audio: { audio: true, video: false },
};

/**
 * Call is one call of the page, outgoing or incoming. send(kind, payload)
 * sends a signal to the peer's connection; onChange() runs after every
 * change a view shows. state is "calling" (ringing out), "ringing" (ringing
 * here), "connecting", "connected" or "ended"; pcState the
 * RTCPeerConnection's connectionState ("" before there is one).
 */
export class Call {
  constructor({
    id, room, media, outgoing, peerName, iceServers, send, onChange,
  }) {
    Object.assign(this, {
      id, room, media, outgoing, peerName, iceServers, send, onChange,
    });
    this.state = outgoing ? 'calling' : 'ringing';
    this.peer = ''; // the peer's connection id, once known
    this.pc = null;
    this.local = null; // our MediaStream
    this.remote = new MediaStream();
    this.pending = []; // candidates that came before the remote description
    this.pcState = '';
    this.error = ''; // why media failed, shown as text
    this.reason = ''; // why the call ended
    this.connectedAt = 0;
    this.endedAt = 0;
    this.muted = false;
    this.cameraOff = false;
  }

  get video() {
    return this.media === 'video';
  }

  get active() {
    return this.state !== 'ended';
  }

  /**
   * getMedia asks for the camera and microphone. It returns false, with
   * error set to a sentence for the reader, when they cannot be had.
   */
  async getMedia() {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.error = window.isSecureContext
        ? 'This browser cannot use a camera or microphone.'
        : 'Calls need the page over HTTPS (or on localhost): this browser offers no camera or microphone here.';
      this.changed();
      return false;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints[this.media]);
      if (!this.active) {
        stopTracks(stream);
        return false;
      }
      this.local = stream;
    } catch (err) {
      this.error = mediaError(err, this.video);
    }
    this.changed();
    return Boolean(this.local);
  }

  // connect creates the peer connection with our tracks.
  connect() {
    if (this.pc) return;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    pc.onicecandidate = (e) => {
      if (e.candidate && this.active) this.send('candidate', { call: this.id, candidate: e.candidate.toJSON() });
    };
    pc.ontrack = (e) => {
      if (!this.remote.getTrackById(e.track.id)) this.remote.addTrack(e.track);
      this.changed();
    };
    pc.onconnectionstatechange = () => this.connectionChanged();
    this.state = 'connecting';
    this.changed();
  }

  /** offer starts the WebRTC half as the caller, once the callee accepted. */
  async offer() {
    this.connect();
    for (const track of this.local.getTracks()) this.pc.addTrack(track, this.local);
    const offer = await this.pc.createOffer();
    if (!this.active) return;
    await this.pc.setLocalDescription(offer);
    this.send('offer', { call: this.id, sdp: this.pc.localDescription.toJSON() });
  }

  /** answer takes the caller's offer (an RTCSessionDescriptionInit). */
  async answer(sdp) {
    this.connect();
    await this.pc.setRemoteDescription(sdp);
    for (const track of this.local.getTracks()) this.pc.addTrack(track, this.local);
    const answer = await this.pc.createAnswer();
    if (!this.active) return;
    await this.pc.setLocalDescription(answer);
    this.send('answer', { call: this.id, sdp: this.pc.localDescription.toJSON() });
    await this.flushCandidates();
  }

  /** answered takes the callee's answer. */
  async answered(sdp) {
    if (!this.pc || this.pc.signalingState !== 'have-local-offer') return;
    await this.pc.setRemoteDescription(sdp);
    await this.flushCandidates();
  }

  /**
   * candidate adds one of the peer's ICE candidates, or keeps it until the
   * remote description is set: signals may overtake each other.
   */
  async candidate(candidate) {
    if (!this.pc?.remoteDescription) {
      this.pending.push(candidate);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate);
    } catch {
      // A candidate the browser cannot use (another network's): skip it.
    }
  }

  async flushCandidates() {
    const pending = this.pending;
    this.pending = [];
    for (const c of pending) await this.candidate(c);
  }

  connectionChanged() {
    if (!this.pc || !this.active) return;
    this.pcState = this.pc.connectionState;
    if (this.pcState === 'connected') {
      this.state = 'connected';
      if (!this.connectedAt) this.connectedAt = Date.now();
    }
    if (this.pcState === 'failed') {
      this.end(this.connectedAt
        ? 'the connection was lost.'
        : 'no network route between you was found (across NATs a TURN server is needed).');
      return;
    }
    this.changed();
  }

  /** setMuted turns our microphone off (true) or on. */
  setMuted(muted) {
    this.muted = muted;
    for (const t of this.local?.getAudioTracks() || []) t.enabled = !muted;
    this.changed();
  }

  /** setCameraOff turns our camera off (true) or on. */
  setCameraOff(off) {
    this.cameraOff = off;
    for (const t of this.local?.getVideoTracks() || []) t.enabled = !off;
    this.changed();
  }

  /**
   * end stops the media and closes the connection, for reason (a sentence
   * end shown to the reader). Signalling the peer is the caller's job.
   */
  end(reason) {
    if (!this.active) return;
    this.endedFrom = this.state;
    this.state = 'ended';
    this.reason = reason;
    this.endedAt = Date.now();
    stopTracks(this.local);
    if (this.pc) {
      this.pc.onicecandidate = null;
      this.pc.ontrack = null;
      this.pc.onconnectionstatechange = null;
      this.pc.close();
      this.pcState = 'closed';
    }
    this.pending = [];
    this.changed();
  }

  changed() {
    this.onChange?.(this);
  }
}

function stopTracks(stream) {
  for (const t of stream?.getTracks() || []) t.stop();
}

// mediaError says why getUserMedia failed, in words.
function mediaError(err, video) {
  const what = video ? 'camera and microphone' : 'microphone';
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `No permission to use the ${what}: allow it in the browser's site settings and try again.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} found on this device.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${what} could not be started: another program may be using it.`;
    default:
      return `The ${what} could not be used: ${err?.message || err}.`;
  }
}
