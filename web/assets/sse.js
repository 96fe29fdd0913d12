// Reading a server-sent event stream from a fetch() response, by the rules
// of the HTML standard: lines end in CR, LF or CRLF; comments are skipped;
// data lines are joined with LF; an event without data is not dispatched;
// the last event id carries over to the events after it.
//
// The page reads its stream with fetch rather than EventSource because an
// EventSource never tells why it failed: the status (a 400 that retrying
// cannot fix, a 429 with Retry-After) and the server's error text decide
// what the page does next.

/**
 * readEvents reads body (a ReadableStream of bytes) to its end and calls
 * onEvent({type, data, id}) for each event; id is the last event id seen,
 * "" before any. It resolves when the body ends and rejects if reading
 * fails (a dropped connection, or an abort).
 */
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new Parser(onEvent);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      parser.end();
      return;
    }
    parser.push(value);
  }
}

// Parser turns text, in chunks of any size, into events.
class Parser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.type = '';
    this.data = [];
    this.lastId = '';
  }

  push(text) {
    this.buffer += text;
    let start = 0;
    for (;;) {
      const end = lineEnd(this.buffer, start);
      if (end < 0) break;
      this.line(this.buffer.slice(start, end));
      start = end + (this.buffer.startsWith('\r\n', end) ? 2 : 1);
    }
    this.buffer = this.buffer.slice(start);
  }

  // end ends the last line if it ends in a CR: no LF can follow it now.
  end() {
    if (this.buffer.endsWith('\r')) this.push('\n');
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
  }

  dispatch() {
    const { type, data } = this;
    this.type = '';
    this.data = [];
    if (data.length === 0) return;
    this.onEvent({ type: type || 'message', data: data.join('\n'), id: this.lastId });
  }
}

// lineEnd finds the end of the line that starts at start, or -1 if the
// line is not complete yet. A CR at the very end may be the first half of
// a CRLF that the next chunk completes.
function lineEnd(buffer, start) {
  for (let i = start; i < buffer.length; i++) {
    const c = buffer.charCodeAt(i);
    if (c === 10) return i;
    if (c === 13) return i + 1 < buffer.length ? i : -1;
  }
  return -1;
}
