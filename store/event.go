package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

// Event types. A message is the only event that stands alone; the others
// change a message (their Target) and are folded into its state.
const (
	TypeMessage  = "message"
	TypeEdit     = "edit"
	TypeDelete   = "delete"
	TypeReaction = "reaction"
)

// Limits on event fields other than text (whose limit is DB.MaxTextBytes).
const (
	MaxAuthorLen   = 64 // runes
	MaxClientIDLen = 64 // bytes of [A-Za-z0-9_-]
	MaxEmojiBytes  = 32
)

// TimeFormat is how an event's time appears in its JSON: UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// MaxTime is the latest time an event can carry. TimeFormat writes the year
// as it is, but RFC 3339 (and so every reader, Parley's own included) only
// reads four digits: an event of the year 10000 could be written, never
// read back. A ULID could go on to the year 10889.
var MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)

// Event is one entry of the log in its decoded form. Its JSON is the one
// shape Parley uses everywhere: API responses, SSE data and exports.
// ID and Time are assigned by the log; Time is always the ID's timestamp.
type Event struct {
	ID       ulid.ULID
	Room     string
	Type     string
	Author   string
	Text     string // message and edit; removed when redacted
	Time     time.Time
	ClientID string
	ReplyTo  ulid.ULID // message: the message it answers, in the same room
	Target   ulid.ULID // edit, delete, reaction: the message changed
	Emoji    string    // reaction
	Remove   bool      // reaction: take it back
	// Redacted marks a message or edit whose text was removed because the
	// message was deleted: the only change the log ever makes in place.
	Redacted bool
	// Moderate marks an edit or delete of another author's message by an
	// admin. On Append it asks for that permission; the log keeps it, as
	// "moderated":true, only on the changes that needed it, so that an
	// import of an export applies the same rule as the live log did.
	Moderate bool
	// Mentions are the names Text mentions (MentionsIn): derived by the
	// log, never taken from a client (see Derive).
	Mentions []string
	// Files are the uploads a message carries (see Files): a client gives
	// their ids, the log fills in the rest when it stores the message. A
	// delete removes them with the text.
	Files []FileRef
}

// Derive sets what the log derives from an event's content instead of
// taking it from a client: the mentions of a message's or an edit's text.
// Every Log implementation calls it on each event it stores, appended or
// imported, so all of them derive alike.
func (e *Event) Derive() {
	e.Mentions = nil
	if (e.Type == TypeMessage || e.Type == TypeEdit) && !e.Redacted {
		e.Mentions = MentionsIn(e.Text)
	}
}

// Redact removes what a delete erases from a message or edit event: its
// text and what was derived from it.
func (e *Event) Redact() {
	e.Text, e.Mentions, e.Files, e.Redacted = "", nil, nil, true
}

// eventJSON fixes the field order and the time format of the wire shape.
type eventJSON struct {
	ID       ulid.ULID `json:"id"`
	Room     string    `json:"room"`
	Type     string    `json:"type"`
	Author   string    `json:"author"`
	Text     string    `json:"text,omitempty"`
	Time     string    `json:"time"`
	ClientID string    `json:"client_id,omitempty"`
	ReplyTo  string    `json:"reply_to,omitempty"`
	Files    []FileRef `json:"files,omitempty"`
	Mentions []string  `json:"mentions,omitempty"`
	Target   string    `json:"target,omitempty"`
	Emoji    string    `json:"emoji,omitempty"`
	Remove   bool      `json:"remove,omitempty"`
	Moderate bool      `json:"moderated,omitempty"`
	Redacted bool      `json:"redacted,omitempty"`
}

// idString is id's text, or "" for the zero id.
func idString(id ulid.ULID) string {
	if id == (ulid.ULID{}) {
		return ""
	}
	return id.String()
}

// parseOptionalID parses an id field that may be empty.
func parseOptionalID(s string) (ulid.ULID, error) {
	if s == "" {
		return ulid.ULID{}, nil
	}
	return ulid.ParseStrict(s)
}

// MarshalJSON encodes e in Parley's wire shape.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventJSON{
		ID: e.ID, Room: e.Room, Type: e.Type, Author: e.Author, Text: e.Text,
		Time: e.Time.UTC().Format(TimeFormat), ClientID: e.ClientID,
		ReplyTo: idString(e.ReplyTo), Files: e.Files, Mentions: e.Mentions, Target: idString(e.Target), Emoji: e.Emoji,
		Remove: e.Remove, Moderate: e.Moderate, Redacted: e.Redacted,
	})
}

