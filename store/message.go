package store

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
)

// Message is the current state of a message: its message event with every
// edit, delete and reaction that targets it folded in. History pages are
// read from an index of these, updated in the transaction of each change,
// so a page never folds the log.
type Message struct {
	ID        ulid.ULID
	Room      string
	Author    string
	Text      string
	Time      time.Time
	ClientID  string
	ReplyTo   ulid.ULID
	Files     []FileRef // removed by a delete
	Mentions  []string  // of the current text
	EditedAt  time.Time // the last edit's time
	DeletedAt time.Time
	Redacted  bool // deleted: text removed
	Reactions []Reaction
}

// Reaction is one emoji on a message, in the order authors added it.
type Reaction struct {
	Emoji   string   `json:"emoji"`
	Count   int      `json:"count"`
	Authors []string `json:"authors"`
}

// messageJSON is a Message's wire shape: a message event's fields, in the
// same order, then the folded ones.
type messageJSON struct {
	ID        ulid.ULID  `json:"id"`
	Room      string     `json:"room"`
	Type      string     `json:"type"`
	Author    string     `json:"author"`
	Text      string     `json:"text,omitempty"`
	Time      string     `json:"time"`
	ClientID  string     `json:"client_id,omitempty"`
	ReplyTo   string     `json:"reply_to,omitempty"`
	Files     []FileRef  `json:"files,omitempty"`
	Mentions  []string   `json:"mentions,omitempty"`
	EditedAt  string     `json:"edited_at,omitempty"`
	DeletedAt string     `json:"deleted_at,omitempty"`
	Redacted  bool       `json:"redacted,omitempty"`
	Reactions []Reaction `json:"reactions,omitempty"`
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// MarshalJSON encodes m's wire shape. An unchanged message encodes exactly
// as its message event.
func (m Message) MarshalJSON() ([]byte, error) {
	return json.Marshal(messageJSON{
		ID: m.ID, Room: m.Room, Type: TypeMessage, Author: m.Author, Text: m.Text,
		Time: formatTime(m.Time), ClientID: m.ClientID, ReplyTo: idString(m.ReplyTo), Files: m.Files, Mentions: m.Mentions,
		EditedAt: formatTime(m.EditedAt), DeletedAt: formatTime(m.DeletedAt),
		Redacted: m.Redacted, Reactions: m.Reactions,
	})
}

// UnmarshalJSON decodes m's wire shape (or a message event's).
func (m *Message) UnmarshalJSON(b []byte) error {
	var j messageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var err error
	*m = Message{ID: j.ID, Room: j.Room, Author: j.Author, Text: j.Text, ClientID: j.ClientID, Files: j.Files, Mentions: j.Mentions, Redacted: j.Redacted, Reactions: j.Reactions}
	if m.Time, err = parseTime(j.Time); err != nil {
		return err
	}
	if m.EditedAt, err = parseTime(j.EditedAt); err != nil {
		return err
	}
	if m.DeletedAt, err = parseTime(j.DeletedAt); err != nil {
		return err
	}
	m.ReplyTo, err = parseOptionalID(j.ReplyTo)
	return err
}

// NewMessage is the state of a message event before any change.
func NewMessage(e Event) Message {
	return Message{
		ID: e.ID, Room: e.Room, Author: e.Author, Text: e.Text, Time: e.Time,
		ClientID: e.ClientID, ReplyTo: e.ReplyTo, Files: e.Files, Mentions: e.Mentions, Redacted: e.Redacted,
	}
}

// Permit reports whether change e may be stored against m, the current
// state of its target, by the rules every log applies to appends and
// imports alike: only its author edits or deletes a message, unless the
// change is moderated (an admin's); a deleted message takes no edit and no
// reaction. It returns nil, ErrForbidden or a *ConflictError.
func (m *Message) Permit(e Event) error {
	switch {
	case (e.Type == TypeEdit || e.Type == TypeDelete) && e.Author != m.Author && !e.Moderate:
		return ErrForbidden
	case (e.Type == TypeEdit || e.Type == TypeReaction) && m.Redacted:
		return Conflict("the message was deleted")
	}
	return nil
}

// Moderated reports whether change e, permitted against m, used an admin's
// permission: an edit or delete of another author's message. The log keeps
// "moderated" on exactly those changes, so an import of them passes Permit
// as the append did.
func (m *Message) Moderated(e Event) bool {
	return e.Moderate && e.Author != m.Author && (e.Type == TypeEdit || e.Type == TypeDelete)
}

// Apply folds a change (edit, delete or reaction of m) into m and reports
// whether it changed anything. It checks no permission: the log does that
// before storing a change, and a stored change always applies this way, in
// every Log implementation.
func (m *Message) Apply(e Event) bool {
	switch e.Type {
	case TypeEdit:
		if m.Redacted || e.Redacted || e.Text == m.Text {
			return false
		}
		m.Text, m.Mentions, m.EditedAt = e.Text, e.Mentions, e.Time
	case TypeDelete:
		if !m.DeletedAt.IsZero() {
			return false
		}
		m.Text, m.Mentions, m.Redacted, m.DeletedAt, m.EditedAt, m.Reactions = "", nil, true, e.Time, time.Time{}, nil
		m.Files = nil
	case TypeReaction:
		if m.Redacted {
			return false
		}
		i := slices.IndexFunc(m.Reactions, func(r Reaction) bool { return r.Emoji == e.Emoji })
		switch {
		case e.Remove && i < 0:
			return false
		case e.Remove:
			r := &m.Reactions[i]
			j := slices.Index(r.Authors, e.Author)
			if j < 0 {
				return false
			}
			r.Authors = slices.Delete(slices.Clone(r.Authors), j, j+1)
			r.Count = len(r.Authors)
			if r.Count == 0 {
				m.Reactions = slices.Delete(slices.Clone(m.Reactions), i, i+1)
			}
		case i < 0:
			m.Reactions = append(slices.Clone(m.Reactions), Reaction{Emoji: e.Emoji, Count: 1, Authors: []string{e.Author}})
		default:
			r := &m.Reactions[i]
			if slices.Contains(r.Authors, e.Author) {
				return false
			}
			r.Authors = append(slices.Clone(r.Authors), e.Author)
			r.Count = len(r.Authors)
		}
	default:
		return false
	}
	if len(m.Reactions) == 0 {
		m.Reactions = nil
	}
	return true
}

// Clone returns a copy of m that shares nothing mutable with it.
func (m Message) Clone() Message {
	m.Mentions = slices.Clone(m.Mentions)
	m.Files = slices.Clone(m.Files)
	m.Reactions = slices.Clone(m.Reactions)
	for i := range m.Reactions {
		m.Reactions[i].Authors = slices.Clone(m.Reactions[i].Authors)
	}
	return m
}

// Fold computes the state of every message from a room's events in id
// order, from scratch; changes to messages not among the events are
// skipped (retention may have deleted them). The log keeps the same states incrementally; Fold is
// the reference they must equal.
func Fold(events []Event) []Message {
	var (
		out   []Message
		index = map[ulid.ULID]int{}
	)
	for _, e := range events {
		if e.Type == TypeMessage {
			index[e.ID] = len(out)
			out = append(out, NewMessage(e))
			continue
		}
		// A change whose message retention deleted has nothing to change.
		if i, ok := index[e.Target]; ok {
			out[i].Apply(e)
		}
	}
	return out
}
