package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/storetest"
)

// liveClient reads a stream on its own goroutine, so a test can wait for
// its events with a deadline.
type liveClient struct {
	events chan Event
	stop   func()
	hello  helloData
}

// helloData is what a hello says.
type helloData struct {
	Server      string   `json:"server"`
	Rooms       []string `json:"rooms"`
	ResumedFrom string   `json:"resumed_from"`
	Recovered   bool     `json:"recovered"`
	Connection  string   `json:"connection"`
	You         *Person  `json:"you"`
}

// dialLive opens a stream and reads its hello.
func dialLive(tb testing.TB, url string) *liveClient {
	tb.Helper()
	r, stop := openStream(tb, url)
	c := &liveClient{events: make(chan Event, 1<<14), stop: stop}
	go func() {
		defer close(c.events)
		for {
			e, err := r.Next()
			if err != nil {
				return
			}
			c.events <- e
		}
	}()
	tb.Cleanup(stop)
	h := c.next(tb)
	if h.Type != "hello" || !h.NoID {
		tb.Fatalf("first event: got %+v, want a hello without id", h)
	}
	if err := json.Unmarshal([]byte(h.Data), &c.hello); err != nil {
		tb.Fatalf("hello %s: %v", h.Data, err)
	}
	return c
}

// next returns the next event, waiting up to a minute.
func (c *liveClient) next(tb testing.TB) Event {
	tb.Helper()
	select {
	case e, ok := <-c.events:
		if !ok {
			tb.Fatal("the stream ended")
		}
		return e
	case <-time.After(time.Minute):
		tb.Fatal("no event within a minute")
	}
	return Event{}
}

// ends reads the stream to its end, failing if it does not end within a
// minute.
func (c *liveClient) ends(tb testing.TB) {
	tb.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				return
			}
		case <-deadline:
			tb.Fatal("the stream did not end within a minute")
		}
	}
}

// nextOf skips events until one of type typ.
func (c *liveClient) nextOf(tb testing.TB, typ string) Event {
	tb.Helper()
	for {
		if e := c.next(tb); e.Type == typ {
			return e
		}
	}
}

// caughtUp reads up to the live marker, and the stream's own join after
// it when it belongs to someone.
func (c *liveClient) caughtUp(tb testing.TB) {
	tb.Helper()
	c.nextOf(tb, "live")
	if c.hello.You != nil {
		if p := decodePresence(tb, c.next(tb)); p.Kind == presenceRoster || !slices.Contains(p.Connections, c.hello.Connection) {
			tb.Fatalf("after live: got %+v, want the stream's own join", p)
		}
	}
}

// presenceEvent is the data of any presence event.
type presenceEvent struct {
	Room        string   `json:"room"`
	Kind        string   `json:"kind"`
	Name        string   `json:"name"`
	Guest       bool     `json:"guest"`
	Connections []string `json:"connections"`
	People      []Person `json:"people"`
	Anonymous   int      `json:"anonymous"`
}

func decodePresence(tb testing.TB, e Event) presenceEvent {
	tb.Helper()
	var p presenceEvent
	if e.Type != "presence" || !e.NoID {
		tb.Fatalf("got %+v, want a presence event without id", e)
	}
	if err := json.Unmarshal([]byte(e.Data), &p); err != nil {
		tb.Fatalf("presence %s: %v", e.Data, err)
	}
	return p
}

// expectPresence reads the next event and compares it with a join, update
// or leave of name with conns.
func (c *liveClient) expectPresence(tb testing.TB, kind, name string, conns ...string) {
	tb.Helper()
	p := decodePresence(tb, c.next(tb))
	if conns == nil {
		conns = []string{}
	}
	if p.Kind != kind || p.Name != name || !slices.Equal(p.Connections, conns) {
		tb.Fatalf("got %+v, want %s of %s with %v", p, kind, name, conns)
	}
}

// expectRecord reads the next event and fails unless it is rec: what a
// test appends to show that nothing came before it.
func (c *liveClient) expectRecord(tb testing.TB, rec store.Record) {
	tb.Helper()
	if e := c.next(tb); e.ID != rec.ID.String() || e.NoID {
		tb.Fatalf("got %+v, want record %s", e, rec.ID)
	}
}

