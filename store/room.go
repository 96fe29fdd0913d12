package store

import "github.com/oklog/ulid/v2"

// Room describes a room that has events.
type Room struct {
	Name   string    `json:"name"`
	Events uint64    `json:"events"`
	LastID ulid.ULID `json:"last_id"`
}

// Page selects a page of a room's messages by id: the Limit messages after
// After when Forward, else the Limit messages just before Before (the newest
// ones if Before is zero).
type Page struct {
	After, Before ulid.ULID
	Forward       bool
	Limit         int
}
