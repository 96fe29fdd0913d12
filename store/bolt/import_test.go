package bolt

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/storetest"
)

// TestImportAllowsMaxClockSkew: an import may be dated up to MaxClockSkew
// ahead of the clock (another server's clock may run a little ahead), not a
// millisecond more.
func TestImportAllowsMaxClockSkew(t *testing.T) {
	now := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	exportAt := func(at time.Time) []byte {
		src := mustOpenDB(t, "", func(d *DB) { d.Now = func() time.Time { return at } })
		mustAppend(t, src, "r", "x", "hello")
		return exportRaw(t, src, "r")
	}
	for _, tc := range []struct {
		name  string
		ahead time.Duration
		ok    bool
	}{
		{"at the skew", 2 * time.Minute, true},
		{"past the skew", 2*time.Minute + time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustOpenDB(t, "", func(d *DB) { d.Now = func() time.Time { return now }; d.MaxClockSkew = 2 * time.Minute })
			_, err := d.Import(context.Background(), "r", bytes.NewReader(exportAt(now.Add(tc.ahead))))
			var ie *store.ImportError
			if (err == nil) != tc.ok || (!tc.ok && (!errors.As(err, &ie) || ie.Line != 1)) {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestIDGenNeverPassesMaxTime: the generator refuses to draw an id its
// event's time could not say, rather than date it in the year 10000.
func TestIDGenNeverPassesMaxTime(t *testing.T) {
	var g idGen
	_ = g.last.SetTime(maxMS)
	_ = g.last.SetEntropy(bytes.Repeat([]byte{0xff}, 10))
	if id, err := g.next(time.Now()); !errors.Is(err, errPastMaxTime) {
		t.Fatalf("got %s, %v; want errPastMaxTime", id, err)
	}
	if id, err := g.next(store.MaxTime.Add(time.Hour)); !errors.Is(err, errPastMaxTime) {
		t.Fatalf("a clock past the year 9999: got %s, %v; want errPastMaxTime", id, err)
	}
}

// TestFutureDatedFileIsReported: a file whose ids an old import pushed into
// the future is reported by Verify, room by room, and a log opened on it
// says so in its log.
func TestFutureDatedFileIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	future := time.Date(9999, 6, 1, 0, 0, 0, 0, time.UTC)
	d := mustOpenDB(t, path, func(d *DB) { d.Now = func() time.Time { return future } })
	mustAppend(t, d, "r", "x", "from the future")
	mustAppend(t, d, "r", "x", "and after it")
	d.Close()
	rep, err := Verify(path)
	problems := strings.Join(rep.Problems, "\n")
	if err != nil || !strings.Contains(problems, "the newest id") || !strings.Contains(problems, "room r: 2 events are dated in the future") {
		t.Fatalf("got %v, problems:\n%s", err, problems)
	}
	var logged bytes.Buffer
	now := storetest.NewClock(time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC))
	d = mustOpenDB(t, path, func(d *DB) { d.Now = now.Now; d.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	d.Close()
	if !strings.Contains(logged.String(), "dated in the future") {
		t.Fatalf("opening a future-dated file logged %q", logged.String())
	}
	var last ulid.ULID
	_ = last.SetTime(ulid.Timestamp(future))
	if store.CheckIDTime(last, now.Now(), time.Minute) == nil {
		t.Fatal("CheckIDTime let a future id through")
	}
}