// TestHelloStartsEveryStream: every stream starts with a hello, then who is
// in each room, then (resuming) a reset for what retention removed and the
// records, then the live marker; the hello says where it resumed and
// whether it lost nothing.
func TestHelloStartsEveryStream(t *testing.T) {
	log := storetest.OpenFake(t, func(f *storetest.Fake) { f.Retention = store.Retention{Events: 3} })
	h, url := mustServe(t, log, func(h *Hub) { h.Server = "parley/test" })
	a := appendN(t, log, "a", 6, "a")
	b := appendN(t, log, "b", 2, "b")
	if _, err := log.Prune(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query string
		resumed     string
		recovered   bool
		rooms       []string
		want        []Event // between the rosters and the live marker
		last        string
	}{
		{"one room, live only", "rooms=a", "", true, []string{"a"}, nil, ""},
		{"two rooms, live only", "rooms=a,b&who=alice", "", true, []string{"a", "b"}, nil, ""},
		{"resumed, nothing lost", "rooms=b&cursor=" + b[0].ID.String(), b[0].ID.String(), true, []string{"b"}, recordEvents(b[1]), b[1].ID.String()},
		{"resumed past what retention kept", "rooms=a,b&cursor=" + a[1].ID.String(), a[1].ID.String(), false, []string{"a", "b"},
			append([]Event{resetEvent("", "a", a[1], a[3])}, recordEvents(a[3], a[4], a[5], b[0], b[1])...), b[1].ID.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialLive(t, url+"?"+tc.query)
			hd := c.hello
			if hd.Server != "parley/test" || !slices.Equal(hd.Rooms, tc.rooms) || hd.ResumedFrom != tc.resumed ||
				hd.Recovered != tc.recovered || !strings.HasPrefix(hd.Connection, h.Node+"-") {
				t.Fatalf("hello: got %+v", hd)
			}
			for _, room := range tc.rooms {
				if p := decodePresence(t, c.next(t)); p.Kind != presenceRoster || p.Room != room {
					t.Fatalf("got %+v, want the roster of %s", p, room)
				}
			}
			for i, w := range tc.want {
				if e := c.next(t); e != w {
					t.Fatalf("event %d: got %+v, want %+v", i, e, w)
				}
			}
			if e := c.next(t); e.Type != "live" || !e.NoID || e.Data != `{"last_id":"`+tc.last+`"}` {
				t.Fatalf("after replay: got %+v, want the live marker", e)
			}
		})
	}
}

// TestEphemeralEventsHaveNoIDAndNeverReplay: an ephemeral event carries no
// id line, so the client's last event id stays on the last record, and a
// stream resumed from there gets the records after it and no ephemeral
// event of the past.
func TestEphemeralEventsHaveNoIDAndNeverReplay(t *testing.T) {
	log := storetest.OpenFake(t)
	h, url := mustServe(t, log, nil)
	c := dialLive(t, url+"?rooms=a")
	c.caughtUp(t)
	c.next(t) // its own anonymous count
	first := appendN(t, log, "a", 1, "before")[0]
	c.expectRecord(t, first)
	if err := h.Typing("a", personOf("bob", false), false); err != nil {
		t.Fatal(err)
	}
	e := c.next(t)
	if e.Type != TypeTyping || !e.NoID || e.ID != first.ID.String() {
		t.Fatalf("got %+v, want a typing event without id, the last id still %s", e, first.ID)
	}
	after := appendN(t, log, "a", 1, "after")[0]
	c.expectRecord(t, after)
	h.Typing("a", personOf("bob", false), true) // bob is not typing now
	c.nextOf(t, TypeTyping)

	again := dialLive(t, url+"?rooms=a&cursor="+first.ID.String())
	for e := again.next(t); e.Type != "live"; e = again.next(t) {
		if e.NoID && e.Type != "presence" {
			t.Fatalf("replay: got %+v, want presence, the records after the cursor and live", e)
		}
		if !e.NoID && e.ID != after.ID.String() {
			t.Fatalf("replay: got %+v, want %s only", e, after.ID)
		}
	}
}

