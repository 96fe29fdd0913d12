// Package jetstream is Parley's cluster log (docs/cluster.md): a store.Log
// and store.Accounts whose source of truth is a NATS JetStream stream.
// Every node applies the stream, in sequence order, to a local bbolt
// replica (store/bolt in replica mode) with ids derived from the stream, so
// every node holds the same events under the same ids, and serves every
// read from its replica. A change is published, acknowledged by a quorum
// of NATS servers, then answered with what applying it did on this node.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/blobdir"
	"github.com/parleychat/parley/store/bolt"
)

// Log is a cluster node's log. Reads, Subscribe and Backup are the
// replica's (the embedded *bolt.DB); changes go through the stream. Set
// the exported fields before Open. All methods are safe for concurrent use.
type Log struct {
	// DB is the node's replica; Open opens it in replica mode. Its clock,
	// Retention and DedupWindow are what this node puts in the retention
	// ticks it publishes.
	*bolt.DB

	// URLs are the NATS servers, like nats://10.0.0.1:4222.
	URLs []string
	// Options are extra NATS connection options: credentials, TLS.
	Options []nats.Option
	// Stream names the stream; GapStream the stream of gap records,
	// NodeBucket the key-value bucket of node heartbeats and FileBucket the
	// object store of uploaded files.
	Stream, GapStream, NodeBucket, FileBucket string
	// Prefix begins every subject of the streams.
	Prefix string
	// Replicas is used when the streams are created; below 3 Open warns.
	Replicas int
	// Node names this node in headers and heartbeats.
	Node string
	// WriteTimeout bounds how long a change waits for the cluster to store
	// and this node to apply it.
	WriteTimeout time.Duration
	// TickEvery is the interval of retention ticks (a minute).
	TickEvery time.Duration
	// StartTimeout bounds Open's wait for the cluster to take the streams.
	StartTimeout time.Duration
	// Logger receives background errors and warnings.
	Logger *slog.Logger
	// OnAccountsChanged, if set, is called after this node applied account
	// changes made through any node (users, credentials, invites, room
	// access), so streams that lost access end on every node. It runs on a
	// goroutine of its own; calls for changes that come while it runs are
	// folded into one more call.
	OnAccountsChanged func()

	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	gaps   jetstream.Stream
	nodes  jetstream.KeyValue
	// cache is this node's Blobs in front of the object store of files.
	cache *cache
	// objMu guards objs, the object store of files, and objStream, its
	// stream (for erasing chunks): both nil until the first file needs
	// them (objects.go).
	objMu     sync.Mutex
	objs      jetstream.ObjectStore
	objStream jetstream.Stream

	mu       sync.Mutex // guards applied, progress, outcomes, applyErr
	applied  uint64
	progress chan struct{} // closed and replaced whenever applied moves
	outcomes map[uint64]bolt.Outcome
	applyErr error // why the applier is stopped, until it runs again

	acctChanged chan struct{} // a pending OnAccountsChanged call
	eraseWake   chan struct{} // the erase queue may have grown
	objWake     chan struct{} // the object erase queue may have grown
	// afterGap, if set (tests), runs after a gap record is stored and
	// before the sequence is removed; an error stops that erase.
	afterGap func(ctx context.Context, seq uint64) error

	startSeq atomic.Uint64 // the stream's last sequence when Open ran
	ready    atomic.Bool   // caught up with startSeq once, the consumer running
	readyCh  chan struct{} // closed when ready is first set
	// consuming is set while the applier's consumer is running.
	consuming atomic.Bool
	// wanted is the highest sequence a change or read waits for.
	wanted atomic.Uint64

	closeOnce sync.Once
	stop      chan struct{}
	stopCtx   context.Context // ends when Close begins
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// keepOutcomes is how many recent outcomes a node keeps for the changes
// that wait for them (each waits only until its own node applied it).
const keepOutcomes = 1 << 16

// New returns a Log for the replica db and the NATS servers at urls, with
// default settings.
func New(db *bolt.DB, urls []string) *Log {
	return &Log{
		DB:           db,
		URLs:         urls,
		Stream:       "PARLEY",
		GapStream:    "PARLEY_GAPS",
		NodeBucket:   "parley_nodes",
		FileBucket:   "parley_files",
		Prefix:       "parley",
		Replicas:     3,
		Node:         "parley",
		WriteTimeout: 25 * time.Second,
		TickEvery:    time.Minute,
		StartTimeout: time.Minute,
		Logger:       slog.Default(),
	}
}

// Open opens the replica, connects to NATS, creates the streams if they
// do not exist, and starts applying the stream. It returns before the
// replica has caught up: until then Ping fails, so /readyz is 503, and
// WaitCaughtUp waits for it.
func (l *Log) Open() error {
	if l.DB == nil || len(l.URLs) == 0 || l.Logger == nil || l.WriteTimeout <= 0 || l.TickEvery <= 0 {
		return errors.New("jetstream: DB, URLs, WriteTimeout, TickEvery and Logger must be set")
	}
	l.DB.Replica = true
	dir, err := blobdir.Open(l.DB.Path + ".files")
	if err != nil {
		return err
	}
	l.cache = &cache{l: l, dir: dir}
	l.DB.BlobStore = l.cache
	if err := l.DB.Open(); err != nil {
		return err
	}
	if err := l.connect(); err != nil {
		l.DB.Close()
		return err
	}
	seq, _, err := l.DB.Applied()
	if err == nil {
		err = l.checkPosition(seq)
	}
	if err != nil {
		l.nc.Close()
		l.DB.Close()
		return err
	}
	l.applied = seq
	l.progress = make(chan struct{})
	l.readyCh = make(chan struct{})
	l.outcomes = make(map[uint64]bolt.Outcome)
	l.stop = make(chan struct{})
	l.stopCtx, l.cancel = context.WithCancel(context.Background())
	l.acctChanged = make(chan struct{}, 1)
	l.eraseWake = make(chan struct{}, 1)
	l.objWake = make(chan struct{}, 1)
	l.wg.Add(6)
	go l.eraseLoop()
	go l.objEraseLoop()
	go l.watchAccounts()
	go l.applyLoop()
	go l.tickLoop()
	go l.heartbeatLoop()
	return nil
}

// connect connects to NATS and gets, or creates, the streams.
func (l *Log) connect() error {
	opts := append([]nats.Option{
		nats.Name("parley " + l.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// A node started before its NATS servers waits for them (up to
		// StartTimeout, in the stream calls below) rather than failing.
		nats.RetryOnFailedConnect(true),
	}, l.Options...)
	nc, err := nats.Connect(joinURLs(l.URLs), opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS %v: %w", l.URLs, err)
	}
	l.nc = nc
	if l.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.StartTimeout)
	defer cancel()
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		l.stream, err = getOrCreateStream(ctx, l.js, jetstream.StreamConfig{
			Name:        l.Stream,
			Subjects:    []string{l.Prefix + ".room.>", l.acctSubject(), l.clusterSubject()},
			Storage:     jetstream.FileStorage,
			Replicas:    l.Replicas,
			Discard:     jetstream.DiscardNew,
			Duplicates:  2 * time.Minute,
			MaxMsgSize:  1 << 20,
			AllowDirect: false,
		})
		if err != nil {
			return err
		}
		l.gaps, err = getOrCreateStream(ctx, l.js, jetstream.StreamConfig{
			Name:              l.GapStream,
			Subjects:          []string{l.Prefix + "_gap.>"},
			Storage:           jetstream.FileStorage,
			Replicas:          l.Replicas,
			MaxMsgsPerSubject: 1,
			Duplicates:        2 * time.Minute,
		})
		if err != nil {
			return err
		}
		if l.nodes, err = l.js.KeyValue(ctx, l.NodeBucket); errors.Is(err, jetstream.ErrBucketNotFound) {
			l.nodes, err = l.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: l.NodeBucket, Replicas: l.Replicas, TTL: 24 * time.Hour, Storage: jetstream.FileStorage,
			})
		}
		return err
	})
	if err != nil {
		nc.Close()
		return fmt.Errorf("create stream %s on %v: %w", l.Stream, l.URLs, err)
	}
	if l.stream.CachedInfo().Config.AllowDirect {
		l.Logger.Warn("the cluster stream allows direct gets: a token made through one node may be refused by another for a moment; turn allow_direct off", "stream", l.Stream)
	}
	if r := l.stream.CachedInfo().Config.Replicas; r < 3 {
		l.Logger.Warn("the cluster stream is not replicated: acknowledged events are lost if one NATS server loses its disk (docs/cluster.md)", "stream", l.Stream, "replicas", r)
	}
	return nil
}

