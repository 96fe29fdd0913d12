package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// A replica is a cluster node's copy of the log (docs/cluster.md): the
// cluster stream is the source of truth and the node applies it here, in
// stream order, with Apply. Reads are the same as a single node's. What a
// replica adds to the file:
//
//	meta/applied_seq   8-byte big-endian: the last stream sequence applied
//	meta/chain_ms      8-byte big-endian: D, the time of that sequence
var (
	keyAppliedSeq = []byte("applied_seq")
	keyChainMS    = []byte("chain_ms")
)

// ErrReplica is returned by Append and Import on a replica: its changes
// come only from the cluster stream, through Apply.
var ErrReplica = errors.New("this database is a cluster replica: changes go through the cluster")

// EntryKind says what a stream entry does when applied.
type EntryKind int

// Entry kinds.
const (
	// EntryEvent is an event as posted: validated and stored as Append
	// stores it, with an id derived from the stream.
	EntryEvent EntryKind = iota + 1
	// EntryImport is one imported event, with its own id.
	EntryImport
	// EntryOp is an account or settings change, run by Op.
	EntryOp
	// EntryTick applies retention and forgets old client ids at D.
	EntryTick
	// EntryGap stands for a sequence removed from the stream: its gap
	// record says what applying it did, without text: the event it
	// stored, or (Op set) the file registration it made, without name.
	EntryGap
)

// Entry is one message of the cluster stream, decoded, for Apply.
type Entry struct {
	Seq   uint64    // its stream sequence: one above the last applied
	Stamp time.Time // the stream's stored timestamp of it
	Kind  EntryKind
	// Event is the event of an EntryEvent or EntryImport, and for an
	// EntryGap the event it produced without its text (zero ID: none).
	Event store.Event
	// Op runs an EntryOp (or a gap's registration) against the replica. Every write it makes must
	// pass its ctx to the DB's methods, so the replica's position is
	// committed in the same transaction. Its result is the outcome's.
	Op func(ctx context.Context, db *DB) (any, error)
	// Chain is an EntryGap's D, as the nodes that applied it computed it.
	Chain time.Time
	// EraseRefused says an EntryOp's message carries what a user sent (a
	// file's name): if the op is refused, its sequence is queued for
	// erasure as a change that produced no event (replica_noevent.go).
	EraseRefused bool
	// Retention and DedupWindow are an EntryTick's: the cluster's default
	// retention and how long client ids are remembered. UploadTTL, if
	// set, collects the uploads no message carried for that long.
	Retention   store.Retention
	DedupWindow time.Duration
	UploadTTL   time.Duration
}

// Outcome is what applying one entry did.
type Outcome struct {
	Seq     uint64
	Chain   time.Time    // D of the entry: the time of its id
	Record  store.Record // an event's: the stored record, or what Append answers without storing
	Created bool
	// Err is the rule the entry broke (the error Append would give); the
	// entry changed nothing. For a gap record saying its sequence produced
	// no event it is ErrOutcomeErased.
	Err error
	// Redacted lists the events a delete redacted: their text must be
	// erased from the stream too.
	Redacted []ulid.ULID
	Imported store.ImportReport
	Result   any // an EntryOp's result

	// NoEventQueued says the entry produced no event and carried text: its
	// own sequence was queued for erasure (replica_noevent.go).
	NoEventQueued bool
}

// DerivedID is the id of the event at stream sequence seq applied at chain
// (D): D's millisecond, then entropy 0x80 0x00 and seq big-endian. The top
// entropy bit is never set in an id a single node draws, so derived ids
// sort after single-node ids of the same millisecond and say their
// sequence (SeqOf).
func DerivedID(chain time.Time, seq uint64) ulid.ULID {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(chain))
	var e [10]byte
	e[0] = 0x80
	binary.BigEndian.PutUint64(e[2:], seq)
	_ = id.SetEntropy(e[:])
	return id
}

// SeqOf returns the stream sequence of a derived id, and false for an id
// that was not derived (drawn by a single node, or imported).
func SeqOf(id ulid.ULID) (uint64, bool) {
	if id[6]&0x80 == 0 || id[7] != 0 {
		return 0, false
	}
	return binary.BigEndian.Uint64(id[8:]), true
}

