package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// applyBatch is the most stream messages applied in one transaction.
const applyBatch = 1000

// stallAfter is how long the applier waits for its consumer to deliver a
// sequence a change waits for before it starts a new consumer.
const stallAfter = 5 * time.Second

// gapWait is how long the applier waits for the record of a missing
// sequence before it stops: the record is written before any removal.
const gapWait = 30 * time.Second

// applyLoop is the node's applier: it reads the stream from the replica's
// position and applies it, and after any failure starts again from there.
// It never skips a sequence.
func (l *Log) applyLoop() {
	defer l.wg.Done()
	for {
		err := l.consume()
		select {
		case <-l.stop:
			return
		default:
		}
		l.Logger.Error("cluster applier stopped; restarting from the replica's position", "err", err)
		l.mu.Lock()
		l.applyErr = err
		l.mu.Unlock()
		select {
		case <-l.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

// consume applies the stream from an ordered consumer until it fails or
// the log closes (nil).
func (l *Log) consume() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	next := l.AppliedSeq() + 1
	var cons jetstream.Consumer
	err := retry(ctx, func(actx context.Context) error {
		var err error
		cons, err = l.stream.OrderedConsumer(actx, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   next,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("consumer from %d: %w", next, err)
	}
	// A short expiry and heartbeat notice a consumer lost with its server
	// (the stream leader killed) in seconds, not the default 30.
	it, err := cons.Messages(jetstream.PullMaxMessages(applyBatch), jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return err
	}
	// Not on this goroutine: Stop waits for the ordered consumer's lock,
	// which its own reset holds while it retries creating the consumer on
	// the servers (with backoff, for as long as they refuse).
	defer func() { go it.Stop() }()
	l.consuming.Store(true)
	defer l.consuming.Store(false)
	msgs := make(chan jetstream.Msg, applyBatch)
	failed := make(chan error, 1)
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				failed <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	l.markReady()
	batch := make([]jetstream.Msg, 0, applyBatch)
	watchdog := time.NewTicker(time.Second)
	defer watchdog.Stop()
	var (
		stuckAt    uint64    // applied when a wait for more began
		stuckSince time.Time // zero while nothing waits
		ticks      int
		probing    atomic.Bool // a wantPending runs
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case <-watchdog.C:
			if ticks++; ticks%int(stallAfter/time.Second) == 0 {
				// A node that takes no changes of its own waits for none:
				// what the stream holds is what it must apply. Not on this
				// goroutine: the consumer's Info waits for the lock its
				// reset holds, and the watchdog must go on meanwhile.
				if probing.CompareAndSwap(false, true) {
					go func() {
						defer probing.Store(false)
						l.wantPending(ctx, cons)
					}()
				}
				if err := l.applyErasedTail(ctx); err != nil {
					return err
				}
			}
			// A change waits for a sequence this consumer has not delivered
			// for a while: after a stream leader's crash an ordered
			// consumer's own reset was seen retrying, with a backoff
			// growing to 10 s, for over a minute. Start afresh.
			switch applied, want := l.AppliedSeq(), l.wanted.Load(); {
			case want <= applied:
				stuckSince = time.Time{}
			case stuckSince.IsZero() || applied != stuckAt:
				stuckAt, stuckSince = applied, time.Now()
			case time.Since(stuckSince) > stallAfter:
				return fmt.Errorf("consumer stalled: sequence %d is waited for, %d applied, nothing delivered for %s", want, applied, stallAfter)
			}
		case m := <-msgs:
			batch = append(batch[:0], m)
		drain:
			for len(batch) < applyBatch {
				select {
				case m := <-msgs:
					batch = append(batch, m)
				default:
					break drain
				}
			}
			if err := l.applyMsgs(ctx, batch); err != nil {
				return err
			}
		}
	}
}

// applyMsgs applies a batch of stream messages, with gap records for the
// sequences missing between them, and hands the outcomes to the waiters.
func (l *Log) applyMsgs(ctx context.Context, batch []jetstream.Msg) error {
	next := l.AppliedSeq() + 1
	entries := make([]bolt.Entry, 0, len(batch))
	accounts := false
	for _, m := range batch {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		seq := md.Sequence.Stream
		if seq < next {
			continue // delivered again after a consumer reset
		}
		for ; next < seq; next++ {
			en, err := l.gapEntry(ctx, next)
			if err != nil {
				return err
			}
			entries = append(entries, en)
		}
		if v := m.Headers().Get(headerRules); !knownRules(v) {
			return fmt.Errorf("sequence %d was written for apply rules %q; this node has %q: upgrade it", seq, v, rules)
		}
		en, acct, err := entry(seq, md.Timestamp, m.Data())
		if err != nil {
			return err
		}
		accounts = accounts || acct
		entries = append(entries, en)
		next = seq + 1
	}
	return l.applyEntries(ctx, entries, accounts)
}

// applyEntries applies entries, the next sequences, and hands the outcomes
// to the waiters; accounts says whether any changes accounts.
func (l *Log) applyEntries(ctx context.Context, entries []bolt.Entry, accounts bool) error {
	if len(entries) == 0 {
		return nil
	}
	outs, err := l.DB.Apply(ctx, entries)
	l.delivered(outs)
	l.wakeObjEraser()
	if queuesErase(entries, outs) {
		l.wakeEraser()
	}
	if accounts && len(outs) > 0 {
		l.accountsChanged()
	}
	return err
}

// accountsChanged has OnAccountsChanged called, without blocking the
// applier: changes that come while it runs are covered by one more call.
func (l *Log) accountsChanged() {
	select {
	case l.acctChanged <- struct{}{}:
	default:
	}
}

// watchAccounts calls OnAccountsChanged after account changes were applied.
func (l *Log) watchAccounts() {
	defer l.wg.Done()
	for {
		select {
		case <-l.stop:
			return
		case <-l.acctChanged:
			if fn := l.OnAccountsChanged; fn != nil {
				fn()
			}
		}
	}
}

// applyErasedTail applies the gap records of the messages erased at the
// end of the stream. The consumer never delivers an erased message, and
// the applier otherwise meets its gap only with the next message (a tick,
// up to a minute away): until then a node starting would not be ready,
// and a change waiting for the stream's end would wait. A gap record
// stands for its message wherever it is applied (a rebuild applies it so),
// so it may be applied before its message is removed; a message the
// consumer delivers after its gap was applied is skipped.
func (l *Log) applyErasedTail(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := l.stream.Info(ictx)
	if err != nil {
		return nil // the next round asks again
	}
	var entries []bolt.Entry
	for seq := l.AppliedSeq() + 1; seq <= info.State.LastSeq && len(entries) < applyBatch; seq++ {
		m, err := l.gaps.GetLastMsgForSubject(ictx, l.gapSubject(seq))
		if err != nil {
			break // not erased, or not yet: the consumer delivers it
		}
		en, err := gapEntry(seq, m.Data)
		if err != nil {
			return err
		}
		entries = append(entries, en)
	}
	return l.applyEntries(ctx, entries, false)
}

// gapEntry fetches the gap record of a sequence the stream no longer has.
func (l *Log) gapEntry(ctx context.Context, seq uint64) (bolt.Entry, error) {
	deadline := time.Now().Add(gapWait)
	for {
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := l.gaps.GetLastMsgForSubject(gctx, l.gapSubject(seq))
		cancel()
		if err == nil {
			return gapEntry(seq, m.Data)
		}
		if ctx.Err() != nil {
			return bolt.Entry{}, ctx.Err()
		}
		if time.Now().After(deadline) {
			return bolt.Entry{}, fmt.Errorf("sequence %d was removed from the stream without a gap record (removed outside Parley?): %w", seq, err)
		}
		select {
		case <-ctx.Done():
			return bolt.Entry{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// delivered records the outcomes of applied entries and wakes whoever
// waits for them.
func (l *Log) delivered(outs []bolt.Outcome) {
	if len(outs) == 0 {
		return
	}
	l.mu.Lock()
	for _, o := range outs {
		l.outcomes[o.Seq] = o
		if o.Seq > keepOutcomes {
			delete(l.outcomes, o.Seq-keepOutcomes)
		}
	}
	l.applied = outs[len(outs)-1].Seq
	l.applyErr = nil
	close(l.progress)
	l.progress = make(chan struct{})
	l.mu.Unlock()
	if l.consuming.Load() {
		l.markReady()
	}
}

// markReady notes when the replica has first caught up with the stream
// as it was at Open.
func (l *Log) markReady() {
	if !l.ready.Load() && l.AppliedSeq() >= l.startSeq.Load() && l.ready.CompareAndSwap(false, true) {
		close(l.readyCh)
	}
}

// waitApplied waits until this node has applied seq.
func (l *Log) waitApplied(ctx context.Context, seq uint64) error {
	for {
		l.mu.Lock()
		applied, progress := l.applied, l.progress
		l.mu.Unlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.stop:
			return store.ErrClosed
		}
	}
}

// wantPending notes the next sequence as wanted (want) when the consumer
// has messages it has not delivered, so the watchdog restarts a consumer
// that stopped delivering (or whose consumer the servers lost) on a node
// that takes no changes of its own.
// (The stream's last sequence would not do: a removed last message is
// never delivered, and the node applies its gap only with the next one.)
func (l *Log) wantPending(ctx context.Context, cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil && errors.Is(err, jetstream.ErrConsumerNotFound) || err == nil && info.NumPending > 0 {
		l.want(l.AppliedSeq() + 1)
	}
}

// want notes that seq exists in the stream (JetStream acknowledged it) and
// something waits for it: the applier's watchdog restarts a consumer that
// does not deliver it. Never called with a sequence a client named.
func (l *Log) want(seq uint64) {
	for w := l.wanted.Load(); w < seq && !l.wanted.CompareAndSwap(w, seq); w = l.wanted.Load() {
	}
}

// errOutcomeGone answers a change whose outcome this node no longer keeps.
var errOutcomeGone = store.Unavailable("stored, but this node no longer knows its outcome: retry with the same client_id")

// waitOutcome waits until this node has applied seq and returns what
// applying it did.
func (l *Log) waitOutcome(ctx context.Context, seq uint64) (bolt.Outcome, error) {
	l.want(seq)
	if err := l.waitApplied(ctx, seq); err != nil {
		if errors.Is(err, store.ErrClosed) {
			return bolt.Outcome{}, err
		}
		return bolt.Outcome{}, store.Unavailable("stored; not yet visible on this node: retry with the same client_id")
	}
	l.mu.Lock()
	o, ok := l.outcomes[seq]
	l.mu.Unlock()
	if !ok {
		return o, errOutcomeGone
	}
	return o, nil
}

// queuesErase reports whether applying entries may have queued sequences
// for the eraser: a delete redacted events, a tick pruned, an op collected
// uploads (whose registrations are erased), or an entry with text produced
// no event.
func queuesErase(entries []bolt.Entry, outs []bolt.Outcome) bool {
	for _, o := range outs {
		if len(o.Redacted) > 0 || o.NoEventQueued {
			return true
		}
	}
	for _, en := range entries {
		if en.Kind == bolt.EntryTick || en.Kind == bolt.EntryOp {
			return true // a prune, or a collection of uploads
		}
	}
	return false
}