// getOrCreateStream returns the stream cfg names, creating it with cfg if
// it does not exist. An existing stream is never changed: its replicas and
// limits are the operator's once it exists.
func getOrCreateStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg)
	}
	return s, err
}

// checkPosition refuses a replica that is ahead of the stream: the stream
// lost acknowledged messages, or the file belongs to another cluster.
func (l *Log) checkPosition(applied uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.StartTimeout)
	defer cancel()
	var last uint64
	err := retry(ctx, func(ctx context.Context) error {
		// Info counts erased last messages; the leader's last message is
		// current while info of a new stream may not be (lastStored).
		info, err := l.stream.Info(ctx)
		if err != nil {
			return err
		}
		stored, err := l.lastStored(ctx)
		last = max(info.State.LastSeq, stored)
		return err
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", l.Stream, err)
	}
	if applied > last {
		return fmt.Errorf("the replica %s has applied sequence %d but stream %s ends at %d: the stream lost acknowledged messages or is another cluster's; rebuild the replica or re-seed the stream (docs/cluster.md)", l.DB.Path, applied, l.Stream, last)
	}
	l.startSeq.Store(last)
	return nil
}

// Ping implements store.Log: the replica must be readable, caught up with
// the stream as it was at Open, and its applier running.
func (l *Log) Ping(ctx context.Context) error {
	if err := l.DB.Ping(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	applied, aerr := l.applied, l.applyErr
	l.mu.Unlock()
	if aerr != nil {
		return store.Unavailable("cluster replica stopped applying: " + aerr.Error())
	}
	if !l.ready.Load() {
		return store.Unavailable(fmt.Sprintf("catching up with the cluster: applied %d of %d", applied, l.startSeq.Load()))
	}
	if !l.nc.IsConnected() {
		return store.Unavailable("not connected to NATS")
	}
	return nil
}

// WaitCaughtUp waits until the replica has applied the stream as it was at
// Open and the applier's consumer is running: the node is ready.
func (l *Log) WaitCaughtUp(ctx context.Context) error {
	select {
	case <-l.readyCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.stop:
		return store.ErrClosed
	}
}

// AppliedSeq returns the last stream sequence this node applied.
func (l *Log) AppliedSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

// Close stops applying, disconnects and closes the replica. It is safe to
// call more than once.
func (l *Log) Close() error {
	var err error
	l.closeOnce.Do(func() {
		if l.stop == nil { // never opened
			return
		}
		close(l.stop)
		l.cancel()
		l.wg.Wait()
		l.nc.Close()
		err = l.DB.Close()
	})
	return err
}

// closed reports whether Close has begun (or Open never ran).
func (l *Log) closed() bool {
	if l.stop == nil {
		return true
	}
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// retry calls fn until it succeeds or ctx ends, backing off 100 ms to 1 s:
// a cluster that is forming, or electing a leader, refuses for a while.
func retry(ctx context.Context, fn func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func joinURLs(urls []string) string {
	s := ""
	for i, u := range urls {
		if i > 0 {
			s += ","
		}
		s += u
	}
	return s
}
