package configstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/testkit"
)

// metaGroup is a fake Router over an in-memory group 0: each write takes
// the next log index as its version, as the kv state machine does.
type metaGroup struct {
	mu    sync.Mutex
	index uint64
	keys  map[string]kv.Response
	reads map[replica.ReadMode]int
	// fail, when set, is every call's error.
	fail error
	// block, when set, holds every call until ctx ends.
	block bool
}

func newMetaGroup() *metaGroup {
	return &metaGroup{keys: map[string]kv.Response{}, reads: map[replica.ReadMode]int{}}
}

func (g *metaGroup) Propose(ctx context.Context, gid replica.GroupID, cmd kv.Command) (kv.Reply, error) {
	if err := g.enter(ctx, gid); err != nil {
		return kv.Reply{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.index++
	rep := kv.Reply{Code: kv.CodeOK}
	for _, r := range cmd.Requests {
		if r.Op != kv.OpPut || r.Flags&kv.FlagIfVersion == 0 || r.Flags&kv.FlagReturnPrev == 0 {
			return kv.Reply{}, fmt.Errorf("want a conditional put returning the previous value, got %+v", r)
		}
		cur := g.keys[string(r.Key)]
		if cur.Version != r.Version {
			rep.Responses = append(rep.Responses, kv.Response{Code: kv.CodeConditionFailed, Version: cur.Version,
				Value: cur.Value, HasValue: cur.Version != 0})
			continue
		}
		g.keys[string(r.Key)] = kv.Response{Code: kv.CodeOK, Value: bytes.Clone(r.Value), Version: g.index}
		rep.Responses = append(rep.Responses, kv.Response{Code: kv.CodeOK, Version: g.index})
	}
	return rep, nil
}

func (g *metaGroup) Read(ctx context.Context, gid replica.GroupID, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	if err := g.enter(ctx, gid); err != nil {
		return kv.Reply{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reads[mode]++
	rep := kv.Reply{Code: kv.CodeOK}
	for _, k := range q.Keys {
		r, ok := g.keys[string(k)]
		if !ok {
			r = kv.Response{Code: kv.CodeNotFound}
		}
		rep.Responses = append(rep.Responses, r)
	}
	return rep, nil
}

func (g *metaGroup) enter(ctx context.Context, gid replica.GroupID) error {
	if gid != 0 {
		return fmt.Errorf("a call for group %d, not the meta group", gid)
	}
	g.mu.Lock()
	fail, block := g.fail, g.block
	g.mu.Unlock()
	if block {
		<-ctx.Done()
		return fmt.Errorf("%w: %w", replica.ErrNotApplied, ctx.Err())
	}
	return fail
}

func (g *metaGroup) readsIn(mode replica.ReadMode) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads[mode]
}

func (g *metaGroup) set(f func(*metaGroup)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

type casAnswer struct {
	v   uint64
	err error
}

func cas(t *testing.T, s *Store, key string, version uint64, value string) (uint64, error) {
	t.Helper()
	ch := make(chan casAnswer, 1)
	s.CompareAndSwap(key, version, []byte(value), func(v uint64, err error) { ch <- casAnswer{v, err} })
	select {
	case a := <-ch:
		return a.v, a.err
	case <-time.After(10 * time.Second):
		t.Fatalf("CAS %s@%d: no answer in 10s", key, version)
		return 0, nil
	}
}

type getAnswer struct {
	value   []byte
	version uint64
	err     error
}

func get(t *testing.T, s *Store, key string) getAnswer {
	t.Helper()
	ch := make(chan getAnswer, 1)
	s.Get(key, func(v []byte, ver uint64, err error) { ch <- getAnswer{v, ver, err} })
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("get %s: no answer in 10s", key)
		return getAnswer{}
	}
}

func newStore(t *testing.T, clk clock.Clock) (*Store, *metaGroup) {
	t.Helper()
	g := newMetaGroup()
	s := New(Config{Node: "n1", Clock: clk, Interval: 100 * time.Millisecond, RequestTimeout: time.Second})
	s.Start(g)
	t.Cleanup(s.Close)
	return s, g
}

func TestCompareAndSwapAndGet(t *testing.T) {
	s, g := newStore(t, clock.NewFake(time.Unix(0, 0)))
	v1, err := cas(t, s, "pb/0", 0, "a")
	if err != nil || v1 == 0 {
		t.Fatalf("create: version %d, %v", v1, err)
	}
	// The record is a user key of group 0 under the engine prefix.
	if r := g.keys[string(cluster.EngineConfigKey("pb/0"))]; string(r.Value) != "a" || r.Version != v1 {
		t.Fatalf("stored %q@%d, want a@%d", r.Value, r.Version, v1)
	}
	_, err = cas(t, s, "pb/0", 0, "b")
	if c, ok := replica.IsConfigConflict(err); !ok || c.Version != v1 || string(c.Value) != "a" || c.Key != "pb/0" {
		t.Fatalf("second create: %v, want a conflict at %d holding a", err, v1)
	}
	v2, err := cas(t, s, "pb/0", v1, "c")
	if err != nil || v2 <= v1 {
		t.Fatalf("update: version %d, %v; want above %d", v2, err, v1)
	}
	if a := get(t, s, "pb/0"); a.err != nil || string(a.value) != "c" || a.version != v2 {
		t.Fatalf("get: %q@%d %v, want c@%d", a.value, a.version, a.err, v2)
	}
	if g.readsIn(replica.Linearizable) != 1 {
		t.Fatalf("a get made %d linearizable reads, want 1", g.readsIn(replica.Linearizable))
	}
	if a := get(t, s, "pb/absent"); a.err != nil || a.value != nil || a.version != 0 {
		t.Fatalf("get of an absent key: %q@%d %v", a.value, a.version, a.err)
	}
	for _, key := range []string{"", string(make([]byte, replica.MaxConfigKey+1))} {
		if _, err := cas(t, s, key, 0, "x"); !errors.Is(err, replica.ErrNotApplied) {
			t.Fatalf("CAS of a %d-byte key: %v, want not applied", len(key), err)
		}
		if a := get(t, s, key); !errors.Is(a.err, replica.ErrConfigKey) {
			t.Fatalf("get of a %d-byte key: %v, want ErrConfigKey", len(key), a.err)
		}
	}
}

// A failed call says whether it certainly changed nothing.
func TestCallErrors(t *testing.T) {
	s, g := newStore(t, clock.NewFake(time.Unix(0, 0)))
	g.set(func(g *metaGroup) { g.fail = fmt.Errorf("no leader: %w", replica.ErrNotApplied) })
	if _, err := cas(t, s, "k", 0, "a"); !errors.Is(err, replica.ErrNotApplied) || errors.Is(err, replica.ErrIndeterminate) {
		t.Fatalf("CAS when not applied: %v", err)
	}
	g.set(func(g *metaGroup) { g.fail = errors.New("connection reset") })
	if _, err := cas(t, s, "k", 0, "a"); !errors.Is(err, replica.ErrIndeterminate) || errors.Is(err, replica.ErrNotApplied) {
		t.Fatalf("CAS of unknown outcome: %v, want indeterminate", err)
	}
	if a := get(t, s, "k"); a.err == nil || a.value != nil {
		t.Fatalf("get when the group fails: %q %v", a.value, a.err)
	}
}

// Calls made before Start wait for it; Close ends a call in flight and
// answers later ones ErrStopped, never on the caller's goroutine.
func TestStartAndClose(t *testing.T) {
	g := newMetaGroup()
	s := New(Config{Node: "n1", Clock: clock.NewFake(time.Unix(0, 0)), RequestTimeout: time.Minute})
	early := make(chan casAnswer, 1)
	s.CompareAndSwap("k", 0, []byte("a"), func(v uint64, err error) { early <- casAnswer{v, err} })
	select {
	case a := <-early:
		t.Fatalf("a CAS answered before Start: %d %v", a.v, a.err)
	case <-time.After(50 * time.Millisecond):
	}
	s.Start(g)
	if a := <-early; a.err != nil || a.v == 0 {
		t.Fatalf("a CAS made before Start: %d %v", a.v, a.err)
	}

	g.set(func(g *metaGroup) { g.block = true })
	inFlight := make(chan getAnswer, 1)
	s.Get("k", func(v []byte, ver uint64, err error) { inFlight <- getAnswer{v, ver, err} })
	s.Close()
	if a := <-inFlight; !errors.Is(a.err, replica.ErrStopped) {
		t.Fatalf("a get in flight at Close: %v, want ErrStopped", a.err)
	}
	var mu sync.Mutex // the caller's lock, held across the call
	mu.Lock()
	after := make(chan error, 1)
	s.CompareAndSwap("k", 1, []byte("b"), func(_ uint64, err error) {
		mu.Lock() // would deadlock if called from inside the call
		mu.Unlock()
		after <- err
	})
	mu.Unlock()
	if err := <-after; !errors.Is(err, replica.ErrStopped) {
		t.Fatalf("a CAS after Close: %v, want ErrStopped", err)
	}
	if cancel := s.Watch("k", func([]byte, uint64) { t.Error("a watch made after Close was called") }); cancel == nil {
		t.Fatal("Watch after Close returned no cancel")
	}
}

// watcher records what a watch saw.
type watcher struct {
	mu   sync.Mutex
	seen []string
}

func (w *watcher) fn(v []byte, ver uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, fmt.Sprintf("%s@%d", v, ver))
}

func (w *watcher) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// A watch polls by the store's clock: the current value at once, then
// every newer version a tick later, never an old one again; an idle
// store polls nothing.
func TestWatchPollsOnTheClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	s, g := newStore(t, clk)
	clk.Advance(time.Second)
	if n := g.readsIn(replica.Stale); n != 0 {
		t.Fatalf("%d polls with no watch", n)
	}
	v1, err := cas(t, s, "pb/1", 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{}
	cancel := s.Watch("pb/1", w.fn)
	first := fmt.Sprintf("a@%d", v1)
	testkit.WaitFor(t, 5*time.Second, "the watch's first value", func() bool { return len(w.got()) == 1 })
	if got := w.got(); got[0] != first {
		t.Fatalf("first value %v, want %s", got, first)
	}
	v2, err := cas(t, s, "pb/1", v1, "b")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing new until the clock moves a tick.
	polls := g.readsIn(replica.Stale)
	clk.Advance(100 * time.Millisecond)
	testkit.WaitFor(t, 5*time.Second, "a poll a tick later", func() bool { return g.readsIn(replica.Stale) > polls })
	testkit.WaitFor(t, 5*time.Second, "the watch to see b", func() bool { return len(w.got()) == 2 })
	if got := w.got(); got[1] != fmt.Sprintf("b@%d", v2) {
		t.Fatalf("watch saw %v", got)
	}
	// The same version again is not handed out.
	polls = g.readsIn(replica.Stale)
	clk.Advance(100 * time.Millisecond)
	testkit.WaitFor(t, 5*time.Second, "another poll", func() bool { return g.readsIn(replica.Stale) > polls })
	// One more: the poller hands out what one poll read before the next.
	polls = g.readsIn(replica.Stale)
	clk.Advance(100 * time.Millisecond)
	testkit.WaitFor(t, 5*time.Second, "a third poll", func() bool { return g.readsIn(replica.Stale) > polls })
	cancel()
	if got := w.got(); len(got) != 2 {
		t.Fatalf("watch saw %v after an unchanged poll", got)
	}
}
