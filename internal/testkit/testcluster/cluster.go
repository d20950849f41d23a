package testcluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/testkit"
)

// Server is what Cluster needs of a server it started: a way to stop it.
// (*node.Node is one; Cluster does not import node, so node's own tests,
// inside the package, can use it too.)
type Server interface {
	Stop(ctx context.Context) error
}

// StartFunc starts server name with its data directory, a listener on its
// gRPC address, and the cluster's founders (for --initial-cluster; a
// joiner's StartFunc ignores them).
type StartFunc[S Server] func(name, dir string, lis net.Listener, founders []cluster.Member) (S, error)

// Cluster is an in-process cluster on loopback for tests: real gRPC, real
// storage in the test's temporary directory, each server started by the
// test's StartFunc (its Config: ticks, partitions, tweaks). It stops every
// server when the test ends. Safe for concurrent use.
type Cluster[S Server] struct {
	t        testing.TB
	dir      string
	ready    func(S) bool
	Founders []cluster.Member

	mu struct {
		sync.Mutex
		running map[string]S
		starts  map[string]StartFunc[S] // how each server (re)starts
		addrs   map[string]string
		order   []string
	}
}

// Start starts count founders n1..n<count> with start, and waits up
// to 30 s until ready says each one is (nil: no wait).
func Start[S Server](t testing.TB, count int, start StartFunc[S], ready func(S) bool) *Cluster[S] {
	t.Helper()
	c := &Cluster[S]{t: t, dir: t.TempDir(), ready: ready}
	c.mu.running, c.mu.starts, c.mu.addrs = map[string]S{}, map[string]StartFunc[S]{}, map[string]string{}
	liss := map[string]net.Listener{}
	for i := range count {
		name := fmt.Sprintf("n%d", i+1)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		liss[name] = lis
		c.Founders = append(c.Founders, cluster.Member{Name: name, Addr: lis.Addr().String()})
	}
	t.Cleanup(c.stopAll)
	for _, m := range c.Founders {
		c.launch(m.Name, liss[m.Name], start)
	}
	for _, m := range c.Founders {
		c.WaitReady(m.Name, 30*time.Second)
	}
	return c
}

// Add starts a server that is not a founder (a joiner) with start, on a new
// address, and returns it without waiting for it to be ready.
func (c *Cluster[S]) Add(name string, start StartFunc[S]) S {
	c.t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	return c.launch(name, lis, start)
}

func (c *Cluster[S]) launch(name string, lis net.Listener, start StartFunc[S]) S {
	c.t.Helper()
	s, err := start(name, filepath.Join(c.dir, name), lis, c.Founders)
	if err != nil {
		lis.Close()
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mu.starts[name]; !ok {
		c.mu.order = append(c.mu.order, name)
	}
	c.mu.running[name], c.mu.starts[name], c.mu.addrs[name] = s, start, lis.Addr().String()
	return s
}

// Server returns the running server name; ok is false when it is stopped
// or unknown.
func (c *Cluster[S]) Server(name string) (s S, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok = c.mu.running[name]
	return s, ok
}

// Must is Server, failing the test when name is not running.
func (c *Cluster[S]) Must(name string) S {
	c.t.Helper()
	s, ok := c.Server(name)
	if !ok {
		c.t.Fatalf("%s is not running", name)
	}
	return s
}

// Running names the running servers, in the order they were first started.
func (c *Cluster[S]) Running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, name := range c.mu.order {
		if _, ok := c.mu.running[name]; ok {
			names = append(names, name)
		}
	}
	return names
}

// Addr is name's gRPC address (it keeps it across restarts).
func (c *Cluster[S]) Addr(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.addrs[name]
}

// Stop stops name gracefully (bounded by 10 s), reporting an error from it.
func (c *Cluster[S]) Stop(name string) {
	c.t.Helper()
	c.mu.Lock()
	s, ok := c.mu.running[name]
	delete(c.mu.running, name)
	c.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		c.t.Errorf("stop %s: %v", name, err)
	}
}

// Restart starts a stopped server again on its data directory and address
// (waiting up to 5 s for the port to be free), as it was first started.
func (c *Cluster[S]) Restart(name string) S {
	c.t.Helper()
	c.mu.Lock()
	start, addr := c.mu.starts[name], c.mu.addrs[name]
	_, running := c.mu.running[name]
	c.mu.Unlock()
	if start == nil || running {
		c.t.Fatalf("restart %s: unknown or still running", name)
	}
	var lis net.Listener
	testkit.WaitFor(c.t, 5*time.Second, "the port of "+name+" to be free", func() bool {
		var err error
		lis, err = net.Listen("tcp", addr)
		return err == nil
	})
	return c.launch(name, lis, start)
}

// WaitReady waits up to d for name to be ready.
func (c *Cluster[S]) WaitReady(name string, d time.Duration) {
	c.t.Helper()
	if c.ready == nil {
		return
	}
	s := c.Must(name)
	testkit.WaitFor(c.t, d, name+" to be ready", func() bool { return c.ready(s) })
}

func (c *Cluster[S]) stopAll() {
	c.mu.Lock()
	names := slices.Clone(c.mu.order)
	c.mu.Unlock()
	for _, name := range names {
		c.mu.Lock()
		s, ok := c.mu.running[name]
		delete(c.mu.running, name)
		c.mu.Unlock()
		if ok {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = s.Stop(ctx)
			cancel()
		}
	}
}
