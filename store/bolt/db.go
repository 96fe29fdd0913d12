// Package bolt is Parley's storage in one bbolt file: the event log (a
// store.Log) and accounts (a store.Accounts). One writer goroutine commits
// appends in groups and assigns their ids; the rules of what may be stored
// are the store package's, applied here.
package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/blobdir"
)

// Layout of the bbolt file (schema version 2; migrate.go upgrades older
// files at Open):
//
//	meta/version              schema version
//	meta/last_id              16-byte id of the newest event ever committed
//	rooms/<room>/count        8-byte big-endian number of events
//	rooms/<room>/log/<id>     stored record (see encodeValue)
//	rooms/<room>/msgs/<id>    each message's state: empty while it equals
//	                          the message event, else the Message JSON
//	rooms/<room>/edits/<message id><edit id>   empty; finds edits to redact
//	rooms/<room>/pruned       id of the newest event retention deleted
//	settings/<room>           the room's own Retention, JSON; a room needs
//	                          no events to have settings
//	cids/<room>\x00<author>\x00<cid>   16-byte id of the event that used the
//	                          client id: scoped to its author
//	cids_by_id/<id>           the cids key, so old client ids expire in id order
//	scrub/<id>                <room>: a redacted event whose stale copies in
//	                          free pages are still to be overwritten
//	counts/..., mentions/..., marks/...: see mention.go and marks.go
//	search/...: the full-text index, see searchindex.go
var (
	bucketMeta      = []byte("meta")
	bucketRooms     = []byte("rooms")
	bucketSettings  = []byte("settings")
	bucketCIDs      = []byte("cids")
	bucketCIDsByID  = []byte("cids_by_id")
	bucketScrub     = []byte("scrub")
	bucketLog       = []byte("log")
	bucketMsgs      = []byte("msgs")
	bucketEdits     = []byte("edits")
	keyVersion      = []byte("version")
	keyLastID       = []byte("last_id")
	keyCount        = []byte("count")
	schemaVersion   = []byte{2}
	errVersionDrift = errors.New("unsupported schema version")
)

// DB is the bbolt implementation of Log. Set its exported fields before Open.
// All methods are safe for concurrent use.
type DB struct {
	// Path is the bbolt file; it is created if missing.
	Path string
	// LockTimeout bounds the wait for another process's lock on Path.
	LockTimeout time.Duration
	// MaxTextBytes limits an event's text, in bytes of UTF-8 (0: no limit).
	MaxTextBytes int
	// MaxBatch caps the number of appends committed in one transaction.
	MaxBatch int
	// Linger is how long the writer waits for more appends before a commit
	// when the previous commit held several (0: never waits). Alone, an
	// append never waits.
	Linger time.Duration
	// DedupWindow is how long a client id is remembered (at least).
	DedupWindow time.Duration
	// MaxClockSkew is how far ahead of Now an imported event may be dated.
	// Later ids are drawn above the newest one, so no input may date an id
	// further ahead than this (see store.CheckIDTime).
	MaxClockSkew time.Duration
	// Retention is what rooms without their own retention keep (the zero
	// value keeps everything).
	Retention store.Retention
	// PruneEvery is the interval of background pruning: retention and
	// expired client ids, in small transactions.
	PruneEvery time.Duration
	// Now is the clock that stamps ids.
	Now func() time.Time
	// Logger receives background errors.
	Logger *slog.Logger
	// BlobStore keeps the bytes of uploaded files (nil: a directory beside
	// the file, Path+".files", opened by Open).
	BlobStore store.Blobs
	// UploadTTL is how long an upload may wait for a message before the
	// pruner collects it (0: never).
	UploadTTL time.Duration
	// OrphanAge is how old an object no record references must be before
	// the pruner erases it: longer than any upload takes between writing
	// its bytes and registering them (0: never).
	OrphanAge time.Duration
	// Replica makes the file a cluster node's replica (see replica.go):
	// Append and Import are refused (ErrReplica), only Apply writes events,
	// and no pruner runs (the cluster's ticks prune).
	Replica bool

	db    *bbolt.DB
	queue chan *appendReq

	mu     sync.RWMutex // guards closed; shared while enqueueing so Close waits for senders
	closed bool

	stop       chan struct{} // closed by Close: stops the pruner
	writerDone chan struct{}
	prunerDone chan struct{}

	scrubs  scrubber // the background scrub of deleted text
	readers readers  // open read transactions, for the scrubber

	subsMu  sync.Mutex                               // serialises Subscribe and unsubscribe
	subs    atomic.Pointer[map[*subscription]bool]   // copy-on-write, read by the writer
	ids     idGen                                    // writer goroutine only, after Open
	commits atomic.Int64                             // committed transactions, for tests
	observe atomic.Pointer[func(int, time.Duration)] // see ObserveCommits

	files       fileState   // uploads: see files.go
	eraseQueued atomic.Bool // a commit queued objects to erase: wake the eraser
	// releasedFiles counts file records released (queued for the
	// scrubber) and not yet told to it; the writer and the pruner take it
	// after their commits. A failed commit leaves it high: the scrubber
	// then makes a pass for nothing, never misses one.
	releasedFiles atomic.Int64

	// followers keep what is derived from messages' states (see follow.go);
	// set before the writer starts, read-only afterwards.
	followers []follower

	// searchTailSize, when set by a test, is the number of messages the
	// search index's tail holds before they become blocks.
	searchTailSize int
	// search is the search index's follower (nil without it).
	search *searchIndex
	// noSearchIndex, set by a benchmark, keeps no search index: appends
	// without it, for comparison.
	noSearchIndex bool

	// beforeCommit, when set by a test, runs at the end of each write
	// transaction; an error aborts the commit.
	beforeCommit func(*bbolt.Tx) error
}

