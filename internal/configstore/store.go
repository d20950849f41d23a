package configstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

// Router sends commands and queries to a group, here or on the node that
// can serve them (forward.Router).
type Router interface {
	// Propose replicates cmd in group gid through its leader, retrying
	// while it is certainly not applied, until ctx ends.
	Propose(ctx context.Context, gid replica.GroupID, cmd kv.Command) (kv.Reply, error)
	// Read evaluates q on a replica of gid in mode: the local one, else
	// one on another node.
	Read(ctx context.Context, gid replica.GroupID, mode replica.ReadMode, q kv.Query) (kv.Reply, error)
}

// Config is what a Store needs.
type Config struct {
	// Node is this node's name, for errors.
	Node string
	// Clock paces the watch poller. Default clock.Real{}.
	Clock clock.Clock
	// Interval is how often watched keys are read (the node's tick).
	// Default 100ms.
	Interval time.Duration
	// RequestTimeout bounds every get and every poll. Default 2s.
	RequestTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Store is a replica.ConfigStore on the meta group: the
// records live under cluster.MetaKeyEnginePrefix as user keys of group
// 0's kv state machine, so a compare-and-swap is one kv PUT conditioned
// on the key's version (FlagIfVersion, with FlagReturnPrev so that a
// conflict carries the current value), which the state machine decides
// deterministically when it applies it; the version is the kv record's,
// the meta group's log index of the write.
//
// Every call runs on a goroutine of its own and answers from it:
//
//   - CompareAndSwap proposes through the Router on group 0, the path the
//     node's other one-command meta writes take (its advertised
//     addresses): on the local replica when it leads, else forwarded once
//     to the meta leader's node, retried while certainly not applied. NB:
//     not routing's ChangeMeta read-compute-propose loop on the leader:
//     that one computes records from a read, here the condition is in the
//     command.
//   - Get is a linearizable read of group 0: on the local replica (a
//     follower read when it does not lead), else on a node holding one.
//   - Watch polls: one goroutine reads every watched key every interval (a
//     stale read of the local replica, or of a remote one when this node
//     holds none) and hands each watcher what is newer than it saw. NB:
//     polling, not a hook on apply, because it is the one way that works
//     on a node without a meta replica (most nodes, past five), it keeps
//     the apply path untouched, and a stale local read of a few keys per
//     tick costs little. A change is seen within a tick of being applied
//     where it is read; versions only grow, so a read of a replica that
//     lags the last one never goes back.
//
// A node closes it first, before the host and the forwarder: calls in
// flight end with an error wrapping replica.ErrStopped (and ErrNotApplied
// too when the write certainly did not happen), and later calls get
// ErrStopped at once, from a goroutine of their own all the same.
type Store struct {
	cfg    Config
	router Router // set by Start, before ready closes
	// ready is closed once the node can propose and forward (Start);
	// calls made before wait for it.
	ready  chan struct{}
	ctx    context.Context // ends when the store stops
	cancel context.CancelFunc
	wake   chan struct{} // a new watch: poll now
	wg     sync.WaitGroup
	mu     struct {
		sync.Mutex
		stopped bool
		watches []*configWatch
	}
}

var _ replica.ConfigStore = (*Store)(nil)

type configWatch struct {
	key       string
	fn        func([]byte, uint64)
	cancelled atomic.Bool
	// last is the version fn was last called with; only the poller
	// touches it.
	last uint64
}

// New makes a Store; its calls wait for Start.
func New(cfg Config) *Store {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Store{cfg: cfg, ready: make(chan struct{}), wake: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Start lets the calls run through r (the node can propose and forward
// now) and starts the watch poller.
func (s *Store) Start(r Router) {
	s.router = r
	close(s.ready)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.stopped {
		s.wg.Add(1)
		go s.poll()
	}
}

// Close stops the store and waits for its goroutines, done and fn calls
// included.
func (s *Store) Close() {
	s.mu.Lock()
	s.mu.stopped = true
	s.mu.watches = nil
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// run runs call on a goroutine of its own, with a context that ends when
// the store stops; stopped answers instead when it has.
func (s *Store) run(call func(ctx context.Context), stopped func(error)) {
	s.mu.Lock()
	if s.mu.stopped {
		s.mu.Unlock()
		// NB: still not on the caller's goroutine, as the contract says.
		go stopped(fmt.Errorf("%w: node %s: config store stopped", replica.ErrStopped, s.cfg.Node))
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		select {
		case <-s.ready:
		case <-s.ctx.Done():
			stopped(fmt.Errorf("%w: %w: node %s stopped before it started", replica.ErrStopped, replica.ErrNotApplied, s.cfg.Node))
			return
		}
		call(s.ctx)
	}()
}

// CompareAndSwap implements replica.ConfigStore.
func (s *Store) CompareAndSwap(key string, version uint64, value []byte, done func(uint64, error)) {
	value = bytes.Clone(value)
	s.run(func(ctx context.Context) {
		done(s.cas(ctx, key, version, value))
	}, func(err error) { done(0, err) })
}

func (s *Store) cas(ctx context.Context, key string, version uint64, value []byte) (uint64, error) {
	if err := replica.ValidConfigKey(key); err != nil {
		return 0, err
	}
	cmd := kv.NewCommand(kv.Put(cluster.EngineConfigKey(key), value).IfVersion(version).ReturnPrev())
	// NB: no session: a retry after an unknown outcome is the caller's,
	// with the same version, and meets a conflict holding its own value
	// if the first attempt went through.
	rep, err := s.router.Propose(ctx, 0, cmd)
	if err != nil {
		return 0, s.callError(key, err)
	}
	if rep.Code != kv.CodeOK || len(rep.Responses) != 1 {
		// Nothing of the command was applied (a malformed command).
		return 0, fmt.Errorf("%w: configstore: config %q: the meta group refused the write: %s", replica.ErrNotApplied, key, rep.Code.Message())
	}
	switch r := rep.Responses[0]; r.Code {
	case kv.CodeOK:
		return r.Version, nil
	case kv.CodeConditionFailed:
		c := &replica.ErrConfigConflict{Key: key, Version: r.Version}
		if r.HasValue {
			c.Value = bytes.Clone(r.Value)
		}
		return 0, c
	default:
		return 0, fmt.Errorf("%w: configstore: config %q: the meta group refused the write: %s", replica.ErrNotApplied, key, r.Code.Message())
	}
}

// callError words a failed call in the contract's errors: it wraps
// ErrNotApplied when the call certainly changed nothing, ErrIndeterminate
// otherwise, and ErrStopped as well when the store stopped under it.
func (s *Store) callError(key string, err error) error {
	switch api.OutcomeOf(err) {
	case api.NotApplied, api.Invalid, api.NoSpace:
		if !errors.Is(err, replica.ErrNotApplied) {
			err = fmt.Errorf("%w: %w", replica.ErrNotApplied, err)
		}
	default:
		if !errors.Is(err, replica.ErrIndeterminate) {
			err = fmt.Errorf("%w: %w", replica.ErrIndeterminate, err)
		}
	}
	if s.ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", replica.ErrStopped, err)
	}
	return fmt.Errorf("configstore: config %q: %w", key, err)
}

// Get implements replica.ConfigStore.
func (s *Store) Get(key string, done func([]byte, uint64, error)) {
	s.run(func(ctx context.Context) {
		if err := replica.ValidConfigKey(key); err != nil {
			done(nil, 0, err)
			return
		}
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		rep, err := s.read(ctx, replica.Linearizable, kv.GetQuery(cluster.EngineConfigKey(key)))
		if err != nil {
			done(nil, 0, s.callError(key, err))
			return
		}
		var value []byte
		var version uint64
		if r := rep.Responses[0]; r.Code == kv.CodeOK {
			value, version = r.Value, r.Version
		}
		done(value, version, nil)
	}, func(err error) { done(nil, 0, err) })
}

// read reads the meta group in mode: on the local replica, else on a node
// that holds one, as a read of a partition goes. A get answers one
// response per key.
func (s *Store) read(ctx context.Context, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	rep, err := s.router.Read(ctx, 0, mode, q)
	if err == nil && len(rep.Responses) != len(q.Keys) {
		err = fmt.Errorf("%w: configstore: the meta group answered %d responses for %d keys", replica.ErrNotApplied, len(rep.Responses), len(q.Keys))
	}
	return rep, err
}

// Watch implements replica.ConfigStore.
func (s *Store) Watch(key string, fn func([]byte, uint64)) (cancel func()) {
	w := &configWatch{key: key, fn: fn}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stopped || replica.ValidConfigKey(key) != nil {
		return func() {}
	}
	s.mu.watches = append(s.mu.watches, w)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return func() {
		w.cancelled.Store(true)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.mu.watches = slices.DeleteFunc(s.mu.watches, func(x *configWatch) bool { return x == w })
	}
}

// poll reads the watched keys every interval, and at once when a watch
// starts, until the store stops. With no watch it sleeps until one starts:
// a node whose engine watches nothing (Raft) pays nothing.
func (s *Store) poll() {
	defer s.wg.Done()
	t := s.cfg.Clock.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.mu.Lock()
		idle := len(s.mu.watches) == 0
		s.mu.Unlock()
		tick := t.C()
		if idle {
			tick = nil // Watch wakes it (wake is buffered: never lost)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-tick:
		case <-s.wake:
		}
		s.pollOnce()
	}
}

func (s *Store) pollOnce() {
	s.mu.Lock()
	watches := slices.Clone(s.mu.watches)
	s.mu.Unlock()
	if len(watches) == 0 {
		return
	}
	at := map[string]int{} // key → its index in the query
	q := kv.Query{Kind: kv.QueryGet}
	for _, w := range watches {
		if _, ok := at[w.key]; !ok {
			at[w.key] = len(q.Keys)
			q.Keys = append(q.Keys, cluster.EngineConfigKey(w.key))
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	// NB: stale: a watch promises the newest version it sees, not a
	// linearizable one, and a stale read of the local replica takes no
	// round of the meta group.
	rep, err := s.read(ctx, replica.Stale, q)
	if err != nil {
		if s.ctx.Err() == nil {
			s.cfg.Logger.Debug("config store: reading watched keys", "err", err)
		}
		return
	}
	for _, w := range watches {
		r := rep.Responses[at[w.key]] // Version 0 when absent
		if r.Version <= w.last || w.cancelled.Load() || s.ctx.Err() != nil {
			continue
		}
		w.last = r.Version
		w.fn(bytes.Clone(r.Value), r.Version)
	}
}