// chainAfter returns D for en, applied after D = prev.
func chainAfter(prev time.Time, en Entry) time.Time {
	if en.Kind == EntryGap {
		if en.Chain.Before(prev) {
			return prev
		}
		return en.Chain
	}
	at := time.UnixMilli(en.Stamp.UnixMilli()).UTC()
	if en.Kind == EntryImport && en.Event.ID != (ulid.ULID{}) {
		// Later ids must sort after the imported one.
		if after := time.UnixMilli(int64(en.Event.ID.Time()) + 1).UTC(); after.After(at) {
			at = after
		}
	}
	if at.Before(prev) {
		return prev
	}
	return at
}

// Applied returns the last stream sequence the replica applied and its D.
func (d *DB) Applied() (seq uint64, chain time.Time, err error) {
	err = d.view(func(tx *bbolt.Tx) error {
		seq, chain = readApplied(tx)
		return nil
	})
	return seq, chain, err
}

func readApplied(tx *bbolt.Tx) (uint64, time.Time) {
	meta := tx.Bucket(bucketMeta)
	var seq, ms uint64
	if v := meta.Get(keyAppliedSeq); len(v) == 8 {
		seq = binary.BigEndian.Uint64(v)
	}
	if v := meta.Get(keyChainMS); len(v) == 8 {
		ms = binary.BigEndian.Uint64(v)
	}
	return seq, time.UnixMilli(int64(ms)).UTC()
}

func putApplied(tx *bbolt.Tx, seq uint64, chain time.Time) error {
	var v [16]byte
	binary.BigEndian.PutUint64(v[:8], seq)
	binary.BigEndian.PutUint64(v[8:], uint64(chain.UnixMilli()))
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyAppliedSeq, v[:8]); err != nil {
		return err
	}
	return meta.Put(keyChainMS, v[8:])
}

// Apply applies entries of the cluster stream in order, each exactly as
// every other node applies it: events are validated and stored as Append
// would, with ids derived from the stream (DerivedID), and runs of events
// commit in one transaction with the replica's position. Rule failures are
// outcomes; a returned error means the entries from the failing one on
// were not applied and the caller must stop (and may retry them later).
// Created records are handed to subscribers after their commit. Apply is
// for one goroutine, the node's applier.
func (d *DB) Apply(ctx context.Context, entries []Entry) ([]Outcome, error) {
	defer d.afterApply()
	seq, chain, err := d.Applied()
	if err != nil {
		return nil, err
	}
	outs := make([]Outcome, 0, len(entries))
	for i := 0; i < len(entries); {
		en := entries[i]
		if en.Seq != seq+1 {
			return outs, fmt.Errorf("apply sequence %d after %d: out of order", en.Seq, seq)
		}
		var (
			o Outcome
			n = 1
		)
		switch {
		case en.Kind == EntryOp, en.Kind == EntryGap && en.Op != nil:
			o, err = d.applyOp(ctx, en, chainAfter(chain, en))
		case en.Kind == EntryTick:
			o, err = d.applyTick(en, chainAfter(chain, en))
		case storesEvent(en):
			j := i + 1
			for j < len(entries) && entries[j].Seq == entries[j-1].Seq+1 && storesEvent(entries[j]) {
				j++
			}
			var run []Outcome
			run, err = d.applyRun(entries[i:j], chain)
			if err == nil {
				outs = append(outs, run...)
				seq, chain = run[len(run)-1].Seq, run[len(run)-1].Chain
				i = j
				continue
			}
		default:
			err = fmt.Errorf("apply sequence %d: unknown entry kind %d", en.Seq, en.Kind)
		}
		if err != nil {
			return outs, err
		}
		outs = append(outs, o)
		seq, chain = o.Seq, o.Chain
		i += n
	}
	return outs, nil
}

// afterApply does what a single node's writer does after its commits:
// wake the eraser for the objects (the node's cached copies) that applying
// released, and count the released file records for the scrubber.
func (d *DB) afterApply() {
	if d.eraseQueued.Swap(false) {
		d.wakeEraser()
	}
	if n := d.releasedFiles.Swap(0); n > 0 {
		d.scrubs.queued(int(n))
	}
}

// storesEvent reports whether en is applied in a run of events: an event,
// an import, a gap that stands for one (or for nothing).
func storesEvent(en Entry) bool {
	return en.Kind == EntryEvent || en.Kind == EntryImport || en.Kind == EntryGap && en.Op == nil
}