type subscription struct{ fn func([]store.Record) }

// NewDB returns a DB for the file at path with default settings.
func NewDB(path string) *DB {
	return &DB{
		Path:         path,
		LockTimeout:  2 * time.Second,
		MaxTextBytes: 16 << 10,
		MaxBatch:     1000,
		Linger:       500 * time.Microsecond,
		DedupWindow:  72 * time.Hour,
		MaxClockSkew: defaultMaxClockSkew,
		PruneEvery:   time.Minute,
		UploadTTL:    24 * time.Hour,
		OrphanAge:    time.Hour,
		Now:          time.Now,
		Logger:       slog.Default(),
	}
}

// Open opens (or creates) the file, checks it, and starts the writer. It
// fails within LockTimeout if another process has the file open.
func (d *DB) Open() error {
	if d.MaxBatch <= 0 || d.Now == nil || d.Logger == nil || d.Path == "" || d.PruneEvery <= 0 {
		return errors.New("store: Path, MaxBatch, PruneEvery, Now and Logger must be set")
	}
	if err := d.Retention.Validate(); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	db, err := openBolt(d.Path, false, d.LockTimeout)
	if err != nil {
		return fmt.Errorf("open db %s: %w", d.Path, err)
	}
	var last ulid.ULID
	err = db.View(func(tx *bbolt.Tx) error {
		// A file with buckets but not ours is not written to.
		if k, _ := tx.Cursor().First(); tx.Bucket(bucketMeta) == nil && k != nil {
			return errors.New("not a parley database")
		}
		return nil
	})
	var pending int
	if err == nil {
		err = initSchema(db, &last, &pending)
	}
	if err == nil {
		err = countMessages(db)
	}
	if err == nil {
		err = d.openSearch(db)
	}
	if err == nil && d.BlobStore == nil {
		d.BlobStore, err = blobdir.Open(d.Path + ".files")
	}
	if err != nil {
		db.Close()
		return fmt.Errorf("open db %s: %w", d.Path, err)
	}
	d.db = db
	if err := d.initFiles(); err != nil {
		db.Close()
		return fmt.Errorf("open db %s: %w", d.Path, err)
	}
	d.followers = append(d.followers, mentionIndex{}, fileRefs{d})
	if !d.noSearchIndex {
		d.search = &searchIndex{tail: d.searchTail()}
		d.followers = append(d.followers, d.search)
	}
	d.ids.last = last
	d.queue = make(chan *appendReq, 4*d.MaxBatch)
	d.stop = make(chan struct{})
	d.writerDone = make(chan struct{})
	d.prunerDone = make(chan struct{})
	d.subs.Store(&map[*subscription]bool{})
	d.scrubs.wake, d.scrubs.done = make(chan struct{}, 1), make(chan struct{})
	d.scrubs.pending.Store(int64(pending))
	d.warnFutureIDs(last)
	go d.writeLoop()
	go d.pruneLoop()
	go d.scrubLoop()
	go d.eraseLoop()
	return nil
}