// UnmarshalJSON decodes Parley's wire shape.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil && j.Time != "" {
		return fmt.Errorf("event time: %w", err)
	}
	replyTo, err := parseOptionalID(j.ReplyTo)
	if err != nil {
		return fmt.Errorf("reply_to: %w", err)
	}
	target, err := parseOptionalID(j.Target)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	*e = Event{
		ID: j.ID, Room: j.Room, Type: j.Type, Author: j.Author, Text: j.Text, Time: t, ClientID: j.ClientID,
		ReplyTo: replyTo, Files: j.Files, Mentions: j.Mentions, Target: target, Emoji: j.Emoji, Remove: j.Remove, Moderate: j.Moderate, Redacted: j.Redacted,
	}
	return nil
}

// EncodedEvent is an event's JSON without its id and time, which a log's
// writer splices in once it assigns them: {"id":ID,<mid>,"time":TIME<tail>}.
// Encoding before the id is known keeps the work off the writer.
type EncodedEvent struct {
	mid  []byte // "room":..,"type":..,"author":..[,"text":..]
	tail []byte // the optional fields after time, each with its comma
}

// EncodeParts encodes e's fields but id and time, in the order and escaping
// of MarshalJSON.
func (e *Event) EncodeParts() EncodedEvent {
	b := make([]byte, 0, 64+len(e.Room)+len(e.Author)+len(e.Text))
	b = appendField(b, `"room":`, e.Room)
	b = appendField(b, `,"type":`, e.Type)
	b = appendField(b, `,"author":`, e.Author)
	if e.Text != "" {
		b = appendField(b, `,"text":`, e.Text)
	}
	field := func(b []byte, name, v string) []byte {
		if v == "" {
			return b
		}
		return appendField(b, name, v)
	}
	tail := field(nil, `,"client_id":`, e.ClientID)
	tail = field(tail, `,"reply_to":`, idString(e.ReplyTo))
	tail = appendFiles(tail, e.Files)
	tail = appendStrings(tail, `,"mentions":`, e.Mentions)
	tail = field(tail, `,"target":`, idString(e.Target))
	tail = field(tail, `,"emoji":`, e.Emoji)
	if e.Remove {
		tail = append(tail, `,"remove":true`...)
	}
	if e.Moderate {
		tail = append(tail, `,"moderated":true`...)
	}
	if e.Redacted {
		tail = append(tail, `,"redacted":true`...)
	}
	return EncodedEvent{mid: b, tail: tail}
}

// AppendJSON appends the JSON of the event of type typ with id and the id's
// time to dst: the event's wire shape, byte for byte what MarshalJSON
// writes.
func (p EncodedEvent) AppendJSON(dst []byte, id ulid.ULID) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, id.String()...)
	dst = append(dst, `",`...)
	dst = append(dst, p.mid...)
	dst = append(dst, `,"time":"`...)
	dst = time.UnixMilli(int64(id.Time())).UTC().AppendFormat(dst, TimeFormat)
	dst = append(dst, '"')
	dst = append(dst, p.tail...)
	return append(dst, '}')
}

// Len is an upper bound of the length AppendJSON adds.
func (p EncodedEvent) Len() int { return 80 + len(p.mid) + len(p.tail) }

// appendField appends a name and a string value escaped as encoding/json does.
func appendField(b []byte, name, v string) []byte {
	b = append(b, name...)
	if plainJSON(v) {
		b = append(b, '"')
		b = append(b, v...)
		return append(b, '"')
	}
	s, _ := json.Marshal(v) // a string always encodes
	return append(b, s...)
}

// appendStrings appends a name and a list of strings, if it has any, as
// encoding/json writes them.
func appendStrings(b []byte, name string, list []string) []byte {
	if len(list) == 0 {
		return b
	}
	b = append(b, name...)
	for i, v := range list {
		sep := ","
		if i == 0 {
			sep = "["
		}
		b = appendField(b, sep, v)
	}
	return append(b, ']')
}

// appendFiles appends a message's files, if it has any, as encoding/json
// writes them.
func appendFiles(b []byte, files []FileRef) []byte {
	if len(files) == 0 {
		return b
	}
	js, _ := json.Marshal(files) // plain fields always encode
	b = append(b, `,"files":`...)
	return append(b, js...)
}

// plainJSON reports whether encoding/json writes s as is between quotes:
// printable ASCII without quote, backslash or the HTML characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// Record is an event as the log stores and streams it: the fields needed to
// route it, and its JSON encoding, so replay and export copy bytes instead of
// re-encoding. A Record's JSON is immutable once returned; share, don't modify.
type Record struct {
	ID   ulid.ULID
	Room string
	Type string
	JSON []byte
}

// Decode returns the Event that r encodes.
func (r Record) Decode() (Event, error) {
	var e Event
	err := json.Unmarshal(r.JSON, &e)
	return e, err
}

// ValidateRoom reports whether name is a valid room name:
// ^[a-z0-9][a-z0-9_-]{0,63}$.
func ValidateRoom(name string) error {
	if name == "" || len(name) > 64 {
		return invalid("room", "must be 1 to 64 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return invalid("room", "must match ^[a-z0-9][a-z0-9_-]{0,63}$")
		}
	}
	return nil
}

