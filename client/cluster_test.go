package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/node"
	"github.com/cairnkv/cairn/internal/testkit"
	"github.com/cairnkv/cairn/internal/testkit/testcluster"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCluster is an in-process cluster on loopback (testcluster.Cluster): real
// gRPC, real Pebble in a temporary directory, short ticks.
type testCluster struct {
	*testcluster.Cluster[*node.Node]
	names []string // the founders, in order
}

const testPartitions = 4

func startCluster(t *testing.T, count int) *testCluster {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	c := testcluster.Start(t, count, func(name, dir string, lis net.Listener, founders []cluster.Member) (*node.Node, error) {
		return node.Start(node.Config{
			Name: name, DataDir: dir, GRPCListener: lis,
			InitialCluster: founders, Settings: cluster.Settings{Partitions: testPartitions},
			TickInterval: 20 * time.Millisecond, Logger: log,
			// Leaders stay where elections put them: the tests count
			// forwarded requests exactly.
			LeaderBalanceInterval: -1,
		})
	}, func(n *node.Node) bool { return api.AllOK(n.Ready()) })
	tc := &testCluster{Cluster: c}
	for _, m := range c.Founders {
		tc.names = append(tc.names, m.Name)
	}
	return tc
}

// node is the running node name, nil when stopped.
func (tc *testCluster) node(name string) *node.Node {
	n, _ := tc.Server(name)
	return n
}

// stop stops a node gracefully: it hands its leaderships away first.
func (tc *testCluster) stop(name string) { tc.Stop(name) }

func (tc *testCluster) running() []string { return tc.Running() }

func (tc *testCluster) endpoints(names ...string) []string {
	if len(names) == 0 {
		names = tc.running()
	}
	var eps []string
	for _, name := range names {
		eps = append(eps, tc.node(name).GRPCAddr())
	}
	return eps
}

