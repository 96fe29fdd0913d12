package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// defaultLockTimeout is how long offline tools wait for a file's lock.
const defaultLockTimeout = 2 * time.Second

// defaultMaxClockSkew is DB.MaxClockSkew's default, and what Verify allows.
const defaultMaxClockSkew = 5 * time.Minute

// Report is what Verify found.
type Report struct {
	Rooms    int      `json:"rooms"`
	Events   int      `json:"events"`
	Files    int      `json:"files"`
	Problems []string `json:"problems"`
	// Notes are findings that are not damage, like objects no record
	// references (a crash between writing and registering an upload),
	// which the server collects.
	Notes []string `json:"notes,omitempty"`
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < 1000 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Verify checks the db file at path without changing it: bbolt's own
// consistency check, then Parley's invariants (every event decodes and
// matches its key, room and id time; ids never exceed the recorded last id
// and are not dated ahead of the clock; counts, the message index, the edit
// index and client ids agree with the log; every message's indexed state
// equals Fold of its room; message counts, the mention index and the search
// index agree with those states). An error means the file could not be checked
// at all; problems are in the report.
//
// It checks the files too (files.go): every file record's object is in the
// files directory beside path with its size and SHA-256 (every byte
// re-hashed unless quick), the reference counts agree with the records,
// and every file a message carries has its record.
func Verify(path string) (*Report, error) {
	return verifyAt(path, time.Now(), false)
}

// VerifyQuick is Verify checking objects' sizes, not their hashes.
func VerifyQuick(path string) (*Report, error) {
	return verifyAt(path, time.Now(), true)
}

// verifyAt is Verify with the clock reading now.
func verifyAt(path string, now time.Time, quick bool) (*Report, error) {
	db, err := openBolt(path, true, defaultLockTimeout)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rep := &Report{}
	err = db.View(func(tx *bbolt.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: %v", store.ErrCorrupt, r)
			}
		}()
		for e := range tx.Check() {
			rep.problem("bbolt: %v", e)
		}
		if !rep.OK() {
			return nil // the structure is broken: reading further may crash
		}
		meta := tx.Bucket(bucketMeta)
		switch {
		case meta == nil:
			return errors.New("not a parley database")
		case bytes.Equal(meta.Get(keyVersion), schemaVersion1):
			return errors.New("schema version 1, written by an older parley: back the file up, start parley serve on it once to upgrade it, then verify")
		case !bytes.Equal(meta.Get(keyVersion), schemaVersion):
			return fmt.Errorf("%w %v", errVersionDrift, meta.Get(keyVersion))
		}
		var last ulid.ULID
		copy(last[:], meta.Get(keyLastID))
		if err := store.CheckIDTime(last, now, defaultMaxClockSkew); err != nil {
			rep.problem("the newest id %s is dated in the future (%v): every new event would carry its date; see docs/history.md, future-dated ids", last, err)
		}
		rooms := tx.Bucket(bucketRooms)
		if err := rooms.ForEachBucket(func(name []byte) error {
			rep.Rooms++
			verifyRoom(rep, string(name), rooms.Bucket(name), last, now)
			return nil
		}); err != nil {
			return err
		}
		verifyClientIDs(rep, tx)
		verifyMentions(rep, tx)
		verifySearch(rep, tx)
		return verifyFiles(rep, tx, path+".files", quick)
	})
	return rep, err
}

