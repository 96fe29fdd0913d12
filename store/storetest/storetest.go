// Package storetest checks a store.Log implementation against the contract
// every Log keeps: ids, order, visibility to subscribers, the change rules,
// folding, reads, gaps left by retention, and import. An implementation's
// own tests call Run with a function that opens a fresh, empty log;
// implementation details (how commits are grouped, files, failure
// injection) stay in its own tests.
//
// It also gives the packages above the store a Fake: an in-memory Log that
// keeps the same contract and lets a test stop or disturb it at reads and
// at publishing, to reach the edge cases a real log makes hard to hit.
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
)

// Options configure a log opened for one test.
type Options struct {
	// MaxTextBytes is the text limit in bytes (0: the implementation's
	// default).
	MaxTextBytes int
	// Now is the clock ids are stamped with (nil: the wall clock).
	Now func() time.Time
	// Retention is what rooms without their own retention keep (the zero
	// value keeps everything).
	Retention store.Retention
	// PruneEvery is how often retention runs in the background (0: the
	// implementation's default). Tests of retention set it short.
	PruneEvery time.Duration
}

// Opener opens a fresh, empty log for one test, closed at tb's cleanup.
type Opener func(tb testing.TB, opt Options) store.Store

// Run runs every contract test against logs that open returns, each as a
// subtest.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, Opener)
	}{
		{"AppendStoresWireShape", testAppendStoresWireShape},
		{"IDsIncreaseWhenClockStepsBack", testIDsIncreaseWhenClockStepsBack},
		{"ConcurrentAppendsHaveOneOrder", testConcurrentAppendsHaveOneOrder},
		{"SubscribedRecordsAreVisible", testSubscribedRecordsAreVisible},
		{"ClientIDDeduplicates", testClientIDDeduplicates},
		{"ClientIDIsPerAuthor", testClientIDIsPerAuthor},
		{"AppendRejectsBadEvents", testAppendRejectsBadEvents},
		{"ChangeRules", testChangeRules},
		{"MessagesFoldChanges", testMessagesFoldChanges},
		{"FoldIncrementalEqualsScratch", testFoldIncrementalEqualsScratch},
		{"MessagesAround", testMessagesAround},
		{"ModeratorChangesOthersMessages", testModeratorChangesOthersMessages},
		{"ModeratedIsKeptOnlyWhenUsed", testModeratedIsKeptOnlyWhenUsed},
		{"ReadAfterMergesRoomsInIDOrder", testReadAfterMergesRoomsInIDOrder},
		{"ReadBeforePagesBackwards", testReadBeforePagesBackwards},
		{"ReplayReportsGapsWithItsRecords", testReplayReportsGaps},
		{"ReplayNeverHidesAPruneRacingIt", testReplayPruneRace},
		{"RoomsCountsEvents", testRoomsCountsEvents},
		{"ImportRoundTrip", testImportRoundTrip},
		{"ImportRejectsBadFilesWhole", testImportRejectsBadFilesWhole},
		{"ImportAppliesAppendRules", testImportAppliesAppendRules},
		{"ImportRefusesFutureIDs", testImportRefusesFutureIDs},
		{"RoomRetentionSettings", testRoomRetentionSettings},
		{"MentionsAreDerived", testMentionsAreDerived},
		{"MentionsListed", testMentionsListed},
		{"MarksNeverMoveBack", testMarksNeverMoveBack},
		{"UnreadCounts", testUnreadCounts},
		{"RoomsCountMessages", testRoomsCountMessages},
		{"RoomSettingsBeforeFirstEvent", testRoomSettingsBeforeFirstEvent},
		{"SearchFindsInEveryLanguage", testSearchFindsInEveryLanguage},
		{"SearchFollowsChanges", testSearchFollowsChanges},
		{"SearchImportedHistory", testSearchImportedHistory},
		{"DeleteDoesNotWaitForReaders", testDeleteDoesNotWaitForReaders},
		{"CloseIsIdempotentAndStopsEverything", testCloseIsIdempotent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open) })
	}
}

// Clock is a settable clock for Options.Now. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

// NewClock returns a clock that reads t until it is set.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Set moves the clock to t, forwards or back.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// MustAppend appends a message and fails tb unless it is stored.
func MustAppend(tb testing.TB, l store.Log, room, author, text string) store.Record {
	tb.Helper()
	rec, created, err := l.Append(context.Background(), store.Event{Room: room, Type: store.TypeMessage, Author: author, Text: text})
	if err != nil || !created {
		tb.Fatalf("append: created %v, err %v", created, err)
	}
	return rec
}

// waitUntil polls cond until it holds, failing tb after a minute: what it
// waits for runs in the background, at the speed of a loaded machine.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// appendEvent appends e, a message unless it says otherwise.
func appendEvent(l store.Log, e store.Event) (store.Record, bool, error) {
	if e.Type == "" {
		e.Type = store.TypeMessage
	}
	return l.Append(context.Background(), e)
}