// warnFutureIDs says loudly when the newest id is dated ahead of the clock:
// every new id is drawn above it, so new events would carry its date. An
// import before version 2 of the schema could do that (docs/history.md).
func (d *DB) warnFutureIDs(last ulid.ULID) {
	if err := store.CheckIDTime(last, d.Now(), d.MaxClockSkew); err != nil {
		d.Logger.Error("the newest event id is dated in the future: new events will carry its date until the clock passes it; run parley verify on a backup and see docs/history.md (future-dated ids)",
			"last_id", last, "err", err)
	}
}

// initSchema creates the buckets of a new file, checks the schema version of
// an existing one (upgrading an older one), and reads the last id and the
// number of ids waiting for the scrubber.
func initSchema(db *bbolt.DB, last *ulid.ULID, pending *int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", store.ErrCorrupt, r)
		}
	}()
	return db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketRooms, bucketSettings, bucketCIDs, bucketCIDsByID, bucketScrub, bucketMentions, bucketMarks, bucketCounts, bucketSearch} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keyVersion); {
		case v == nil:
			if err := meta.Put(keyVersion, schemaVersion); err != nil {
				return err
			}
		case string(v) == string(schemaVersion1):
			// In the same transaction: a file is either migrated whole or
			// left as it was.
			if err := migrateFrom1(tx); err != nil {
				return fmt.Errorf("upgrade schema 1 to 2: %w", err)
			}
		case string(v) != string(schemaVersion):
			return fmt.Errorf("%w %v", errVersionDrift, v)
		}
		if v := meta.Get(keyLastID); len(v) == 16 {
			copy(last[:], v)
		}
		*pending = tx.Bucket(bucketScrub).Stats().KeyN
		return nil
	})
}

// Close stops accepting appends, commits those already queued, and closes
// the file. It is safe to call more than once.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed || d.db == nil {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.queue)
	close(d.stop)
	d.mu.Unlock()
	<-d.writerDone
	<-d.prunerDone
	<-d.scrubs.done
	<-d.files.done
	return d.db.Close()
}

// Subscribe implements Log.
func (d *DB) Subscribe(fn func([]store.Record)) func() {
	s := &subscription{fn: fn}
	d.subsMu.Lock()
	d.swapSubs(func(m map[*subscription]bool) { m[s] = true })
	d.subsMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.subsMu.Lock()
			d.swapSubs(func(m map[*subscription]bool) { delete(m, s) })
			d.subsMu.Unlock()
		})
	}
}

// ObserveCommits implements Log.
func (d *DB) ObserveCommits(fn func(events int, took time.Duration)) {
	d.observe.Store(&fn)
}

// swapSubs replaces the subscriber set with a changed copy. Caller holds subsMu.
func (d *DB) swapSubs(change func(map[*subscription]bool)) {
	old := *d.subs.Load()
	m := make(map[*subscription]bool, len(old)+1)
	for k := range old {
		m[k] = true
	}
	change(m)
	d.subs.Store(&m)
}

// LastID returns the id of the newest committed event (zero if none). It is
// read from the file, so it is exact after Open and after every commit.
func (d *DB) LastID() (ulid.ULID, error) {
	var id ulid.ULID
	err := d.view(func(tx *bbolt.Tx) error {
		copy(id[:], tx.Bucket(bucketMeta).Get(keyLastID))
		return nil
	})
	return id, err
}

// Ping implements Log.
func (d *DB) Ping(ctx context.Context) error {
	return d.view(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(keyVersion) == nil {
			return errors.New("schema version missing")
		}
		return ctx.Err()
	})
}

// Stats implements Log.
func (d *DB) Stats() store.LogStats {
	return store.LogStats{
		ScrubPending:  d.scrubs.pending.Load(),
		ScrubPasses:   d.scrubs.passes.Load(),
		ScrubFailures: d.scrubs.failures.Load(),
	}
}

// Size returns the size of the db file in bytes.
func (d *DB) Size() (int64, error) {
	var n int64
	err := d.view(func(tx *bbolt.Tx) error { n = tx.Size(); return nil })
	return n, err
}

