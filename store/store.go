// Package store is Parley's domain: the events a room's log holds (their
// types, validation, wire encoding and how changes fold into messages),
// accounts, and the interfaces through which the rest of Parley reaches
// storage, with every promise callers rely on. Implementations live in
// subpackages (store/bolt: one bbolt file) and apply the rules exported
// here, so every implementation validates, folds and encodes identically;
// store/storetest checks each of them against the same contract.
package store

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store/search"
)

// Log is the event log: the interface the rest of Parley uses to append,
// read, stream and maintain history. Every implementation keeps these
// promises, which store/storetest checks:
//
//   - Append assigns ids that are strictly increasing across the whole log,
//     and returns only once the event is durable.
//   - One order: commit order, id order and the order subscribers see are
//     the same.
//   - Visibility: a record handed to a Subscribe function is already visible
//     to ReadAfter, ReadReplay, ReadBefore and Messages (a stream that
//     subscribes, then reads after its cursor, misses nothing), and no
//     record is handed over that was not committed.
//   - Reads after a cursor return records in id order, and a read never
//     returns less than an earlier read that completed before it began
//     (reads never go backwards), except for what retention deleted.
//   - No silent gaps: retention deletes a room's oldest events first, and
//     ReadReplay reports what it deleted after the cursor in the same
//     snapshot as the records it returns. Every event of a room after the
//     cursor and before the last record returned (on a page shorter than
//     its limit: every event after the cursor) is either returned or at or
//     below its Gap's Pruned, however pruning interleaves with a stream's
//     reads.
//
// A message may carry files (Event.Files): the uploads, their records and
// the promises about their bytes are the Files interface's (file.go); a Log
// that stores messages with files also implements Files.
//
// All methods are safe for concurrent use.
type Log interface {
	// Append validates e, derives its mentions (Event.Derive), assigns its
	// id and time, stores it durably and returns the stored record with
	// created true. Nothing is stored, and
	// created is false, when e carries a ClientID already used in its room
	// (rec is the original event) or when e is a change that would change
	// nothing (rec is the target message's current state, as Messages
	// returns it). Errors: a *ValidationError (wrapping ErrInvalid) or
	// ErrTooLarge for bad input; ErrNotFound for a target not in the room;
	// ErrForbidden for an edit or delete by another author; ErrConflict for
	// an edit or reaction to a deleted message; ErrClosed after Close.
	//
	// A ClientID is scoped to its room and author: another author's event
	// never answers a retry. An edit or delete with Moderate set may change
	// another author's message; the stored event keeps Moderate
	// ("moderated":true) only when it did. A delete returns once committed,
	// like any append: the deleted text is then gone from every read path
	// and from the storage's live data. Copies the storage may keep outside
	// its live data (bbolt's free pages) are erased in the background,
	// whatever their number, without delaying the delete; Stats reports
	// that work.
	Append(ctx context.Context, e Event) (rec Record, created bool, err error)

	// Stats reports the log's background work, for metrics. It is cheap
	// and never fails; after Close it reports the last counts.
	Stats() LogStats

	// ReadAfter returns up to limit records of the given rooms with ids
	// greater than after, in ascending id order.
	ReadAfter(ctx context.Context, rooms []string, after ulid.ULID, limit int) ([]Record, error)

	// ReadReplay returns what ReadAfter returns and, from the same snapshot
	// of the log (one read transaction), a Gap for every room of rooms
	// whose retention deleted events with ids greater than after. A
	// stream catching up reads each page with it, so a prune between two
	// pages, or before the first, is always told to the client.
	ReadReplay(ctx context.Context, rooms []string, after ulid.ULID, limit int) (Replay, error)

	// ReadBefore returns the limit records of room just before the id before
	// (the newest ones if before is zero), in ascending id order.
	ReadBefore(ctx context.Context, room string, before ulid.ULID, limit int) ([]Record, error)

	// Messages returns a page of room's messages in their current state
	// (edits, deletes and reactions folded in), in ascending id order.
	Messages(ctx context.Context, room string, p Page) ([]Record, error)

	// Horizon returns the id of the newest event of room that retention
	// deleted (zero if none) and of the oldest event it still has. It is a
	// snapshot of its own: a stream uses ReadReplay instead, since pruning
	// may run between Horizon and a later read.
	Horizon(ctx context.Context, room string) (pruned, oldest ulid.ULID, err error)

	// Rooms lists every room that has at least one event, by name.
	Rooms(ctx context.Context) ([]Room, error)

	// Mentions returns up to limit messages that mention name (see
	// MentionsIn), in their current state, newest first, with ids below
	// before (zero: from the newest). A message by name itself, a deleted
	// one and one retention deleted are not listed; an edit that adds or
	// removes the name adds or removes the message. Only messages of rooms
	// for which readable is true are returned; readable is called outside
	// the log's own locks and transactions (it may read accounts), at most
	// once per room.
	Mentions(ctx context.Context, name string, before ulid.ULID, limit int, readable func(room string) (bool, error)) ([]Record, error)

	// Search returns up to limit messages of rooms that match q, in their
	// current state, newest first, with ids below before (zero: from the
	// newest), and the byte ranges of their text to highlight. What
	// matches is store.SearchMatch, the same for every log: a deleted
	// message never does, an edit is found by its new text only, and what
	// retention deleted is gone. The next page is the one below the last
	// id returned. Only the rooms listed are read: a room the caller may
	// not read must not be passed, and nothing of it (not even a count)
	// can then show. A result reflects every append acknowledged before
	// the call began.
	Search(ctx context.Context, rooms []string, q *search.Query, before ulid.ULID, limit int) ([]SearchHit, error)

	// Subscribe registers fn to be called with each batch of committed
	// records, in commit (= id) order, from a single goroutine. fn must not
	// block: a slow fn delays every append. The returned func unregisters
	// fn; it is safe to call more than once.
	Subscribe(fn func([]Record)) (unsubscribe func())

	// ObserveCommits registers fn, replacing any function registered
	// before, to be called after every successful commit with the number of
	// events it stored and how long it took (durability included), for
	// metrics. Like a Subscribe function it runs on the writer and must be
	// cheap. It may be called at any time.
	ObserveCommits(fn func(events int, took time.Duration))

	// Import reads a JSON-lines export of room (one event per line, as
	// export writes it; see ParseImportLine) and stores the events the log
	// does not have yet, ids preserved. The whole input is checked before
	// anything is stored: a bad input is an *ImportError naming its line.
	// The rules of Append hold (the text limit, Message.Permit, client ids
	// per author), and no event may be dated more than a small, documented
	// skew ahead of the log's clock (CheckIDTime), so no input can move the
	// id sequence into the future. Later appends get ids above every
	// imported id. Imported events are history: they are not handed to
	// subscribers.
	Import(ctx context.Context, room string, src io.ReadSeeker) (ImportReport, error)

	// Backup writes a consistent copy of everything the log keeps (events
	// and accounts) to w while the log keeps serving. size, if set, is
	// called with the copy's length before any byte is written.
	Backup(w io.Writer, size func(int64)) (int64, error)

	// RoomRetention returns a room's own retention (nil: it follows the
	// log's default). A room needs no events to have settings.
	RoomRetention(ctx context.Context, room string) (*Retention, error)

	// SetRoomRetention sets a room's own retention; nil returns it to the
	// default. Pruning applies it at its next run.
	SetRoomRetention(ctx context.Context, room string, r *Retention) error

	// Size returns how many bytes the log takes on this node's disk.
	Size() (int64, error)

	// Ping reports whether the log can be read: nil when healthy, ErrClosed
	// after Close.
	Ping(ctx context.Context) error

	// Close finishes the appends in flight and releases the log; afterwards
	// every method fails with ErrClosed. It is safe to call more than once.
	Close() error
}

