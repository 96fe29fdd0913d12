package stream

import (
	"context"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// replay sends what the log has after the cursor, page by page, starting
// with first (already read), and returns "" once it has caught up with
// what the subscriber queues. Each page comes with the gaps retention left
// after the position it was read from, in the same snapshot, so a prune
// that overtakes the replay, before its first page or between two, is told
// as a reset, never a silent gap.
func (c *conn) replay(ctx context.Context, page store.Replay) string {
	limit := max(c.h.ReplayPage, 1)
	for {
		for _, g := range page.Gaps {
			c.reset(g)
		}
		if reason := c.send(page.Records); reason != "" {
			return reason
		}
		// A full page: there is more. A short one: caught up, unless live
		// records overflowed the queue meanwhile; they are in the log, so
		// queue afresh and read on.
		if len(page.Records) < limit {
			if !c.sub.rearm() {
				return ""
			}
			c.rosters() // presence changes were dropped with the queue
		}
		var reason string
		if page, reason = c.read(ctx); reason != "" {
			return reason
		}
	}
}

// read reads the next page of replay, after the last id sent.
func (c *conn) read(ctx context.Context) (store.Replay, string) {
	page, err := c.h.log.ReadReplay(ctx, c.req.Rooms, c.last, max(c.h.ReplayPage, 1))
	if err != nil {
		if ctx.Err() != nil {
			return page, c.stopped()
		}
		c.h.Logger.Error("stream replay", "err", err)
		return page, "replay: " + err.Error()
	}
	return page, ""
}

// rosters sends who is in each room again, after the queue lost the
// changes: a snapshot taken now, followed by the changes queued from now
// on, some of which it may already show (each change says a person's whole
// state, so seeing one twice is harmless).
func (c *conn) rosters() {
	c.h.roster.mu.Lock()
	for _, room := range c.req.Rooms {
		c.s.buf = append(c.s.buf, c.h.roster.rosterFrame(room)...)
	}
	c.h.roster.mu.Unlock()
	c.countEphemeral(len(c.req.Rooms))
}

// reset announces a gap once: later pages read from before its end (other
// rooms' events) report it again.
func (c *conn) reset(g store.Gap) {
	if c.told == nil {
		c.told = map[string]ulid.ULID{}
	}
	if g.Pruned.Compare(c.told[g.Room]) <= 0 {
		return
	}
	c.told[g.Room] = g.Pruned
	c.s.buf = appendReset(c.s.buf, g.Room, c.last, g.Oldest)
}

// send writes one page of replayed records, in chunks, and flushes it.
func (c *conn) send(recs []store.Record) string {
	for _, rec := range recs {
		c.s.buf = appendRecord(c.s.buf, rec)
		if len(c.s.buf) >= replayChunk {
			if err := c.s.write(); err != nil {
				return c.writeFailed(err)
			}
		}
	}
	if len(recs) > 0 {
		c.last = recs[len(recs)-1].ID
		c.res.Replayed += len(recs)
		c.h.stats.replayed.Add(int64(len(recs)))
		c.h.stats.delivered.Add(int64(len(recs)))
	}
	return c.flush()
}
