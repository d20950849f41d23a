package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/kv/kvtest"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// group is a replica.Group on an in-memory kv state machine: it leads,
// but refuses the first notLeader proposals as a leader that just lost its
// lead would.
type group struct {
	replica.Group // what the router does not call: nil
	gid           replica.GroupID
	mu            sync.Mutex
	state         *kvtest.Group
	index         uint64
	notLeader     atomic.Int32
}

func newGroup(gid replica.GroupID) *group {
	return &group{gid: gid, state: kvtest.NewGroup(uint64(gid))}
}

func (g *group) IsLeader() bool { return true }

func (g *group) Status() replica.Status {
	return replica.Status{Group: g.gid, State: replica.StateLeader}
}

func (g *group) Propose(ctx context.Context, cmd []byte) ([]byte, uint64, error) {
	if g.notLeader.Load() > 0 {
		g.notLeader.Add(-1)
		return nil, 0, &replica.ErrNotLeader{Group: g.gid}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.index++
	res, err := g.state.Apply(kv.Entry{Index: g.index, Term: 1, Time: 1, Data: cmd})
	return res, g.index, err
}

func (g *group) Read(ctx context.Context, mode replica.ReadMode, fn func(storage.View) error) error {
	return g.state.View(fn)
}

type groups map[replica.GroupID]*group

func (gs groups) Group(gid replica.GroupID) (replica.Group, bool) {
	g, ok := gs[gid]
	return g, ok
}

type routes map[replica.GroupID][]string

func (r routes) ReplicaNode(gid replica.GroupID) string {
	if len(r[gid]) == 0 {
		return ""
	}
	return r[gid][0]
}
func (r routes) ReplicaNodes(gid replica.GroupID) []string { return r[gid] }

// node is a Router and its Forward server on loopback.
type node struct {
	r    *Router
	addr string
}

func startNode(t *testing.T, name string, gs groups, rs routes, addrs map[string]string, clk clock.Clock, maxMsg int) *node {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addrs[name] = lis.Addr().String()
	c := NewClient(ClientConfig{ClusterID: "c1", Resolve: func(n string) (string, bool) { a, ok := addrs[n]; return a, ok },
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}})
	r := NewRouter(RouterConfig{Node: name, Groups: gs, Routes: rs, Client: c, Clock: clk, Timeout: 5 * time.Second, Retry: 10 * time.Millisecond})
	srv := grpc.NewServer()
	cairnv1.RegisterForwardServer(srv, NewServer(ServerConfig{Node: name, ClusterID: "c1", Partitions: 8, Local: r, MaxMessage: maxMsg}))
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { c.Close(); srv.Stop(); <-done })
	return &node{r: r, addr: addrs[name]}
}

// A node without a replica forwards writes to the holder and sends it
// queries; the reply comes back, pages and all.
func TestRouterForwardsWritesAndQueries(t *testing.T) {
	addrs := map[string]string{}
	rs := routes{1: {"holder"}}
	holder := newGroup(1)
	startNode(t, "holder", groups{1: holder}, rs, addrs, clock.Real{}, 0)
	gw := startNode(t, "gateway", groups{}, rs, addrs, clock.Real{}, 0)
	ctx := context.Background()
	for i := range 30 {
		k := []byte(fmt.Sprintf("k%02d", i))
		rep, err := gw.r.Propose(ctx, 1, kv.NewCommand(kv.Put(k, k)))
		if err != nil || rep.Code != kv.CodeOK || rep.Responses[0].Code != kv.CodeOK {
			t.Fatalf("put %s: %+v %v", k, rep, err)
		}
	}
	ctx, route := api.WithRoute(ctx)
	if _, err := gw.r.Propose(ctx, 1, kv.NewCommand(kv.Put([]byte("x"), nil))); err != nil || route.Leader != "holder" {
		t.Fatalf("route %+v, %v; want served by holder", route, err)
	}
	rep, err := gw.r.Read(ctx, 1, replica.Linearizable, kv.GetQuery([]byte("k07"), []byte("nope")))
	if err != nil || string(rep.Responses[0].Value) != "k07" || rep.Responses[1].Code != kv.CodeNotFound {
		t.Fatalf("get: %+v %v", rep, err)
	}
	var seen []string
	q := kv.Query{Kind: kv.QueryScan, Start: []byte("k"), End: []byte("l"), Limit: 7, Match: []byte("k?[05]")}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("no end")
		}
		rep, err := gw.r.Read(ctx, 1, replica.Stale, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range rep.Items {
			seen = append(seen, string(it.Key))
		}
		if rep.Next == nil {
			break
		}
		q.Start = rep.Next
	}
	if fmt.Sprint(seen) != "[k00 k05 k10 k15 k20 k25]" {
		t.Fatalf("scanned %v", seen)
	}
	if _, err := gw.r.Read(ctx, 1, replica.Stale, kv.Query{Kind: kv.QueryScan}); !errors.Is(err, kv.ErrMalformed) || api.OutcomeOf(err) != api.Invalid {
		t.Fatalf("a malformed query: %v", err)
	}
	// Nobody holds group 2.
	if _, err := gw.r.Read(ctx, 2, replica.Stale, kv.GetQuery([]byte("a"))); api.OutcomeOf(err) != api.NotApplied {
		t.Fatalf("a read of a group nobody holds: %v", err)
	}
}