// TestPresenceAcrossThreeClients: people join with their first stream,
// change with each stream they open or close, and leave with their last,
// after the grace period; a new stream gets everyone at once.
func TestPresenceAcrossThreeClients(t *testing.T) {
	log := storetest.OpenFake(t)
	h, url := mustServe(t, log, func(h *Hub) { h.Grace = 20 * time.Millisecond })
	room := url + "?rooms=a&who="
	carol := dialLive(t, room+"carol")
	if p := decodePresence(t, carol.next(t)); p.Kind != presenceRoster || len(p.People) != 0 || p.Anonymous != 0 {
		t.Fatalf("roster of an empty room: got %+v", p)
	}
	carol.caughtUp(t)
	c1 := carol.hello.Connection

	alice1 := dialLive(t, room+"alice")
	a1 := alice1.hello.Connection
	carol.expectPresence(t, presenceJoin, "alice", a1)
	alice2 := dialLive(t, room+"alice")
	a2 := alice2.hello.Connection
	carol.expectPresence(t, presenceUpdate, "alice", a1, a2)
	bob := dialLive(t, room+"bob&guest=1")
	b1 := bob.hello.Connection
	carol.expectPresence(t, presenceJoin, "bob", b1)

	dave := dialLive(t, url+"?rooms=a,b&who=dave")
	p := decodePresence(t, dave.next(t))
	want := []Person{{"alice", false, []string{a1, a2}}, {"bob", true, []string{b1}}, {"carol", false, []string{c1}}}
	if p.Kind != presenceRoster || p.Room != "a" || fmt.Sprint(p.People) != fmt.Sprint(want) {
		t.Fatalf("roster: got %+v, want %+v", p, want)
	}
	carol.expectPresence(t, presenceJoin, "dave", dave.hello.Connection)

	alice1.stop()
	carol.expectPresence(t, presenceUpdate, "alice", a2)
	alice2.stop()
	carol.expectPresence(t, presenceLeave, "alice")
	got, err := h.Presence("a")
	if err != nil || len(got.People) != 3 || got.People[0].Name != "bob" {
		t.Fatalf("presence: got %+v, %v; want bob, carol and dave", got, err)
	}
}

// TestQuickReconnectDoesNotFlap: within the grace period a person who
// reconnects never leaves: a new stream replaces the closed one in their
// connections, and reconnecting with the old connection id changes nothing
// at all; only the same person may take an id over.
func TestQuickReconnectDoesNotFlap(t *testing.T) {
	log := storetest.OpenFake(t)
	h, url := mustServe(t, log, func(h *Hub) { h.Grace = time.Hour })
	room := url + "?rooms=a&who="
	carol := dialLive(t, room+"carol")
	carol.caughtUp(t)
	bob1 := dialLive(t, room+"bob")
	b1 := bob1.hello.Connection
	carol.expectPresence(t, presenceJoin, "bob", b1)

	// Without asking for its id, the reconnect replaces the closed stream
	// in bob's connections: one update, no leave.
	bob1.stop()
	waitFor(t, func() bool { return h.Stats().Open == 1 })
	bob2 := dialLive(t, room+"bob")
	b2 := bob2.hello.Connection
	carol.expectPresence(t, presenceUpdate, "bob", b2)
	carol.expectRecord(t, appendN(t, log, "a", 1, "no leave before this")[0])

	bob2.stop()
	waitFor(t, func() bool { return h.Stats().Open == 1 })
	if c := dialLive(t, room+"carol&connection="+b2); c.hello.Connection == b2 {
		t.Fatalf("carol took over bob's connection %s", b2)
	}
	carol.nextOf(t, "presence") // carol's second stream
	bob3 := dialLive(t, room+"bob&connection="+b2)
	if bob3.hello.Connection != b2 {
		t.Fatalf("reconnect with connection %s: got %s", b2, bob3.hello.Connection)
	}
	carol.expectRecord(t, appendN(t, log, "a", 1, "nothing before this")[0])

	// A reconnect that comes before the server noticed the old stream is
	// gone takes the id over and ends the old stream.
	bob4 := dialLive(t, room+"bob&connection="+b2)
	if bob4.hello.Connection != b2 {
		t.Fatalf("taking over the open connection %s: got %s", b2, bob4.hello.Connection)
	}
	bob3.ends(t)
	carol.expectRecord(t, appendN(t, log, "a", 1, "still nothing before this")[0])
	// A second stream of bob's, with the first still open, is a second
	// connection; closing it leaves it in its grace period.
	bob5 := dialLive(t, room+"bob")
	b5 := bob5.hello.Connection
	carol.expectPresence(t, presenceUpdate, "bob", b2, b5)
	bob5.stop()
	waitFor(t, func() bool { return h.Stats().Open == 3 })
	got, _ := h.Presence("a")
	if len(got.People) != 2 || !slices.Equal(got.People[0].Connections, []string{b2, b5}) {
		t.Fatalf("presence: got %+v, want bob with %s and %s (in its grace period)", got.People, b2, b5)
	}
	carol.expectRecord(t, appendN(t, log, "a", 1, "and no change before this")[0])
}

