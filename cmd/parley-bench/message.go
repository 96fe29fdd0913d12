package main

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"time"
)

// runTag stamps and recognises this run's messages. Every message a scenario
// publishes has the text "<tag>:<seq>:<sent>": tag tells this run's messages
// from anything else in the room, seq numbers the message, and sent is when
// it was due (its tick, in a paced run) or its POST began (unpaced), in
// nanoseconds on the run's monotonic clock, so a subscriber in the same
// process can compute publish-to-receive latency without decoding JSON.
type runTag struct {
	tag   string
	start time.Time
}

func newRunTag() runTag {
	return runTag{tag: "r" + strconv.FormatUint(rand.Uint64()>>16, 36), start: time.Now()}
}

// now is the time since the run began, on the monotonic clock.
func (r runTag) now() time.Duration { return time.Since(r.start) }

// text builds the text of message seq, stamped with sent on the run clock.
func (r runTag) text(seq int, sent time.Duration) string {
	b := make([]byte, 0, len(r.tag)+32)
	b = append(b, r.tag...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(sent), 10)
	return string(b)
}

// parseText reads seq and sent from a message's text.
func (r runTag) parseText(text []byte) (seq int, sent time.Duration, ok bool) {
	if !bytes.HasPrefix(text, []byte(r.tag)) || len(text) <= len(r.tag) || text[len(r.tag)] != ':' {
		return 0, 0, false
	}
	rest := text[len(r.tag)+1:]
	n, rest, ok := leadingInt(rest)
	if !ok || len(rest) == 0 || rest[0] != ':' {
		return 0, 0, false
	}
	ns, rest, ok := leadingInt(rest[1:])
	if !ok || len(rest) != 0 {
		return 0, 0, false
	}
	return int(n), time.Duration(ns), true
}

// parseEvent finds the text field in an event's JSON and parses it. It scans
// bytes rather than decoding, because a subscriber handles hundreds of
// thousands of events per second on the server's cores; texts that are not
// this run's (including any with escapes) are simply not recognised.
func (r runTag) parseEvent(data []byte) (seq int, sent time.Duration, ok bool) {
	text, ok := jsonStringField(data, "text")
	if !ok {
		return 0, 0, false
	}
	return r.parseText(text)
}

// jsonStringField returns the raw bytes of the first top-level-looking
// "key": "value" pair whose value has no escapes. It is a fast path for
// JSON written by encoding/json, not a general parser.
func jsonStringField(data []byte, key string) ([]byte, bool) {
	for off := 0; off < len(data); {
		i := bytes.Index(data[off:], []byte(`"`+key+`"`))
		if i < 0 {
			return nil, false
		}
		off += i + len(key) + 2
		rest := skipSpace(data[off:])
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = skipSpace(rest[1:])
		if len(rest) == 0 || rest[0] != '"' {
			return nil, false
		}
		rest = rest[1:]
		end := bytes.IndexByte(rest, '"')
		if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
			return nil, false
		}
		return rest[:end], true
	}
	return nil, false
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// leadingInt parses the decimal digits at the start of b.
func leadingInt(b []byte) (n int64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && i < 18 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, b[i:], i > 0
}
