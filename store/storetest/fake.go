package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// Fake is an in-memory store.Store (a Log and its Marks) for the tests of the packages above the
// store. It keeps the whole contract (its own test runs Run against it) by
// applying package store's rules, as every Log must, and lets a test stop
// or disturb it exactly where a real log's races happen (see Hooks): an
// overflow during a stream's replay, a Close mid-catch-up, a prune between
// two reads, a slow or failing read. Nothing it stores outlives the process.
//
// Set its exported fields before Open. All methods are safe for concurrent
// use.
type Fake struct {
	// MaxTextBytes limits an event's text, in bytes (0: no limit).
	MaxTextBytes int
	// Retention is what rooms without their own retention keep (the zero
	// value keeps everything).
	Retention store.Retention
	// PruneEvery is the interval of background pruning (0: none; a test
	// calls Prune when it wants retention applied).
	PruneEvery time.Duration
	// Now is the clock that stamps ids.
	Now func() time.Time
	// MaxClockSkew is how far ahead of Now an imported event may be dated.
	MaxClockSkew time.Duration

	hooksMu sync.Mutex // guards hooks
	hooks   Hooks

	// writeMu serialises commits with their publishing, so that commit
	// order is publish order. No read hook runs while it is held.
	writeMu sync.Mutex
	subsMu  sync.Mutex // guards subs and observe
	subs    map[*func([]store.Record)]struct{}
	observe func(events int, took time.Duration)

	mu       sync.RWMutex // guards everything below
	opened   bool
	closed   bool
	rooms    map[string]*fakeRoom
	settings map[string]store.Retention
	cids     map[string]ulid.ULID // room NUL author NUL client id → the event that used it
	cidOf    map[ulid.ULID]string // the reverse, so retention forgets them too
	marks    map[string]ulid.ULID // person NUL room → read marker
	files    fakeFiles            // see fakefiles.go
	blobs    *MemBlobs            // the files' bytes; safe on its own
	last     ulid.ULID            // the highest id stored
	stop     chan struct{}        // closed by Close: stops the pruner
	pruner   sync.WaitGroup
}

// Hooks are where a test reaches into a Fake. Each runs, when set, on the
// goroutine of the call that reaches it, with no lock of the Fake held, so
// it may block, append, prune or Close the Fake (unless it says otherwise).
type Hooks struct {
	// BeforeRead runs as a read begins, before its snapshot: blocking in it
	// makes a slow read, and an error it returns fails the read.
	BeforeRead func(ctx context.Context, op Op) error
	// AfterRead runs once a read has taken its snapshot and before it
	// returns, with the number of records (or rooms) it read: what it
	// appends or prunes is not in the read's result.
	AfterRead func(ctx context.Context, op Op, n int)
	// BeforePublish runs after a commit, before its records go to the
	// subscribers (they are already visible to reads). Every later append
	// waits for it, as for a slow subscriber; it must not append, import or
	// prune itself.
	BeforePublish func(recs []store.Record)
}

// Op names a read, for Hooks.
type Op string

// The reads of a Fake.
const (
	OpReadAfter  Op = "ReadAfter"
	OpReadReplay Op = "ReadReplay"
	OpReadBefore Op = "ReadBefore"
	OpMessages   Op = "Messages"
	OpHorizon    Op = "Horizon"
	OpRooms      Op = "Rooms"
	OpMentions   Op = "Mentions"
	OpMarks      Op = "Marks" // Mark and Unread
)

// NewFake returns a Fake with default settings: the limits of a real log,
// the wall clock, no retention.
func NewFake() *Fake {
	return &Fake{MaxTextBytes: 16 << 10, Now: time.Now, MaxClockSkew: 5 * time.Minute}
}

