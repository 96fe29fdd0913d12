package bolt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// BenchmarkReadAfterInBigLog shows that reading a small room costs the same
// however large the rest of the log is.
func BenchmarkReadAfterInBigLog(b *testing.B) {
	for _, others := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) {
			d := mustOpenDB(b, "")
			seedRoom(b, d, "big", others)
			seedRoom(b, d, "small", 100)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				recs, err := d.ReadAfter(context.Background(), []string{"small"}, ulid.ULID{}, 1000)
				if err != nil || len(recs) != 100 {
					b.Fatalf("got %d, %v", len(recs), err)
				}
			}
		})
	}
}

// seedRoom appends n events to room from 256 writers, many per transaction.
func seedRoom(tb testing.TB, d *DB, room string, n int) {
	tb.Helper()
	var next atomic.Int64
	errs := make(chan error, 256)
	for w := 0; w < 256; w++ {
		go func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, _, err := d.Append(context.Background(), store.Event{Room: room, Type: store.TypeMessage, Author: "seed", Text: fmt.Sprint("message ", i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 256; w++ {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkMessagesPage reads the newest page of 50 messages, and a page in
// the middle, in rooms of 1,000 and 1,000,000 events: the cost must not
// depend on the room's size, because pages come from the message index.
func BenchmarkMessagesPage(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			d := mustOpenDB(b, "", func(d *DB) { d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
			seedRoom(b, d, "r", n)
			mid, err := d.ReadAfter(context.Background(), []string{"r"}, ulid.ULID{}, n/2)
			if err != nil {
				b.Fatal(err)
			}
			before := mid[len(mid)-1].ID
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := store.Page{Limit: 50}
				if i%2 == 1 {
					p.Before = before
				}
				page, err := d.Messages(context.Background(), "r", p)
				if err != nil || len(page) != 50 {
					b.Fatalf("got %d, %v", len(page), err)
				}
			}
		})
	}
}