func verifyRoom(rep *Report, room string, rb *bbolt.Bucket, last ulid.ULID, now time.Time) {
	logB, msgs, edits := rb.Bucket(bucketLog), rb.Bucket(bucketMsgs), rb.Bucket(bucketEdits)
	if logB == nil || msgs == nil || edits == nil {
		rep.problem("room %s: missing buckets", room)
		return
	}
	var (
		events []store.Event
		n      uint64
		future []ulid.ULID // dated ahead of the clock
	)
	logB.ForEach(func(k, v []byte) error {
		n++
		var id ulid.ULID
		copy(id[:], k)
		if store.CheckIDTime(id, now, defaultMaxClockSkew) != nil {
			future = append(future, id)
		}
		typ, js, err := decodeValue(v)
		if err != nil {
			rep.problem("room %s, event %s: %v", room, id, err)
			return nil
		}
		var e store.Event
		if err := e.UnmarshalJSON(js); err != nil {
			rep.problem("room %s, event %s: %v", room, id, err)
			return nil
		}
		switch {
		case len(k) != 16 || e.ID != id:
			rep.problem("room %s: key %x holds event %s", room, k, e.ID)
		case e.Room != room || e.Type != typ:
			rep.problem("room %s, event %s: says room %q type %q (stored as %q)", room, id, e.Room, e.Type, typ)
		case !e.Time.Equal(time.UnixMilli(int64(id.Time()))):
			rep.problem("room %s, event %s: time %s is not the id's", room, id, e.Time)
		case id.Compare(last) > 0:
			rep.problem("room %s, event %s: above the recorded last id %s, so new ids could repeat it", room, id, last)
		}
		events = append(events, e)
		return nil
	})
	rep.Events += int(n)
	if len(future) > 0 {
		rep.problem("room %s: %d events are dated in the future, from %s (%s) to %s: an import pushed the id sequence ahead of the clock; see docs/history.md, future-dated ids",
			room, len(future), future[0], time.UnixMilli(int64(future[0].Time())).UTC().Format(store.TimeFormat), future[len(future)-1])
	}
	if c := getCount(rb); c != n {
		rep.problem("room %s: count says %d events, the log has %d", room, c, n)
	}
	want := store.Fold(events)
	if rb.Get(keyPruned) == nil { // without retention, every change has its message
		ids := map[ulid.ULID]bool{}
		for _, m := range want {
			ids[m.ID] = true
		}
		for _, e := range events {
			if e.Type != store.TypeMessage && !ids[e.Target] {
				rep.problem("room %s, event %s: target %s is not a message of the room", room, e.ID, e.Target)
			}
		}
	}
	indexed := 0
	msgs.ForEach(func(k, v []byte) error { indexed++; return nil })
	if indexed != len(want) {
		rep.problem("room %s: message index has %d entries, the log %d messages", room, indexed, len(want))
	}
	for _, m := range want {
		v := msgs.Get(m.ID[:])
		if v == nil {
			rep.problem("room %s: message %s is not indexed", room, m.ID)
			continue
		}
		if len(v) == 0 {
			_, v, _ = decodeValue(logB.Get(m.ID[:]))
		}
		if wj, _ := m.MarshalJSON(); !bytes.Equal(v, wj) {
			rep.problem("room %s: message %s: indexed state %s, the log folds to %s", room, m.ID, v, wj)
		}
	}
	edits.ForEach(func(k, _ []byte) error {
		if len(k) != 32 {
			rep.problem("room %s: edit index key %x", room, k)
			return nil
		}
		typ, js, err := decodeValue(logB.Get(k[16:]))
		var e store.Event
		if err == nil {
			err = e.UnmarshalJSON(js)
		}
		if err != nil || typ != store.TypeEdit || !bytes.Equal(e.Target[:], k[:16]) {
			rep.problem("room %s: edit index entry %x does not match the log", room, k)
		}
		return nil
	})
}

func verifyClientIDs(rep *Report, tx *bbolt.Tx) {
	rooms := tx.Bucket(bucketRooms)
	tx.Bucket(bucketCIDs).ForEach(func(k, v []byte) error {
		parts := bytes.Split(k, []byte{0})
		if len(parts) != 3 {
			rep.problem("client id key %q is not <room>\\x00<author>\\x00<client id>", k)
			return nil
		}
		room, author, cid := parts[0], parts[1], parts[2]
		rec, err := getRecord(rooms, string(room), v)
		var e store.Event
		if err == nil {
			err = e.UnmarshalJSON(rec.JSON)
		}
		if err != nil || e.ClientID != string(cid) || e.Author != string(author) {
			rep.problem("client id %q of %q in room %s points to %x, which is not its event", cid, author, room, v)
		}
		return nil
	})
}