// OpenFake opens a Fake with default settings changed by configure, and
// closes it at tb's cleanup.
func OpenFake(tb testing.TB, configure ...func(*Fake)) *Fake {
	tb.Helper()
	f := NewFake()
	for _, c := range configure {
		c(f)
	}
	if err := f.Open(); err != nil {
		tb.Fatalf("open fake log: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// Open checks the settings and starts background pruning if PruneEvery is
// set.
func (f *Fake) Open() error {
	if f.Now == nil || f.PruneEvery < 0 {
		return errors.New("storetest: Now must be set and PruneEvery not negative")
	}
	if err := f.Retention.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opened {
		return errors.New("storetest: fake opened twice")
	}
	f.opened = true
	f.rooms = map[string]*fakeRoom{}
	f.settings = map[string]store.Retention{}
	f.cids, f.cidOf = map[string]ulid.ULID{}, map[ulid.ULID]string{}
	f.marks = map[string]ulid.ULID{}
	f.files.init()
	if f.blobs == nil {
		f.blobs = NewMemBlobs()
	}
	f.stop = make(chan struct{})
	if f.PruneEvery > 0 {
		f.pruner.Add(1)
		go f.pruneLoop()
	}
	return nil
}

// Close implements store.Log. Calls already past their check of the Fake
// complete; every later one fails with store.ErrClosed.
func (f *Fake) Close() error {
	f.mu.Lock()
	if f.closed || !f.opened {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.stop)
	f.mu.Unlock()
	f.pruner.Wait()
	return nil
}

// SetHooks replaces the Fake's hooks; the zero Hooks removes them. A call
// already under way keeps the hooks it started with.
func (f *Fake) SetHooks(h Hooks) {
	f.hooksMu.Lock()
	f.hooks = h
	f.hooksMu.Unlock()
}

func (f *Fake) currentHooks() Hooks {
	f.hooksMu.Lock()
	defer f.hooksMu.Unlock()
	return f.hooks
}

// usable returns store.ErrClosed unless the Fake is open. f.mu must be held.
func (f *Fake) usable() error {
	if !f.opened || f.closed {
		return store.ErrClosed
	}
	return nil
}

// Append implements store.Log.
func (f *Fake) Append(ctx context.Context, e store.Event) (store.Record, bool, error) {
	if err := e.Validate(f.MaxTextBytes); err != nil {
		return store.Record{}, false, err
	}
	e.Derive()
	if err := ctx.Err(); err != nil {
		return store.Record{}, false, err
	}
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	start := time.Now()
	f.mu.Lock()
	rec, created, err := f.store(e)
	f.mu.Unlock()
	if err == nil && created {
		f.publish([]store.Record{rec}, time.Since(start))
	}
	return rec, created, err
}

// store applies the log's rules to a valid event and stores it, or answers
// without storing. f.mu must be held for writing.
func (f *Fake) store(e store.Event) (store.Record, bool, error) {
	if err := f.usable(); err != nil {
		return store.Record{}, false, err
	}
	r := f.rooms[e.Room]
	if id, ok := f.cids[cidKey(e.Room, e.Author, e.ClientID)]; ok && e.ClientID != "" {
		return r.log[r.findIn(id)], false, nil
	}
	if e.Type == store.TypeMessage {
		if e.ReplyTo != (ulid.ULID{}) && (r == nil || !r.hasMessage(e.ReplyTo)) {
			return store.Record{}, false, store.Invalid("reply_to", "no such message in this room")
		}
		if err := f.fillFiles(&e); err != nil {
			return store.Record{}, false, err
		}
		e.Moderate = false
	} else {
		if r == nil || !r.hasMessage(e.Target) {
			return store.Record{}, false, store.NotFound("message " + e.Target.String() + " in room " + e.Room)
		}
		m := r.msgs[e.Target]
		if err := m.Permit(e); err != nil {
			return store.Record{}, false, err
		}
		e.Moderate = m.Moderated(e)
		e.Time = f.Now()
		if next := m.Clone(); !next.Apply(e) {
			js, err := m.MarshalJSON()
			return store.Record{ID: m.ID, Room: m.Room, Type: store.TypeMessage, JSON: js}, false, err
		}
	}
	if r == nil {
		r = f.room(e.Room)
	}
	e.ID = f.nextID()
	e.Time = time.UnixMilli(int64(e.ID.Time())).UTC()
	rec := store.Record{ID: e.ID, Room: e.Room, Type: e.Type, JSON: e.EncodeParts().AppendJSON(nil, e.ID)}
	if err := f.add(r, rec, e); err != nil {
		return store.Record{}, false, err
	}
	f.rememberClientID(e)
	return rec, true, nil
}

// add adds rec, the record of e, to r and keeps the file records in step
// with the message it adds or changes. f.mu must be held for writing.
func (f *Fake) add(r *fakeRoom, rec store.Record, e store.Event) error {
	old, had := r.msgs[e.Target]
	if e.Type == store.TypeMessage || !had {
		if err := r.add(rec, e); err != nil || e.Type != store.TypeMessage {
			return err
		}
		m := r.msgs[e.ID]
		f.followFiles(rec.Room, nil, &m)
		return nil
	}
	old = old.Clone()
	if err := r.add(rec, e); err != nil {
		return err
	}
	m := r.msgs[e.Target]
	f.followFiles(rec.Room, &old, &m)
	return nil
}

// room returns the named room, creating it. f.mu must be held for writing.
func (f *Fake) room(name string) *fakeRoom {
	r := f.rooms[name]
	if r == nil {
		r = &fakeRoom{msgs: map[ulid.ULID]store.Message{}, edits: map[ulid.ULID][]ulid.ULID{}}
		f.rooms[name] = r
	}
	return r
}

// rememberClientID records e's client id, if it has one not yet used.
func (f *Fake) rememberClientID(e store.Event) {
	k := cidKey(e.Room, e.Author, e.ClientID)
	if _, used := f.cids[k]; e.ClientID == "" || used {
		return
	}
	f.cids[k], f.cidOf[e.ID] = e.ID, k
}

func cidKey(room, author, cid string) string { return room + "\x00" + author + "\x00" + cid }

// nextID returns an id above every id stored: the clock's millisecond with
// zero entropy, or the last id plus one while the clock has not passed it.
// Predictable ids are a feature in a fake.
func (f *Fake) nextID() ulid.ULID {
	var id ulid.ULID
	if ms := ulid.Timestamp(f.Now()); ms > f.last.Time() {
		_ = id.SetTime(ms)
	} else {
		id = f.last
		for i := len(id) - 1; i >= 0; i-- {
			if id[i]++; id[i] != 0 {
				break
			}
		}
	}
	f.last = id
	return id
}

// publish hands a commit's records to the subscribers. f.writeMu must be
// held, so batches go out one at a time, in commit order.
func (f *Fake) publish(recs []store.Record, took time.Duration) {
	if h := f.currentHooks().BeforePublish; h != nil {
		h(recs)
	}
	f.subsMu.Lock()
	fns := make([]func([]store.Record), 0, len(f.subs))
	for fn := range f.subs {
		fns = append(fns, *fn)
	}
	observe := f.observe
	f.subsMu.Unlock()
	if observe != nil {
		observe(len(recs), took)
	}
	for _, fn := range fns {
		fn(recs)
	}
}

// Subscribe implements store.Log. Functions are called one batch at a time,
// in commit order, on the goroutine of the append that committed it.
func (f *Fake) Subscribe(fn func([]store.Record)) (unsubscribe func()) {
	key := &fn
	f.subsMu.Lock()
	if f.subs == nil {
		f.subs = map[*func([]store.Record)]struct{}{}
	}
	f.subs[key] = struct{}{}
	f.subsMu.Unlock()
	return func() {
		f.subsMu.Lock()
		delete(f.subs, key)
		f.subsMu.Unlock()
	}
}

// ObserveCommits implements store.Log.
func (f *Fake) ObserveCommits(fn func(events int, took time.Duration)) {
	f.subsMu.Lock()
	f.observe = fn
	f.subsMu.Unlock()
}

// Stats implements store.Log: a Fake keeps no stale copies, so it has no
// background work.
func (f *Fake) Stats() store.LogStats { return store.LogStats{} }

// Ping implements store.Log.
func (f *Fake) Ping(ctx context.Context) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.usable()
}