// LogStats count a log's background work.
type LogStats struct {
	// ScrubPending is how many deleted events may still have stale copies
	// outside the log's live data, waiting to be erased.
	ScrubPending int64
	// ScrubPasses counts completed erasing passes (one pass serves every
	// delete queued before it began).
	ScrubPasses int64
	// ScrubFailures counts failed passes; their work stays queued and is
	// retried.
	ScrubFailures int64
}

// Sentinel errors returned by the store. Callers match them with errors.Is.
var (
	// ErrInvalid is returned (wrapped in a *ValidationError) when an event or
	// a room name breaks the rules in Validate.
	ErrInvalid = errors.New("invalid")

	// ErrTooLarge is returned when an event's text is longer than the
	// store's MaxTextBytes.
	ErrTooLarge = errors.New("text too large")

	// ErrNotFound is returned when a room, event or record does not exist.
	// Errors that can say what was not found are a *NotFoundError.
	ErrNotFound = errors.New("not found")

	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store closed")

	// ErrForbidden is returned when an author changes someone else's message.
	ErrForbidden = errors.New("only the author may change this message")

	// ErrConflict is returned when a change cannot apply to the current
	// state of what it changes: editing or reacting to a deleted message,
	// adding a user whose name is taken, removing the last admin. Each use
	// says which, as a *ConflictError.
	ErrConflict = errors.New("conflict")

	// ErrUnavailable is returned when a change cannot be confirmed now: a
	// cluster node that cannot reach a quorum, or has not yet applied what
	// it stored. Errors that say which are an *UnavailableError; a retry
	// with the same client id is safe.
	ErrUnavailable = errors.New("temporarily unavailable")

	// ErrCorrupt is returned when stored data is damaged: a truncated file,
	// bad metadata, or a failed consistency check. Parley never repairs
	// damaged storage by itself.
	ErrCorrupt = errors.New("database file is corrupt")
)

// ValidationError says which rule an input broke. It wraps ErrInvalid.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid returns a *ValidationError: field breaks a rule, for reason.
func Invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }

func invalid(field, reason string) error { return Invalid(field, reason) }

// NotFoundError says what does not exist. It wraps ErrNotFound.
type NotFoundError struct {
	What string // like "message 01M8... in room general"
}

func (e *NotFoundError) Error() string { return "no such " + e.What }

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// NotFound returns a *NotFoundError: there is no such what.
func NotFound(what string) error { return &NotFoundError{What: what} }

// ConflictError says why a change cannot apply. It wraps ErrConflict.
type ConflictError struct {
	Reason string // like "the message was deleted"
}

func (e *ConflictError) Error() string { return e.Reason }

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Conflict returns a *ConflictError: a change cannot apply, for reason.
func Conflict(reason string) error { return &ConflictError{Reason: reason} }

// UnavailableError says why a change could not be confirmed now. It wraps
// ErrUnavailable.
type UnavailableError struct {
	Reason string // like "the cluster did not confirm the message in time"
}

func (e *UnavailableError) Error() string { return e.Reason }

// Unwrap makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

// Unavailable returns an *UnavailableError: a change is not confirmed, for reason.
func Unavailable(reason string) error { return &UnavailableError{Reason: reason} }
