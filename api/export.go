package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// exportChunk is how many records one read transaction of an export holds:
// an export never pins the file for long, and its memory stays bounded.
const exportChunk = 1000

// handleExport streams a room as an attachment in the format of ?format=
// (jsonl, the raw log, by default), limited to ?since= and ?until=. It reads
// exportChunk records per read transaction and writes as it goes.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room := ps.ByName("room")
	if err := store.ValidateRoom(room); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f, ok := exportFormats[q.Get("format")]
	if af, isArchive := archiveFormats[q.Get("format")]; isArchive {
		rng, err := parseRange(q.Get("since"), q.Get("until"), s.Now())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.handleExportArchive(w, r, room, rng, af)
		return
	}
	if !ok {
		s.writeError(w, r, errorf(http.StatusBadRequest, "format %q is not supported; use one of %s", q.Get("format"), formatNames))
		return
	}
	now := s.Now()
	rng, err := parseRange(q.Get("since"), q.Get("until"), now)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	src := &exportSource{log: s.log, room: room, messages: f.messages, after: rng.after, until: rng.until}
	recs, err := src.next(r.Context())
	if err == nil && len(recs) == 0 {
		// Nothing in range: an empty export, unless the room has no events.
		var first []store.Record
		if first, err = s.log.ReadAfter(r.Context(), []string{room}, ulid.ULID{}, 1); err == nil && len(first) == 0 {
			err = errorf(http.StatusNotFound, "room %s has no events", room)
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, exportFileName(room, f.ext, now)))
	if f.ext == "html" {
		h.Set("Content-Security-Policy", htmlCSP)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	ew := f.open(bw, exportHead{Room: room, Exported: now.UTC()})
	// flush sends what the chunk wrote, so the client sees progress; write
	// errors are sticky in bw and surface here.
	flush := func() error {
		ew.flush()
		if err := bw.Flush(); err != nil {
			return sendError{err}
		}
		return nil
	}
	for {
		for _, rec := range recs {
			if err = ew.record(rec); err != nil {
				break
			}
		}
		if err == nil {
			err = flush()
		}
		if err != nil || src.done {
			break
		}
		if recs, err = src.next(r.Context()); err != nil {
			break
		}
	}
	if err == nil {
		ew.end()
		err = flush()
	}
	switch {
	case err == nil:
	case r.Context().Err() != nil || isSendError(err):
		s.Logger.Debug("export: client gone", "room", room, "err", err)
	default:
		s.Logger.Error("export", "room", room, "err", err)
		abort()
	}
}

// exportFileName is the attachment's name: room-YYYYMMDD.ext.
func exportFileName(room, ext string, now time.Time) string {
	return room + "-" + now.UTC().Format("20060102") + "." + ext
}

// sendError marks a failure to send to the client, as opposed to a failure
// to read the log.
type sendError struct{ err error }

func (e sendError) Error() string { return "send: " + e.err.Error() }
func (e sendError) Unwrap() error { return e.err }

func isSendError(err error) bool {
	var se sendError
	return errors.As(err, &se)
}

// abort cuts a response short after its headers are sent, so the client sees
// a failed download instead of a complete-looking, truncated file: net/http
// drops the connection without the body's final chunk.
func abort() {
	panic(http.ErrAbortHandler)
}

// exportSource reads a room in id order, one chunk per read transaction:
// its log, or the current state of its messages (by message id).
type exportSource struct {
	log      store.Log
	room     string
	messages bool
	after    ulid.ULID // the last id returned: the next chunk starts after it
	until    ulid.ULID // the last id in range
	done     bool
}