// TestTypingReachesOthersAndEnds: typing reaches the room's other streams,
// not the typist's; it lasts TypingTTL, ends with the typist's message or
// when they stop, and a new stream learns who is typing.
func TestTypingReachesOthersAndEnds(t *testing.T) {
	log := storetest.OpenFake(t)
	clock := storetest.NewClock(time.Now())
	h, url := mustServe(t, log, func(h *Hub) { h.Now = clock.Now })
	carol := dialLive(t, url+"?rooms=a&who=carol")
	carol.caughtUp(t)
	alice := dialLive(t, url+"?rooms=a&who=alice")
	alice.caughtUp(t)
	carol.nextOf(t, "presence")
	expectTyping := func(c *liveClient, ms int) {
		t.Helper()
		e := c.nextOf(t, TypeTyping)
		if e.Type != TypeTyping || !e.NoID || e.Data != fmt.Sprintf(`{"room":"a","author":"alice","expires_in_ms":%d}`, ms) {
			t.Fatalf("got %+v, want alice typing for %d ms", e, ms)
		}
	}
	typists := func() []Typist {
		p, err := h.Presence("a")
		if err != nil {
			t.Fatal(err)
		}
		return p.Typing
	}

	alice1 := personOf("alice", false)
	h.Typing("a", alice1, false)
	expectTyping(carol, 5000)
	alice.expectRecord(t, appendN(t, log, "a", 1, "by t")[0]) // alice is not told
	if got := typists(); len(got) != 1 || got[0] != (Typist{"alice", 5000}) {
		t.Fatalf("typing: got %+v", got)
	}
	dave := dialLive(t, url+"?rooms=a&who=dave")
	dave.next(t) // the roster
	if e := dave.next(t); e.Type != TypeTyping {
		t.Fatalf("after the roster: got %+v, want who is typing", e)
	}

	clock.Add(6 * time.Second)
	if got := typists(); len(got) != 0 {
		t.Fatalf("typing after it expired: got %+v", got)
	}
	h.Typing("a", alice1, false)
	expectTyping(carol, 5000)
	msg := storetest.MustAppend(t, log, "a", "alice", "done typing")
	carol.expectRecord(t, msg)
	expectTyping(carol, 0)
	if got := typists(); len(got) != 0 {
		t.Fatalf("typing after the message: got %+v", got)
	}
	h.Typing("a", alice1, false)
	expectTyping(carol, 5000)
	h.Typing("a", alice1, true)
	expectTyping(carol, 0)
}