// view runs fn in a read transaction, failing with ErrClosed after Close.
func (d *DB) view(fn func(*bbolt.Tx) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed || d.db == nil {
		return store.ErrClosed
	}
	seq := d.commits.Load()
	d.readers.begin(seq)
	defer d.readers.end(seq)
	return d.db.View(fn)
}

func putCount(b *bbolt.Bucket, n uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return b.Put(keyCount, v[:])
}

func getCount(b *bbolt.Bucket) uint64 {
	if v := b.Get(keyCount); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// appendReq is one Append waiting for the writer.
type appendReq struct {
	ctx  context.Context
	ev   store.Event
	enc  store.EncodedEvent // ev's JSON but for id and time, encoded by the caller
	imp  []store.Event      // instead of ev: checked events to import, ids set
	op   writeOp            // instead of ev: a change of its own (writeop.go)
	id   ulid.ULID          // a replica's id for ev, derived from the stream (zero: draw one)
	done chan appendResult

	// terms are the search terms of ev's text and author (searchTerms),
	// computed by the caller, for a message or an edit; nil otherwise.
	terms []string
}

type appendResult struct {
	rec      store.Record
	created  bool
	imported store.ImportReport
	err      error
}

// Append implements Log. Appends from many goroutines are committed together,
// many per fsync, by a single writer goroutine.
func (d *DB) Append(ctx context.Context, e store.Event) (store.Record, bool, error) {
	if d.Replica {
		return store.Record{}, false, ErrReplica
	}
	if err := e.Validate(d.MaxTextBytes); err != nil {
		return store.Record{}, false, err
	}
	e.Derive()
	// Encode on the caller's goroutine: the writer only splices in the id.
	req := newAppendReq(ctx)
	req.ev, req.enc = e, e.EncodeParts()
	if (e.Type == store.TypeMessage || e.Type == store.TypeEdit) && !d.noSearchIndex {
		req.terms = searchTerms(e)
	}
	d.mu.RLock()
	if d.closed || d.db == nil {
		d.mu.RUnlock()
		req.release()
		return store.Record{}, false, store.ErrClosed
	}
	select {
	case d.queue <- req:
		d.mu.RUnlock()
	case <-ctx.Done():
		d.mu.RUnlock()
		req.release()
		return store.Record{}, false, ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the writer checks
	// ctx before storing, and an answer after commit must not be lost.
	r := <-req.done
	req.release()
	return r.rec, r.created, r.err
}

// appendReqs recycles requests with their channels: an append's only
// allocations besides its encoding.
var appendReqs = sync.Pool{New: func() any { return &appendReq{done: make(chan appendResult, 1)} }}

func newAppendReq(ctx context.Context) *appendReq {
	req := appendReqs.Get().(*appendReq)
	req.ctx = ctx
	return req
}

// release returns req to the pool. Only its owner calls it, once its answer
// (sent exactly once by the writer) has been received, or if it was never
// queued.
func (req *appendReq) release() {
	*req = appendReq{done: req.done}
	appendReqs.Put(req)
}

// writeLoop is the single write path: it takes whatever appends are queued,
// commits them in one transaction, publishes them and then answers them.
func (d *DB) writeLoop() {
	defer close(d.writerDone)
	batch := make([]*appendReq, 0, d.MaxBatch)
	linger := time.NewTimer(0)
	<-linger.C
	prev := 0 // size of the previous batch
	for req := range d.queue {
		batch = append(batch[:0], req)
		batch = d.drain(batch)
		// Under concurrent load, wait a moment for more appends: every
		// commit costs two fsyncs whatever its size, so a fraction of a
		// millisecond here buys far more than it costs (longer waits, 1 ms
		// and up, measured slower: see docs/performance.md).
		if d.Linger > 0 && prev > 1 && len(batch) < d.MaxBatch {
			linger.Reset(d.Linger)
		wait:
			for len(batch) < d.MaxBatch {
				select {
				case r, ok := <-d.queue:
					if !ok {
						break wait
					}
					batch = append(batch, r)
					batch = d.drain(batch)
				case <-linger.C:
					break wait
				}
			}
			if !linger.Stop() {
				select {
				case <-linger.C:
				default:
				}
			}
		}
		prev = len(batch)
		d.commit(batch)
	}
}

// drain adds whatever is queued to batch without waiting.
func (d *DB) drain(batch []*appendReq) []*appendReq {
	for len(batch) < d.MaxBatch {
		select {
		case r, ok := <-d.queue:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}
