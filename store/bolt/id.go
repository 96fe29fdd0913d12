package bolt

import (
	"crypto/rand"
	"errors"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// idGen hands out ULIDs that are strictly increasing for the life of a log,
// including across restarts (it starts above the last stored id) and when
// the wall clock steps backwards (it never goes below its last id). It is not
// safe for concurrent use: only the log's writer goroutine calls next.
type idGen struct {
	last ulid.ULID
}

// errPastMaxTime is returned when the next id would be dated after
// store.MaxTime: its event's time could not be read back. Only a file whose
// ids were pushed into the future (an import before the skew check) or a
// clock set to the year 10000 gets here; see docs/history.md.
var errPastMaxTime = errors.New("the id sequence has passed the year 9999, which an event's time cannot say: run parley verify (docs/history.md, future-dated ids)")

// maxMS is store.MaxTime as a ULID timestamp.
var maxMS = ulid.Timestamp(store.MaxTime)

// next returns an id greater than every id returned before and than the id
// the generator was started from, or errPastMaxTime.
func (g *idGen) next(now time.Time) (ulid.ULID, error) {
	ms := ulid.Timestamp(now)
	if lastMS := g.last.Time(); ms <= lastMS {
		// Same millisecond, or the clock went back: stay on the last id's
		// millisecond and count up in its entropy.
		if id, ok := increment(g.last); ok && id.Time() <= maxMS {
			g.last = id
			return id, nil
		}
		// 80 bits of entropy exhausted within one millisecond: borrow the next.
		ms = lastMS + 1
	}
	if ms > maxMS {
		return ulid.ULID{}, errPastMaxTime
	}
	var id ulid.ULID
	_ = id.SetTime(ms)
	var e [10]byte
	_, _ = rand.Read(e[:])
	// Leave headroom so ids within this millisecond can count up.
	e[0] &= 0x7f
	_ = id.SetEntropy(e[:])
	g.last = id
	return id, nil
}

// advance makes sure later ids are greater than id. Its caller has checked
// id with store.CheckIDTime: no input moves the sequence further ahead of
// the clock than the log's MaxClockSkew.
func (g *idGen) advance(id ulid.ULID) {
	if id.Compare(g.last) > 0 {
		g.last = id
	}
}

// increment adds one to id's entropy, reporting false on overflow.
func increment(id ulid.ULID) (ulid.ULID, bool) {
	for i := len(id) - 1; i >= 6; i-- {
		id[i]++
		if id[i] != 0 {
			return id, true
		}
	}
	return id, false
}
