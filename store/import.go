package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
)

// ImportError says which line of an import is wrong. It wraps ErrInvalid.
type ImportError struct {
	Line int
	Err  error
}

func (e *ImportError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ImportError) Unwrap() error { return ErrInvalid }

// ImportReport counts what an import did.
type ImportReport struct {
	Lines    int `json:"lines"`
	Imported int `json:"imported"`
	Skipped  int `json:"skipped"` // already in the log, identical
}

// ParseImportLine decodes one line of a JSON-lines export and checks it on
// its own: an event with an id, its time the id's time, and valid fields (a
// redacted message or edit may lack its text; "moderated" is only on edits
// and deletes). maxText is the log's text limit in bytes (0: none): an
// import obeys it like an append. Rules between lines and against the log
// are the importer's.
func ParseImportLine(line []byte, maxText int) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("malformed event: %v", err)
	}
	if dec.More() {
		return e, errors.New("more than one JSON value on the line")
	}
	if e.ID == (ulid.ULID{}) {
		return e, errors.New("id is missing")
	}
	if want := time.UnixMilli(int64(e.ID.Time())); !e.Time.Equal(want) {
		return e, fmt.Errorf("time %s is not the id's time %s", e.Time.UTC().Format(TimeFormat), want.UTC().Format(TimeFormat))
	}
	if e.Moderate && e.Type != TypeEdit && e.Type != TypeDelete {
		return e, invalid("moderated", "is only set on edits and deletes")
	}
	// A redacted message or edit had its text removed by a delete.
	check := e
	if e.Redacted && (e.Type == TypeMessage || e.Type == TypeEdit) && e.Text == "" {
		check.Redacted, check.Text = false, "redacted"
	}
	if err := check.Validate(maxText); err != nil {
		return e, err
	}
	e.Derive() // mentions are the log's, whatever the line says
	return e, nil
}

// SameEvent reports whether stored, an event's JSON as a log holds it, is
// the event e: the bytes of e's JSON, or of e's JSON without mentions (an
// event stored before logs derived them). Import uses it to skip what a
// log has already.
func SameEvent(stored []byte, e Event) bool {
	canon, err := e.MarshalJSON()
	if err == nil && bytes.Equal(stored, canon) {
		return true
	}
	if len(e.Mentions) == 0 {
		return false
	}
	e.Mentions = nil
	canon, err = e.MarshalJSON()
	return err == nil && bytes.Equal(stored, canon)
}

// CheckIDTime refuses an id that no input may bring into a log: one dated
// more than skew after now (the log's clock), because every later id is
// drawn above the newest one, so a single id from the future would date
// every new event after it; or one dated after MaxTime.
func CheckIDTime(id ulid.ULID, now time.Time, skew time.Duration) error {
	t := time.UnixMilli(int64(id.Time())).UTC()
	switch {
	case t.After(MaxTime):
		return invalid("id", fmt.Sprintf("%s is dated after the year 9999, which an event's time cannot say", id))
	case t.After(now.Add(skew)):
		return invalid("id", fmt.Sprintf("%s is dated %s, more than %v after the server's clock (%s)",
			id, t.Format(TimeFormat), skew, now.UTC().Format(TimeFormat)))
	}
	return nil
}

// ImportLineLimit is the longest line an import reads, in bytes: more than
// the longest event a log with text limit maxText can hold (its text with
// every byte escaped), and at least 4 MiB.
func ImportLineLimit(maxText int) int {
	return max(4<<20, 6*maxText+64<<10)
}