// Validate checks e as a client submitted it, as far as e alone can tell;
// rules that depend on the log (the target exists, belongs to the author)
// are checked when it is stored. maxText is the text limit in bytes (0:
// none). Every Log implementation calls it before storing e.
func (e *Event) Validate(maxText int) error {
	if err := ValidateRoom(e.Room); err != nil {
		return err
	}
	if err := ValidateAuthor(e.Author); err != nil {
		return err
	}
	if err := validateClientID(e.ClientID); err != nil {
		return err
	}
	if e.Redacted {
		return invalid("redacted", "is set only by the log")
	}
	hasTarget := e.Target != (ulid.ULID{})
	if len(e.Files) > 0 && e.Type != TypeMessage {
		return invalid("files", "only a message carries files")
	}
	switch e.Type {
	case TypeMessage:
		if hasTarget || e.Emoji != "" || e.Remove {
			return invalid("type", "a message has no target, emoji or remove")
		}
		if len(e.Files) > 0 {
			if err := validateFiles(e.Files); err != nil {
				return err
			}
			if e.Text == "" {
				return nil // files alone are a message
			}
		}
		return validateText(e.Text, maxText)
	case TypeEdit:
		if !hasTarget {
			return invalid("target", "is required")
		}
		if e.ReplyTo != (ulid.ULID{}) || e.Emoji != "" || e.Remove {
			return invalid("type", "an edit has only a target and a text")
		}
		return validateText(e.Text, maxText)
	case TypeDelete:
		if !hasTarget {
			return invalid("target", "is required")
		}
		if e.Text != "" || e.ReplyTo != (ulid.ULID{}) || e.Emoji != "" || e.Remove {
			return invalid("type", "a delete has only a target")
		}
	case TypeReaction:
		if !hasTarget {
			return invalid("target", "is required")
		}
		if e.Text != "" || e.ReplyTo != (ulid.ULID{}) {
			return invalid("type", "a reaction has only a target, an emoji and remove")
		}
		return ValidateEmoji(e.Emoji)
	default:
		return invalid("type", fmt.Sprintf("unknown event type %q", e.Type))
	}
	return nil
}

// ValidateEmoji reports whether s can be a reaction: 1 to MaxEmojiBytes of
// UTF-8 with no letters, digits, spaces or control characters, and no ASCII
// but '#' and '*' (of keycap emoji). Refusing '/' and the like also keeps
// every emoji usable as a path segment. Invisible and bidi control
// characters are refused too, so no reaction looks like another; the
// joiners, variation selectors and tags of emoji sequences are kept where
// they join or select something.
func ValidateEmoji(s string) error {
	switch {
	case s == "":
		return invalid("emoji", "is required")
	case len(s) > MaxEmojiBytes:
		return invalid("emoji", fmt.Sprintf("is longer than %d bytes", MaxEmojiBytes))
	case !utf8.ValidString(s):
		return invalid("emoji", "is not valid UTF-8")
	case strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) || unicode.IsControl(r) ||
			r < utf8.RuneSelf && r != '#' && r != '*'
	}) >= 0:
		return invalid("emoji", "must be an emoji, not letters, digits or spaces")
	case strings.IndexFunc(s, emojiInvisible) >= 0 || looseJoiner(s):
		return invalid("emoji", "contains invisible or bidi control characters")
	}
	return nil
}

// ValidateAuthor reports whether a can be an event's author: 1 to
// MaxAuthorLen runes of UTF-8 without control characters, invisible or
// bidi control characters, or spaces but the plain (and ideographic) one,
// so that two authors never look alike by them.
func ValidateAuthor(a string) error {
	switch {
	case strings.TrimSpace(a) == "":
		return invalid("author", "is required")
	case !utf8.ValidString(a):
		return invalid("author", "is not valid UTF-8")
	case utf8.RuneCountInString(a) > MaxAuthorLen:
		return invalid("author", fmt.Sprintf("is longer than %d characters", MaxAuthorLen))
	}
	return checkName("author", a)
}

func validateText(t string, max int) error {
	switch {
	case strings.TrimSpace(t) == "":
		return invalid("text", "is required")
	case !utf8.ValidString(t):
		return invalid("text", "is not valid UTF-8")
	case max > 0 && len(t) > max:
		return fmt.Errorf("%w: text is %d bytes, the limit is %d", ErrTooLarge, len(t), max)
	}
	// Newlines and tabs are text; other control characters are not.
	if i := strings.IndexFunc(t, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
	}); i >= 0 {
		return invalid("text", "contains control characters")
	}
	return nil
}

func validateClientID(id string) error {
	if len(id) > MaxClientIDLen {
		return invalid("client_id", fmt.Sprintf("is longer than %d characters", MaxClientIDLen))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return invalid("client_id", "may contain only letters, digits, '-' and '_'")
		}
	}
	return nil
}
