package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/stream"
)

// BenchmarkPresenceStorm: 1,000 clients follow one room with presence on,
// each a named person. In each round 200 of them drop their streams and
// reconnect at once, resuming with Last-Event-ID, while a writer posts a
// message every 10 ms; the round ends when every client has every message.
// Reported: the delivery latency of those messages to all 1,000 clients
// (post to receipt, p50 and p99), how long a round takes, and the presence
// events the clients received per round. "new-ids" reconnects as a new
// connection (which replaces the old one in the person's connections: one
// presence update to everyone); "same-ids" asks to keep the connection id,
// which changes nothing in presence; "anonymous" streams name nobody, the
// baseline of a storm without presence to tell. Run it with -benchtime 10x:
// a round takes seconds.
func BenchmarkPresenceStorm(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(400)) // as parley serve sets it
	for _, tc := range []struct {
		name        string
		named, keep bool
	}{{"new-ids", true, false}, {"same-ids", true, true}, {"anonymous", false, false}} {
		b.Run(tc.name, func(b *testing.B) { benchPresenceStorm(b, 1000, 200, tc.named, tc.keep) })
	}
}

func benchPresenceStorm(b *testing.B, clients, storm int, named, keep bool) {
	s := mustStartServer(b, func(srv *api.Server) { srv.Logger = quietLogger() })
	s.post(b, "storm", map[string]string{"author": "w", "text": "start"}, http.StatusCreated)
	transport := &http.Transport{MaxIdleConnsPerHost: clients + 100, DisableCompression: true}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport}
	cs := make([]*stormClient, clients)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range cs {
		url := s.URL() + "/api/rooms/storm/events?x=1"
		if named {
			url += "&author=p" + strconv.Itoa(i)
		}
		cs[i] = &stormClient{url: url, keep: keep, hc: hc}
		wg.Add(1)
		sem <- struct{}{}
		go func(c *stormClient) { defer wg.Done(); defer func() { <-sem }(); c.start(b) }(cs[i])
	}
	wg.Wait()
	defer func() {
		for _, c := range cs {
			c.stop()
		}
	}()

	var (
		lat      []time.Duration
		rounds   time.Duration
		presence int64
		seq      int
	)
	for _, c := range cs {
		presence -= c.presence.Load()
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		start := time.Now()
		for i := 0; i < storm; i++ {
			cs[(n*storm+i)%clients].drop()
		}
		const perRound = 50
		for i := 0; i < perRound; i++ {
			seq++
			body := fmt.Sprintf(`{"author":"w","text":"probe %d %d"}`, seq, time.Now().UnixNano())
			resp, err := http.Post(s.URL()+"/api/rooms/storm/messages", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			time.Sleep(10 * time.Millisecond)
		}
		deadline := time.Now().Add(time.Minute)
		for _, c := range cs {
			for c.seen.Load() < int64(seq) {
				if time.Now().After(deadline) {
					b.Fatalf("a client has %d of %d messages after a minute", c.seen.Load(), seq)
				}
				time.Sleep(time.Millisecond)
			}
		}
		rounds += time.Since(start)
	}
	b.StopTimer()
	for _, c := range cs {
		presence += c.presence.Load()
		c.mu.Lock()
		lat = append(lat, c.lat...)
		c.mu.Unlock()
	}
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(rounds.Seconds()/float64(b.N), "s/round")
	b.ReportMetric(float64(presence)/float64(b.N), "presence-events/round")
	b.ReportMetric(s.scrape(b)["parley_stream_slow_consumer_disconnects_total"], "slow-consumers")
}

// stormClient is one client of BenchmarkPresenceStorm: it follows the room,
// reconnecting at once whenever its stream ends.
type stormClient struct {
	url  string
	keep bool // ask for the same connection id on reconnect
	hc   *http.Client

	mu     sync.Mutex // guards cancel, lat, conn, last and done
	cancel context.CancelFunc
	lat    []time.Duration
	conn   string // the connection id of the last hello
	last   string // the last event id
	done   bool

	seen     atomic.Int64 // the highest probe received
	presence atomic.Int64 // presence events received
	ready    chan struct{}
}

// start opens the first stream, returning once its hello has come.
func (c *stormClient) start(tb testing.TB) {
	c.ready = make(chan struct{})
	go c.run()
	select {
	case <-c.ready:
	case <-time.After(time.Minute):
		tb.Fatal("a client did not connect within a minute")
	}
}

// run follows the room until stop.
func (c *stormClient) run() {
	for first := true; ; first = false {
		c.mu.Lock()
		if c.done {
			c.mu.Unlock()
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		url := c.url
		if c.keep && c.conn != "" {
			url += "&connection=" + c.conn
		}
		last := c.last
		c.mu.Unlock()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			cancel()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c.read(resp.Body, first)
		resp.Body.Close()
		cancel()
	}
}

// read takes a stream's events until it ends.
func (c *stormClient) read(body io.Reader, first bool) {
	r := stream.NewReader(body, 1<<20)
	for {
		e, err := r.Next()
		if err != nil {
			return
		}
		switch {
		case e.Type == "hello":
			var h struct{ Connection string }
			json.Unmarshal([]byte(e.Data), &h)
			c.mu.Lock()
			c.conn = h.Connection
			c.mu.Unlock()
			if first {
				close(c.ready)
			}
		case e.Type == "presence":
			c.presence.Add(1)
		case e.Type == "message" && !e.NoID:
			c.mu.Lock()
			c.last = e.ID
			c.mu.Unlock()
			c.probe([]byte(e.Data))
		}
	}
}

// probe records the latency of a probe message.
func (c *stormClient) probe(data []byte) {
	now := time.Now()
	i := bytes.Index(data, []byte(`"text":"probe `))
	if i < 0 {
		return
	}
	var seq, sent int64
	fmt.Sscanf(string(data[i+len(`"text":"probe `):]), "%d %d", &seq, &sent)
	if seq <= c.seen.Load() {
		return // replayed after a reconnect: counted when it first came
	}
	c.seen.Store(seq)
	c.mu.Lock()
	c.lat = append(c.lat, now.Sub(time.Unix(0, sent)))
	c.mu.Unlock()
}

// drop ends the current stream; run reconnects at once.
func (c *stormClient) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
}

// stop ends the client.
func (c *stormClient) stop() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	c.drop()
}