// metric sums the counters called name with the given label values on
// node.
func metric(t *testing.T, n *node.Node, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// forwarded is every running node's cairn_forwarded_requests_total.
func (tc *testCluster) forwarded(t *testing.T) map[string]float64 {
	out := map[string]float64{}
	for _, name := range tc.running() {
		out[name] = metric(t, tc.node(name), "cairn_forwarded_requests_total", nil)
	}
	return out
}

// leaderOf names the node that leads partition p, as the nodes say.
func (tc *testCluster) leaderOf(p int) string {
	for _, name := range tc.running() {
		v := tc.node(name).Cluster()
		if l := v.Partitions[p].Local; l != nil && l.Role == "leader" {
			return name
		}
	}
	return ""
}

func newClient(t *testing.T, eps []string, opts Options) *Client {
	t.Helper()
	c, err := New(eps, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// keysPerPartition returns n keys in each partition.
func keysPerPartition(prefix string, n int) [][]byte {
	var keys [][]byte
	count := map[int]int{}
	for i := 0; len(keys) < n*testPartitions; i++ {
		k := []byte(prefix + strconv.Itoa(i))
		if p := partitionOf(k, testPartitions); count[p] < n {
			count[p]++
			keys = append(keys, k)
		}
	}
	return keys
}

// One 3-node cluster serves the tests that leave it as it was.
func TestCluster(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()

	// A client seeded with any one node reaches every partition; every
	// call round-trips, with the outcome table's errors.
	t.Run("RoundTrip", func(t *testing.T) {
		for _, seed := range tc.names {
			t.Run("seed="+seed, func(t *testing.T) {
				c := newClient(t, tc.endpoints(seed), Options{})
				for _, k := range keysPerPartition("rt-"+seed+"-", 1) {
					roundTrip(t, ctx, c, k)
				}
			})
		}
	})

	// With a fresh table and no leader change, every put and linearizable
	// get goes straight to its leader: no node forwards anything.
	t.Run("Direct", func(t *testing.T) {
		for _, unary := range []bool{false, true} {
			t.Run(fmt.Sprintf("unary=%v", unary), func(t *testing.T) {
				c := newClient(t, tc.endpoints(), Options{Unary: unary})
				if err := c.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
				before := tc.forwarded(t)
				const perPartition = 25
				keys := keysPerPartition(fmt.Sprintf("direct-%v-", unary), perPartition)
				for i, k := range keys {
					if _, err := c.Put(ctx, k, []byte(strconv.Itoa(i))); err != nil {
						t.Fatal(err)
					}
				}
				for i, k := range keys {
					it, ok, err := c.Get(ctx, k)
					if err != nil || !ok || string(it.Value) != strconv.Itoa(i) {
						t.Fatalf("get %s: %q %v %v", k, it.Value, ok, err)
					}
				}
				after := tc.forwarded(t)
				for name := range before {
					if d := after[name] - before[name]; d != 0 {
						t.Errorf("%s forwarded %v requests of %d puts and %d gets, want 0", name, d, len(keys), len(keys))
					}
				}
				st := c.Stats()
				if st.Indirect != 0 || st.Retries != 0 || st.Requests != uint64(2*len(keys)) {
					t.Errorf("stats %+v; want %d requests, none indirect or retried", st, 2*len(keys))
				}
			})
		}
	})

	// Follower reads are linearizable wherever they land, and the policy
	// spreads them over every replica; stale reads see the write once the
	// replica has applied it.
	t.Run("FollowerAndStale", func(t *testing.T) {
		c := newClient(t, tc.endpoints(), Options{Balance: "round-robin"})
		key := []byte("follower-key")
		gets := func() map[string]float64 {
			out := map[string]float64{}
			for _, name := range tc.names {
				out[name] = metric(t, tc.node(name), "cairn_grpc_requests_total", map[string]string{"method": "Batch.Get"})
			}
			return out
		}
		before := gets()
		for i := range 30 {
			want := []byte(strconv.Itoa(i))
			if _, err := c.Put(ctx, key, want); err != nil {
				t.Fatal(err)
			}
			it, ok, err := c.Get(ctx, key, WithReadMode(Follower))
			if err != nil || !ok || !bytes.Equal(it.Value, want) {
				t.Fatalf("follower read after put %q: %q %v %v", want, it.Value, ok, err)
			}
		}
		after := gets()
		for _, name := range tc.names {
			if after[name]-before[name] < 5 {
				t.Errorf("%s served %v of 30 follower reads; round-robin over 3 replicas should give each about 10",
					name, after[name]-before[name])
			}
		}
		for range 10 {
			testkit.WaitFor(t, 5*time.Second, "a stale read to see the last write", func() bool {
				it, ok, err := c.Get(ctx, key, WithReadMode(Stale))
				return err == nil && ok && string(it.Value) == "29"
			})
		}
	})

	// A write whose answer is lost (the connection breaks after the node
	// applied it) is retried under the same session: the counter moves by
	// exactly one delta.
	t.Run("LostAnswerAppliesOnce", func(t *testing.T) {
		var drop atomic.Bool
		c := newClient(t, tc.endpoints(), Options{StreamsPerNode: 1, DialOptions: []grpc.DialOption{
			grpc.WithStreamInterceptor(loseAnswer(&drop, nil)),
		}})
		key := []byte("lost-answer")
		start, err := c.Incr(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		drop.Store(true)
		got, err := c.Incr(ctx, key, 5)
		if err != nil {
			t.Fatal(err)
		}
		if drop.Load() {
			t.Fatal("no answer was lost")
		}
		if got != start+5 {
			t.Fatalf("Incr by 5 from %d answered %d", start, got)
		}
		if st := c.Stats(); st.Retries != 1 {
			t.Fatalf("stats %+v, want exactly 1 retry", st)
		}
		if now, err := c.Incr(ctx, key, 0); err != nil || now != start+5 {
			t.Fatalf("counter is %d (%v), want %d: the lost attempt and its retry applied once", now, err, start+5)
		}
	})

	// A caller that gives up after sending is told the outcome is unknown;
	// the write then applies at most once (here: once, since it reached
	// the leader and no later write of the partition overtook it).
	t.Run("CancelledAfterSendIsIndeterminate", func(t *testing.T) {
		var cancelNext atomic.Bool
		var cancelMu sync.Mutex
		var cancel context.CancelFunc
		c := newClient(t, tc.endpoints(), Options{DialOptions: []grpc.DialOption{
			grpc.WithStreamInterceptor(loseAnswer(nil, func() {
				if cancelNext.CompareAndSwap(true, false) {
					cancelMu.Lock()
					cancel()
					cancelMu.Unlock()
				}
			})),
		}})
		key := []byte("cancelled")
		start, err := c.Incr(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cf := context.WithCancel(ctx)
		cancelMu.Lock()
		cancel = cf
		cancelMu.Unlock()
		cancelNext.Store(true)
		_, err = c.Incr(cctx, key, 3)
		if !errors.Is(err, ErrIndeterminate) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Incr cancelled after sending: %v; want ErrIndeterminate and context.Canceled", err)
		}
		// NB: reads only: a later write of the partition would move the
		// session's window past the abandoned seq, and the partition would
		// then rightly refuse it if it arrived late (applied zero times).
		testkit.WaitFor(t, 5*time.Second, "the cancelled increment to apply", func() bool {
			it, _, err := c.Get(ctx, key)
			v, _ := strconv.ParseInt(string(it.Value), 10, 64)
			if err == nil && v != start && v != start+3 {
				t.Fatalf("counter %d, want %d or %d", v, start, start+3)
			}
			return err == nil && v == start+3
		})
	})

	// Many goroutines share one client: their writes pipeline on the
	// streams under one session per partition, answered out of order.
	t.Run("Concurrent", func(t *testing.T) {
		c := newClient(t, tc.endpoints(), Options{})
		keys := keysPerPartition("concurrent-", 1)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 16 {
			wg.Go(func() {
				for i := range 20 {
					if _, err := c.Incr(ctx, keys[(g+i)%len(keys)], 1); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var sum int64
		for _, k := range keys {
			v, err := c.Incr(ctx, k, 0)
			if err != nil {
				t.Fatal(err)
			}
			sum += v
		}
		if sum != 16*20 {
			t.Fatalf("counters sum to %d after 320 increments", sum)
		}
	})

	t.Run("Scan", func(t *testing.T) {
		c := newClient(t, tc.endpoints(), Options{})
		keys := keysPerPartition("scan/", 5)
		for _, k := range keys {
			if _, err := c.Put(ctx, k, k); err != nil {
				t.Fatal(err)
			}
		}
		for _, mode := range []ReadMode{Linearizable, Follower} {
			var got [][]byte
			err := c.Scan(ctx, Range{Prefix: []byte("scan/")}, func(kv KeyValue) error {
				if !bytes.Equal(kv.Key, kv.Value) || kv.Version == 0 {
					return fmt.Errorf("item %q=%q version %d", kv.Key, kv.Value, kv.Version)
				}
				got = append(got, kv.Key)
				return nil
			}, WithReadMode(mode), WithPageSize(3))
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(got, bytes.Compare)
			want := slices.Clone(keys)
			slices.SortFunc(want, bytes.Compare)
			if !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("%v scan listed %q, want %q", mode, got, want)
			}
		}
	})
}

// roundTrip exercises every call on key.
func roundTrip(t *testing.T, ctx context.Context, c *Client, key []byte) {
	t.Helper()
	if _, ok, err := c.Get(ctx, key); err != nil || ok {
		t.Fatalf("get %s before any write: found %v, %v", key, ok, err)
	}
	put, err := c.Put(ctx, key, []byte("one"))
	if err != nil || put.Version == 0 {
		t.Fatalf("put %s: %+v %v", key, put, err)
	}
	it, ok, err := c.Get(ctx, key)
	if err != nil || !ok || string(it.Value) != "one" || it.Version != put.Version || !it.Deadline.IsZero() {
		t.Fatalf("get %s: %+v %v %v; want one at version %d", key, it, ok, err, put.Version)
	}
	// Conditions: NX on an existing key fails with its version; a
	// compare-and-set on the version read succeeds once.
	var ce *ConditionError
	if _, err := c.Put(ctx, key, []byte("x"), IfAbsent()); !errors.As(err, &ce) || ce.Version != put.Version ||
		!errors.Is(err, ErrConditionFailed) {
		t.Fatalf("put NX on an existing key: %v; want a condition error at version %d", err, put.Version)
	}
	cas, err := c.Put(ctx, key, []byte("two"), IfVersion(it.Version), ReturnPrev(), WithTTL(time.Hour))
	if err != nil || string(cas.Prev) != "one" || cas.Version <= put.Version {
		t.Fatalf("compare-and-set: %+v %v", cas, err)
	}
	if _, err := c.Put(ctx, key, []byte("three"), IfVersion(it.Version)); !errors.Is(err, ErrConditionFailed) {
		t.Fatalf("second compare-and-set on the old version: %v, want condition failed", err)
	}
	it, _, err = c.Get(ctx, key, WithReadMode(Follower))
	if err != nil || string(it.Value) != "two" || it.Deadline.IsZero() || it.TTL <= 0 || it.TTL > time.Hour {
		t.Fatalf("get after a put with a TTL: %+v %v", it, err)
	}
	if _, err := c.Put(ctx, key, []byte("x"), IfValue([]byte("nope"))); !errors.Is(err, ErrConditionFailed) {
		t.Fatalf("put if-value on another value: %v", err)
	}
	if _, err := c.Incr(ctx, key, 1); !errors.Is(err, ErrNotInteger) {
		t.Fatalf("incr on %q: %v, want ErrNotInteger", "two", err)
	}
	del, err := c.Delete(ctx, key, ReturnPrev())
	if err != nil || !del.Deleted || string(del.Prev) != "two" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if del, err := c.Delete(ctx, key); err != nil || del.Deleted {
		t.Fatalf("delete of an absent key: %+v %v; want not deleted, no error", del, err)
	}
	if _, err := c.Delete(ctx, key, WithTTL(time.Second)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete with a TTL: %v, want ErrInvalid", err)
	}
	for i, want := range []int64{5, 3, 3 + 1<<40} {
		delta := []int64{5, -2, 1 << 40}[i]
		if v, err := c.Incr(ctx, key, delta); err != nil || v != want {
			t.Fatalf("incr by %d: %d %v, want %d", delta, v, err, want)
		}
	}
	if _, err := c.Put(ctx, bytes.Repeat([]byte("k"), 9<<10), nil); !errors.Is(err, ErrInvalid) ||
		!bytes.Contains([]byte(err.Error()), []byte("--max-key-size")) {
		t.Fatalf("put with a 9 KiB key: %v; want ErrInvalid naming --max-key-size", err)
	}
	if _, err := c.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
}

// loseAnswer is a stream interceptor. When drop is set, the first Incr
// answer to arrive is lost with the connection (the stream fails with a
// bare UNAVAILABLE, as if the node went away after applying the request),
// and drop is cleared. afterSend, if set, runs after each request is sent.
func loseAnswer(drop *atomic.Bool, afterSend func()) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &lossyStream{ClientStream: cs, drop: drop, afterSend: afterSend}, nil
	}
}

type lossyStream struct {
	grpc.ClientStream
	drop      *atomic.Bool
	afterSend func()
}

func (s *lossyStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if s.afterSend != nil {
		s.afterSend()
	}
	return err
}

func (s *lossyStream) RecvMsg(m any) error {
	if err := s.ClientStream.RecvMsg(m); err != nil {
		return err
	}
	if r, ok := m.(*pb.BatchResponse); ok && r.GetIncr() != nil && s.drop != nil && s.drop.CompareAndSwap(true, false) {
		return errLost
	}
	return nil
}

var errLost = status.Error(codes.Unavailable, "test: connection lost with an answer in flight")

// A client follows leadership when the leader's node goes away: its
// requests succeed throughout, and once its table is fresh again they go
// straight to the new leaders.
func TestFollowsLeaderAfterStop(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	c := newClient(t, tc.endpoints(), Options{RefreshInterval: time.Hour}) // only the refreshes it needs
	keys := keysPerPartition("follow-", 2)
	for _, k := range keys {
		if _, err := c.Put(ctx, k, []byte("before")); err != nil {
			t.Fatal(err)
		}
	}
	victim := tc.leaderOf(partitionOf(keys[0], testPartitions))
	if victim == "" {
		t.Fatal("no node leads partition of the first key")
	}
	refreshes := c.Stats().Refreshes
	tc.stop(victim) // hands its leaderships to the others first
	for _, k := range keys {
		if _, err := c.Put(ctx, k, []byte("after")); err != nil {
			t.Fatalf("put %s after %s stopped: %v", k, victim, err)
		}
		if it, _, err := c.Get(ctx, k); err != nil || string(it.Value) != "after" {
			t.Fatalf("get %s after %s stopped: %q %v", k, victim, it.Value, err)
		}
	}
	st := c.Stats()
	if st.Refreshes == refreshes {
		t.Fatalf("stats %+v: the client never refreshed its table after %s stopped", st, victim)
	}
	t.Logf("after %s stopped: %+v", victim, st)
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before, st0 := tc.forwarded(t), c.Stats()
	for _, k := range keys {
		if _, err := c.Put(ctx, k, []byte("again")); err != nil {
			t.Fatal(err)
		}
	}
	after, st := tc.forwarded(t), c.Stats()
	for name := range before {
		if d := after[name] - before[name]; d != 0 {
			t.Errorf("%s forwarded %v puts after the client refreshed, want 0", name, d)
		}
	}
	if st.Indirect != st0.Indirect {
		t.Errorf("stats %+v after %+v: puts went indirect after the refresh", st, st0)
	}
}

// After a leader change the first write is forwarded by the old leader's
// node, whose answer names the new leader: the client goes straight there
// from then on, without waiting for a refresh.
func TestLearnsLeaderFromAnswers(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	c := newClient(t, tc.endpoints(), Options{RefreshInterval: time.Hour})
	key := keysPerPartition("learn-", 1)[0]
	p := partitionOf(key, testPartitions)
	if _, err := c.Put(ctx, key, []byte("v0")); err != nil {
		t.Fatal(err)
	}
	from := tc.leaderOf(p)
	to := ""
	for _, name := range tc.running() {
		if name != from {
			to = name
			break
		}
	}
	if err := tc.node(from).TransferLeader(ctx, p, to); err != nil {
		t.Fatalf("moving partition %d from %s to %s: %v", p, from, to, err)
	}
	testkit.WaitFor(t, 10*time.Second, to+" to lead", func() bool { return tc.leaderOf(p) == to })
	before, st0 := tc.forwarded(t), c.Stats()
	for i := range 20 {
		if _, err := c.Put(ctx, key, fmt.Appendf(nil, "v%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	after, st := tc.forwarded(t), c.Stats()
	total := 0.0
	for name := range before {
		total += after[name] - before[name]
	}
	if total != 1 || st.Redirects != st0.Redirects+1 || st.Refreshes != st0.Refreshes {
		t.Fatalf("20 puts after the move: %v forwarded (want 1), stats %+v after %+v (want one redirect, no refresh)", total, st, st0)
	}
}