// applyRun stores a run of event entries in one transaction.
func (d *DB) applyRun(run []Entry, chain time.Time) ([]Outcome, error) {
	var (
		outs     []Outcome
		recs     []store.Record
		redacted int
	)
	start := time.Now()
	err := d.update(func(tx *bbolt.Tx) error {
		outs, recs = outs[:0], recs[:0]
		w := &batchWriter{d: d, tx: tx, rooms: tx.Bucket(bucketRooms), touched: map[string]*roomBuckets{}}
		at := chain
		for _, en := range run {
			at = chainAfter(at, en)
			w.at = at
			o, rec, err := w.applyEntry(en, at)
			if err != nil {
				return err
			}
			if rec != nil {
				recs = append(recs, *rec)
			}
			outs = append(outs, o)
		}
		if err := w.finish(); err != nil {
			return err
		}
		redacted = len(w.redacted)
		meta := tx.Bucket(bucketMeta)
		if last := meta.Get(keyLastID); w.lastID != (ulid.ULID{}) && (len(last) != 16 || w.lastID.Compare(ulid.ULID(last)) > 0) {
			if err := meta.Put(keyLastID, w.lastID.Bytes()); err != nil {
				return err
			}
		}
		if err := putApplied(tx, run[len(run)-1].Seq, at); err != nil {
			return err
		}
		if d.beforeCommit != nil {
			return d.beforeCommit(tx)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply sequences %d..%d: %w", run[0].Seq, run[len(run)-1].Seq, err)
	}
	d.commits.Add(1)
	if fn := d.observe.Load(); fn != nil && *fn != nil {
		(*fn)(len(recs), time.Since(start))
	}
	if redacted > 0 {
		d.scrubs.queued(redacted)
	}
	if len(recs) > 0 {
		for s := range *d.subs.Load() {
			s.fn(recs)
		}
	}
	return outs, nil
}

// applyEntry stores one event entry inside the run's transaction and says
// what it did, with the record to publish if it created one.
func (w *batchWriter) applyEntry(en Entry, at time.Time) (Outcome, *store.Record, error) {
	o := Outcome{Seq: en.Seq, Chain: at}
	e := en.Event
	switch en.Kind {
	case EntryEvent:
		if err := e.Validate(0); err != nil {
			o.Err = err
			o.NoEventQueued, err = w.queueNoEvent(en, at, "")
			return o, nil, err
		}
		e.Derive()
		req := &appendReq{ctx: context.Background(), ev: e, enc: e.EncodeParts(), id: DerivedID(at, en.Seq)}
		before := len(w.redacted)
		existed := w.rooms.Bucket([]byte(e.Room)) != nil
		res, err := w.store(req)
		if err != nil {
			return o, nil, err
		}
		o.Record, o.Created, o.Err = res.rec, res.created, res.err
		if !res.created {
			if o.NoEventQueued, err = w.queueNoEvent(en, at, w.roomCreated(e.Room, existed)); err != nil {
				return o, nil, err
			}
		}
		o.Redacted = append([]ulid.ULID(nil), w.redacted[before:]...)
		if err := w.queueRedacted(e.Room, o.Redacted); err != nil {
			return o, nil, err
		}
		if res.created {
			return o, &o.Record, nil
		}
		return o, nil, nil
	case EntryGap:
		if e.ID == (ulid.ULID{}) {
			// The removed sequence produced no event.
			o.Err = ErrOutcomeErased
			return o, nil, w.applyNoEvent(en)
		}
	}
	// An import, or a gap's event: stored as it is, with its id.
	res, err := w.importEvents([]store.Event{e})
	if err != nil {
		return o, nil, err
	}
	o.Imported, o.Err = res.imported, res.err
	if res.imported.Imported == 1 {
		if err := noteImportSeq(w.tx, e.ID, en.Seq, at); err != nil {
			return o, nil, err
		}
	}
	if en.Kind == EntryImport && res.imported.Imported == 0 {
		// Imports never create a room without storing in it.
		if o.NoEventQueued, err = w.queueNoEvent(en, at, ""); err != nil {
			return o, nil, err
		}
	}
	if en.Kind == EntryGap && res.imported.Imported == 1 {
		js, err := e.MarshalJSON()
		if err != nil {
			return o, nil, err
		}
		o.Record = store.Record{ID: e.ID, Room: e.Room, Type: e.Type, JSON: js}
		o.Created = true
		return o, &o.Record, nil
	}
	return o, nil, nil
}

// applyOp runs an account or settings change; its writes commit with the
// replica's position through the hook its ctx carries. A rule it breaks
// is its outcome, and the position moves on in a transaction of its own.
func (d *DB) applyOp(ctx context.Context, en Entry, at time.Time) (Outcome, error) {
	o := Outcome{Seq: en.Seq, Chain: at}
	hooked := false
	hook := func(tx *bbolt.Tx) error { hooked = true; return putApplied(tx, en.Seq, at) }
	ctx = context.WithValue(ctx, applyPosKey{}, applyPos{seq: en.Seq, at: at})
	res, err := en.Op(context.WithValue(ctx, applyHookKey{}, hook), d)
	if err != nil && !ruleError(err) {
		return o, fmt.Errorf("apply sequence %d: %w", en.Seq, err)
	}
	o.Result, o.Err = res, err
	if err != nil || !hooked {
		o.NoEventQueued = err != nil && en.EraseRefused
		err := d.update(func(tx *bbolt.Tx) error {
			if o.NoEventQueued {
				if err := queueNoEventSeq(tx, en.Seq, at, ""); err != nil {
					return err
				}
			}
			return putApplied(tx, en.Seq, at)
		})
		if err != nil {
			return o, fmt.Errorf("apply sequence %d: %w", en.Seq, err)
		}
	}
	return o, nil
}

// applyTick prunes at D, by the tick's retention and client id window, in
// the small transactions a single node's pruner uses; the position moves
// after them, so a crash repeats the tick, which prunes nothing more.
func (d *DB) applyTick(en Entry, at time.Time) (Outcome, error) {
	o := Outcome{Seq: en.Seq, Chain: at}
	if en.DedupWindow > 0 {
		if _, err := d.pruneClientIDs(at.Add(-en.DedupWindow)); err != nil {
			return o, fmt.Errorf("apply tick %d: %w", en.Seq, err)
		}
	}
	if _, err := d.pruneRoomsBy(at, en.Retention); err != nil {
		return o, fmt.Errorf("apply tick %d: %w", en.Seq, err)
	}
	if en.UploadTTL > 0 {
		if _, err := d.CollectFiles(context.Background(), at.Add(-en.UploadTTL)); err != nil {
			return o, fmt.Errorf("apply tick %d: %w", en.Seq, err)
		}
	}
	if err := d.update(func(tx *bbolt.Tx) error { return putApplied(tx, en.Seq, at) }); err != nil {
		return o, fmt.Errorf("apply tick %d: %w", en.Seq, err)
	}
	return o, nil
}

// ruleError reports whether err is a rule an input broke rather than a
// failure of the file: the one kind an entry's outcome may be.
func ruleError(err error) bool {
	for _, rule := range []error{store.ErrInvalid, store.ErrNotFound, store.ErrConflict, store.ErrForbidden, store.ErrTooLarge, store.ErrQuota} {
		if errors.Is(err, rule) {
			return true
		}
	}
	return false
}

// applyHookKey carries, in the ctx of an EntryOp, the function that writes
// the replica's position in the op's own transaction.
type applyHookKey struct{}

// applyPosKey carries, in the ctx of an EntryOp, the op's applyPos.
type applyPosKey struct{}

// applyPos is the stream sequence of the op being applied, and its D.
type applyPos struct {
	seq uint64
	at  time.Time
}

// updateCtx runs fn in a write transaction; when ctx carries an apply hook
// (a replica applying an op) the hook runs in the same transaction.
func (d *DB) updateCtx(ctx context.Context, fn func(*bbolt.Tx) error) error {
	hook, _ := ctx.Value(applyHookKey{}).(func(*bbolt.Tx) error)
	if hook == nil {
		return d.update(fn)
	}
	return d.update(func(tx *bbolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return hook(tx)
	})
}

// batchCtx is batch, or updateCtx for a replica applying an op.
func (d *DB) batchCtx(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if ctx.Value(applyHookKey{}) != nil {
		return d.updateCtx(ctx, fn)
	}
	return d.batch(fn)
}

// Record returns the stored record of event id of room: as stored now
// (redacted if its message was deleted). ErrNotFound if there is none.
func (d *DB) Record(ctx context.Context, room string, id ulid.ULID) (store.Record, error) {
	var rec store.Record
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		rec, err = getRecord(tx.Bucket(bucketRooms), room, id[:])
		return err
	})
	return rec, err
}