// next returns the next chunk, empty when there are no more.
func (src *exportSource) next(ctx context.Context) ([]store.Record, error) {
	if src.done {
		return nil, nil
	}
	var (
		recs []store.Record
		err  error
	)
	if src.messages {
		recs, err = src.log.Messages(ctx, src.room, store.Page{Forward: true, After: src.after, Limit: exportChunk})
	} else {
		recs, err = src.log.ReadAfter(ctx, []string{src.room}, src.after, exportChunk)
	}
	if err != nil {
		return nil, err
	}
	src.done = len(recs) < exportChunk
	if i := sort.Search(len(recs), func(i int) bool { return recs[i].ID.Compare(src.until) > 0 }); i < len(recs) {
		recs, src.done = recs[:i], true
	}
	if len(recs) > 0 {
		src.after = recs[len(recs)-1].ID
	}
	return recs, nil
}

// idRange is the ids an export covers: greater than after, at most until.
type idRange struct{ after, until ulid.ULID }

// bound is a parsed since or until: an event id, or a time.
type bound struct {
	id     ulid.ULID
	t      time.Time
	isTime bool
}

// parseRange parses ?since= and ?until=. An id as since means "after this
// event" (as a stream's Last-Event-ID does), as until "up to and including
// it"; so until=X then since=X exports a log in two parts, with no gap and no
// overlap. A time includes events at that time; a duration d means now-d.
func parseRange(since, until string, now time.Time) (idRange, error) {
	rng := idRange{until: maxID}
	lo, err := parseBound("since", since, now)
	if err != nil {
		return rng, err
	}
	hi, err := parseBound("until", until, now)
	if err != nil {
		return rng, err
	}
	if since != "" {
		rng.after = lo.id
		if lo.isTime {
			// Ids are time-ordered: the time is a cursor just before the
			// first id of its millisecond (rounded up), so that millisecond
			// is included.
			rng.after = idAt(ceilMillis(lo.t)-1, 0xff)
		}
	}
	if until != "" {
		rng.until = hi.id
		if hi.isTime {
			rng.until = idAt(ulid.Timestamp(hi.t), 0xff) // the last id of its millisecond
		}
	}
	if since != "" && until != "" {
		if after := lo.isTime && hi.isTime && lo.t.After(hi.t); after || rng.after.Compare(rng.until) > 0 {
			return rng, errorf(http.StatusBadRequest, "since %s is after until %s", since, until)
		}
	}
	return rng, nil
}

// maxID is the greatest id: no event is after it.
var maxID = idAt(ulid.MaxTime(), 0xff)

// parseBound parses one of since and until: an event id, an RFC 3339 time,
// or a Go duration before now.
func parseBound(name, v string, now time.Time) (bound, error) {
	if v == "" {
		return bound{}, nil
	}
	if id, err := ulid.ParseStrict(v); err == nil {
		return bound{id: id}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		d, derr := time.ParseDuration(v)
		if derr != nil {
			return bound{}, errorf(http.StatusBadRequest, "%s: %q is not an event id, an RFC 3339 time (2006-01-02T15:04:05Z) or a duration (24h)", name, v)
		}
		if d < 0 {
			return bound{}, errorf(http.StatusBadRequest, "%s: duration %s is negative; a duration means that long before now", name, v)
		}
		t = now.Add(-d)
	}
	if t.Before(time.UnixMilli(0)) || t.After(time.UnixMilli(int64(ulid.MaxTime()))) {
		return bound{}, errorf(http.StatusBadRequest, "%s: %s is out of range (1970 to 10889)", name, v)
	}
	return bound{t: t, isTime: true}, nil
}

// ceilMillis is t in Unix milliseconds, rounded up.
func ceilMillis(t time.Time) uint64 {
	ms := ulid.Timestamp(t)
	if t.Sub(ulid.Time(ms)) > 0 {
		ms++
	}
	return ms
}

// idAt returns the id of millisecond ms whose entropy bytes are all fill;
// ms of -1 (wrapped) is the zero id.
func idAt(ms uint64, fill byte) ulid.ULID {
	var id ulid.ULID
	if ms > ulid.MaxTime() {
		return id
	}
	_ = id.SetTime(ms)
	for i := 6; i < len(id); i++ {
		id[i] = fill
	}
	return id
}
