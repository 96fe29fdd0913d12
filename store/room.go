package store

import "github.com/oklog/ulid/v2"

// Room describes a room that has events.
type Room struct {
	Name   string `json:"name"`
	Events uint64 `json:"events"`
	// Messages counts the room's messages that are not deleted (what a
	// reader calls the room's size; Events counts edits and reactions too).
	Messages uint64    `json:"messages"`
	LastID   ulid.ULID `json:"last_id"`
}

// Page selects a page of a room's messages by id: the Limit messages after
// After when Forward, else the Limit messages just before Before (the newest
// ones if Before is zero). Around, when set, wins over the others: the page
// centred on message Around, which is (Limit-1)/2 messages before it (fewer
// at the start of the room), the message itself, and the rest of Limit
// after it (fewer at the end), so a caller can tell from the counts on each
// side whether more exist; ErrNotFound if Around is not a message of the
// room.
type Page struct {
	After, Before ulid.ULID
	Around        ulid.ULID
	Forward       bool
	Limit         int
}

// AroundSplit returns how many messages a page of limit messages centred on
// one holds before it and after it.
func AroundSplit(limit int) (before, after int) {
	before = (limit - 1) / 2
	return before, max(limit-1-before, 0)
}