// A get whose reply is over the message limit is read in halves.
func TestRouterSplitsLargeGets(t *testing.T) {
	addrs := map[string]string{}
	rs := routes{1: {"holder"}}
	holder := newGroup(1)
	startNode(t, "holder", groups{1: holder}, rs, addrs, clock.Real{}, 8<<10)
	gw := startNode(t, "gateway", groups{}, rs, addrs, clock.Real{}, 8<<10)
	ctx := context.Background()
	var keys [][]byte
	for i := range 10 {
		k := []byte(fmt.Sprintf("big%d", i))
		keys = append(keys, k)
		cmd := kv.NewCommand(kv.Put(k, bytes.Repeat(k[3:], 2000)))
		if _, _, err := holder.Propose(ctx, cmd.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := gw.r.Read(ctx, 1, replica.Linearizable, kv.GetQuery(keys...))
	if err != nil || len(rep.Responses) != 10 {
		t.Fatalf("get of 10 keys of 2000 bytes, 8 KiB messages: %d responses, %v", len(rep.Responses), err)
	}
	for i, r := range rep.Responses {
		if !bytes.Equal(r.Value, bytes.Repeat(keys[i][3:], 2000)) {
			t.Fatalf("response %d: %d bytes", i, len(r.Value))
		}
	}
}

// A write the leader certainly did not apply is retried, paced by the
// clock, until it goes through.
func TestRouterRetriesNotApplied(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	addrs := map[string]string{}
	g := newGroup(1)
	g.notLeader.Store(3)
	n := startNode(t, "n1", groups{1: g}, routes{1: {"n1"}}, addrs, clk, 0)
	done := make(chan error, 1)
	go func() {
		_, err := n.r.Propose(context.Background(), 1, kv.NewCommand(kv.Put([]byte("k"), []byte("v"))))
		done <- err
	}()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if g.notLeader.Load() != 0 {
				t.Fatalf("%d refusals left", g.notLeader.Load())
			}
			return
		case <-time.After(time.Millisecond):
			clk.Advance(10 * time.Millisecond)
		}
	}
}

// A local read reports the group time kept in memory when the router is
// given it, and the one in the store otherwise.
func TestLocalReadGroupTime(t *testing.T) {
	g := newGroup(1)
	cmd := kv.NewCommand(kv.Put([]byte("k"), []byte("v")))
	if _, _, err := g.Propose(context.Background(), cmd.Encode()); err != nil {
		t.Fatal(err)
	}
	cfg := RouterConfig{Node: "n1", Groups: groups{1: g}, Routes: routes{}, Clock: clock.Real{}, Timeout: time.Second}
	rep, err := NewRouter(cfg).ReadLocal(context.Background(), 1, replica.Linearizable, kv.GetQuery([]byte("k")))
	if err != nil || rep.GroupTime != 1 { // the fake stamps its entries 1
		t.Fatalf("without GroupTime: group time %d, %v; want 1, the store's", rep.GroupTime, err)
	}
	known := true
	cfg.GroupTime = func(gid replica.GroupID) (int64, bool) { return 42, known && gid == 1 }
	r := NewRouter(cfg)
	rep, err = r.ReadLocal(context.Background(), 1, replica.Linearizable, kv.GetQuery([]byte("k")))
	if err != nil || rep.GroupTime != 42 || string(rep.Responses[0].Value) != "v" {
		t.Fatalf("with GroupTime: %+v, %v; want v at 42", rep, err)
	}
	known = false
	if rep, err = r.ReadLocal(context.Background(), 1, replica.Linearizable, kv.GetQuery([]byte("k"))); err != nil || rep.GroupTime != 1 {
		t.Fatalf("with an unknown GroupTime: group time %d, %v; want the store's", rep.GroupTime, err)
	}
}