// TestSignalsReachOnlyTheirRecipient: a signal goes to one connection of
// the room, from a connection of the sender in that room; a forged sender,
// a recipient in another room or one that is gone is refused.
func TestSignalsReachOnlyTheirRecipient(t *testing.T) {
	log := storetest.OpenFake(t)
	h, url := mustServe(t, log, func(h *Hub) { h.Grace = time.Hour })
	clients := map[string]*liveClient{}
	for _, q := range []string{"rooms=a&who=alice", "rooms=a&who=bob", "rooms=a&who=carol", "rooms=b&who=dan"} {
		c := dialLive(t, url+"?"+q)
		c.caughtUp(t)
		clients[c.hello.You.Name] = c
	}
	conn := func(name string) string { return clients[name].hello.Connection }
	alice := personOf("alice", false)
	offer := Signal{Room: "a", Who: alice, From: conn("alice"), To: conn("bob"), Kind: "offer", Payload: json.RawMessage(`{"sdp":"v=0"}`)}
	if err := h.Signal(context.Background(), offer); err != nil {
		t.Fatal(err)
	}
	e := clients["bob"].nextOf(t, TypeSignal)
	want := fmt.Sprintf(`{"room":"a","kind":"offer","from":"%s","to":"%s","author":"alice","guest":false,"payload":{"sdp":"v=0"}}`, conn("alice"), conn("bob"))
	if !e.NoID || e.Data != want {
		t.Fatalf("bob got %+v, want %s", e, want)
	}
	rec := appendN(t, log, "a", 1, "after the signal")[0]
	for _, name := range []string{"alice", "carol"} {
		for e := clients[name].next(t); e.ID != rec.ID.String(); e = clients[name].next(t) {
			if e.Type == TypeSignal {
				t.Fatalf("%s got the signal for bob: %+v", name, e)
			}
		}
	}

	for _, tc := range []struct {
		name string
		sig  Signal
		want error
	}{
		{"from someone else's connection", Signal{Room: "a", Who: personOf("carol", false), From: conn("alice"), To: conn("bob"), Kind: "offer"}, ErrNotYours},
		{"from a connection of another room", Signal{Room: "b", Who: alice, From: conn("alice"), To: conn("dan"), Kind: "ring"}, ErrNotYours},
		{"anonymous", Signal{Room: "a", From: conn("alice"), To: conn("bob"), Kind: "ring"}, ErrNotYours},
		{"to a connection of another room", Signal{Room: "a", Who: alice, From: conn("alice"), To: conn("dan"), Kind: "ring"}, ErrGone},
		{"to no connection", Signal{Room: "a", Who: alice, From: conn("alice"), To: h.Node + "-zz", Kind: "ring"}, ErrGone},
	} {
		if err := h.Signal(context.Background(), tc.sig); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	clients["bob"].stop()
	waitFor(t, func() bool { return h.Stats().Open == 3 })
	if err := h.Signal(context.Background(), offer); !errors.Is(err, ErrGone) {
		t.Fatalf("to a closed stream (still in presence): got %v, want ErrGone", err)
	}
}

// TestReadMarkerReachesThePersonsOtherStreams: a read marker goes to the
// person's streams of the room, nobody else's.
func TestReadMarkerReachesThePersonsOtherStreams(t *testing.T) {
	log := storetest.OpenFake(t)
	h, url := mustServe(t, log, nil)
	phone := dialLive(t, url+"?rooms=a&who=alice")
	phone.caughtUp(t)
	carol := dialLive(t, url+"?rooms=a&who=carol")
	carol.caughtUp(t)
	phone.nextOf(t, "presence")
	rec := appendN(t, log, "a", 1, "read me")[0]
	h.MarkRead("a", personOf("alice", false), rec.ID.String())
	if e := phone.nextOf(t, TypeRead); !e.NoID || e.Data != `{"room":"a","id":"`+rec.ID.String()+`"}` {
		t.Fatalf("alice's phone: got %+v", e)
	}
	carol.expectRecord(t, rec)
	carol.expectRecord(t, appendN(t, log, "a", 1, "after")[0])
}

// TestRosterSurvivesAnOverflowDuringReplay: a stream whose queue overflows
// while it catches up loses the presence changes queued; it gets who is
// there again, so its view ends right.
func TestRosterSurvivesAnOverflowDuringReplay(t *testing.T) {
	log := storetest.OpenFake(t)
	_, url := mustServe(t, log, func(h *Hub) { h.BufferEvents, h.ReplayPage = 4, 5 })
	seed := appendN(t, log, "a", 8, "seed")
	var (
		once sync.Once
		bob  *liveClient
	)
	log.SetHooks(storetest.Hooks{AfterRead: func(context.Context, storetest.Op, int) {
		once.Do(func() {
			bob = dialLive(t, url+"?rooms=a&who=bob") // its join is queued...
			appendN(t, log, "a", 10, "overflow")      // ...and dropped
		})
	}})
	c := dialLive(t, url+"?rooms=a&cursor="+seed[0].ID.String())
	people := map[string]bool{}
	for e := c.next(t); e.Type != "live"; e = c.next(t) {
		if e.Type != "presence" {
			continue
		}
		p := decodePresence(t, e)
		switch p.Kind {
		case presenceRoster:
			clear(people)
			for _, person := range p.People {
				people[person.Name] = true
			}
		case presenceJoin, presenceUpdate:
			people[p.Name] = true
		case presenceLeave:
			delete(people, p.Name)
		}
	}
	if !people["bob"] || bob == nil {
		t.Fatalf("caught up: got %v, want bob there", people)
	}
}

// TestTakeoverOutlivesTheOldStreamsClose: when a reconnect takes over a
// connection id whose stream is still open, the old stream's close comes
// later; it must not start a grace period that ends the new stream's
// presence.
func TestTakeoverOutlivesTheOldStreamsClose(t *testing.T) {
	log := storetest.OpenFake(t)
	h, url := mustServe(t, log, func(h *Hub) { h.Grace = 20 * time.Millisecond })
	room := url + "?rooms=a&who="
	carol := dialLive(t, room+"carol")
	carol.caughtUp(t)
	bob1 := dialLive(t, room+"bob")
	b := bob1.hello.Connection
	carol.expectPresence(t, presenceJoin, "bob", b)
	bob2 := dialLive(t, room+"bob&connection="+b)
	if bob2.hello.Connection != b {
		t.Fatalf("takeover: got %s, want %s", bob2.hello.Connection, b)
	}
	bob1.ends(t)
	waitFor(t, func() bool { return h.Stats().Open == 2 })
	// dave comes and goes after the old stream closed: his leave comes
	// after any grace period the old stream's close could have started.
	dave := dialLive(t, room+"dave")
	carol.expectPresence(t, presenceJoin, "dave", dave.hello.Connection)
	dave.stop()
	carol.expectPresence(t, presenceLeave, "dave")
	if got, _ := h.Presence("a"); len(got.People) != 2 || got.People[0].Name != "bob" {
		t.Fatalf("presence: got %+v, want bob still there", got.People)
	}
}
