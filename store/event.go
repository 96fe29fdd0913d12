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

// Event types.
const (
	TypeMessage = "message"
)

// Limits on event fields other than text (whose limit is DB.MaxTextBytes).
const (
	MaxAuthorLen   = 64 // runes
	MaxClientIDLen = 64 // bytes of [A-Za-z0-9_-]
)

// TimeFormat is how an event's time appears in its JSON: UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Event is one entry of the log in its decoded form. Its JSON is the one
// shape Parley uses everywhere: API responses, SSE data and exports.
// ID and Time are assigned by the log; Time is always the ID's timestamp.
type Event struct {
	ID       ulid.ULID
	Room     string
	Type     string
	Author   string
	Text     string
	Time     time.Time
	ClientID string
}

// eventJSON fixes the field order and the time format of the wire shape.
type eventJSON struct {
	ID       ulid.ULID `json:"id"`
	Room     string    `json:"room"`
	Type     string    `json:"type"`
	Author   string    `json:"author"`
	Text     string    `json:"text"`
	Time     string    `json:"time"`
	ClientID string    `json:"client_id,omitempty"`
}

// MarshalJSON encodes e in Parley's wire shape.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventJSON{
		ID: e.ID, Room: e.Room, Type: e.Type, Author: e.Author, Text: e.Text,
		Time: e.Time.UTC().Format(TimeFormat), ClientID: e.ClientID,
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
	*e = Event{ID: j.ID, Room: j.Room, Type: j.Type, Author: j.Author, Text: j.Text, Time: t, ClientID: j.ClientID}
	return nil
}

// encodedEvent is an event's JSON without its id and time, which the writer
// splices in: {"id":ID,<mid>,"time":TIME<tail>}.
type encodedEvent struct {
	mid  []byte // "room":..,"type":..,"author":..,"text":..
	tail []byte // ,"client_id":".." or nothing
}

// encodeParts encodes e's fields in the order and escaping of MarshalJSON.
func (e *Event) encodeParts() encodedEvent {
	b := make([]byte, 0, 64+len(e.Room)+len(e.Author)+len(e.Text)+len(e.ClientID))
	b = appendField(b, `"room":`, e.Room)
	b = appendField(b, `,"type":`, e.Type)
	b = appendField(b, `,"author":`, e.Author)
	b = appendField(b, `,"text":`, e.Text)
	var tail []byte
	if e.ClientID != "" {
		tail = appendField(nil, `,"client_id":`, e.ClientID)
	}
	return encodedEvent{mid: b, tail: tail}
}

// assemble returns the event's JSON with its id and the id's time.
func (p encodedEvent) assemble(id ulid.ULID) []byte {
	b := make([]byte, 0, 80+len(p.mid)+len(p.tail))
	b = append(b, `{"id":"`...)
	b = append(b, id.String()...)
	b = append(b, `",`...)
	b = append(b, p.mid...)
	b = append(b, `,"time":"`...)
	b = time.UnixMilli(int64(id.Time())).UTC().AppendFormat(b, TimeFormat)
	b = append(b, '"')
	b = append(b, p.tail...)
	return append(b, '}')
}

// appendField appends a name and a string value escaped as encoding/json does.
func appendField(b []byte, name, v string) []byte {
	b = append(b, name...)
	s, _ := json.Marshal(v) // a string always encodes
	return append(b, s...)
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

// validate checks e as a client submitted it. maxText is the text limit in
// bytes (0: unlimited).
func (e *Event) validate(maxText int) error {
	if err := ValidateRoom(e.Room); err != nil {
		return err
	}
	if e.Type != TypeMessage {
		return invalid("type", fmt.Sprintf("unknown event type %q", e.Type))
	}
	if err := validateAuthor(e.Author); err != nil {
		return err
	}
	if err := validateText(e.Text, maxText); err != nil {
		return err
	}
	return validateClientID(e.ClientID)
}

func validateAuthor(a string) error {
	switch {
	case strings.TrimSpace(a) == "":
		return invalid("author", "is required")
	case !utf8.ValidString(a):
		return invalid("author", "is not valid UTF-8")
	case utf8.RuneCountInString(a) > MaxAuthorLen:
		return invalid("author", fmt.Sprintf("is longer than %d characters", MaxAuthorLen))
	case strings.IndexFunc(a, unicode.IsControl) >= 0:
		return invalid("author", "contains control characters")
	}
	return nil
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

// encodeValue lays a record out as stored in bbolt: a length-prefixed type,
// then the event JSON.
func encodeValue(typ string, js []byte) []byte {
	v := make([]byte, 0, 1+len(typ)+len(js))
	v = append(v, byte(len(typ)))
	v = append(v, typ...)
	return append(v, js...)
}

// decodeValue splits a stored value into its type and JSON. The JSON aliases
// v: copy it before the transaction ends.
func decodeValue(v []byte) (typ string, js []byte, err error) {
	if len(v) == 0 || int(v[0])+1 > len(v) {
		return "", nil, fmt.Errorf("corrupt record of %d bytes", len(v))
	}
	n := int(v[0])
	return internType(v[1 : 1+n]), v[1+n:], nil
}

// internType avoids an allocation per record for the known types.
func internType(b []byte) string {
	switch string(b) {
	case TypeMessage:
		return TypeMessage
	}
	return string(b)
}
