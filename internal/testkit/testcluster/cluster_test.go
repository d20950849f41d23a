package testcluster

import (
	"context"
	"net"
	"os"
	"sync/atomic"
	"testing"

	"github.com/cairnkv/cairn/internal/cluster"
)

// fakeServer holds its listener and data directory, as a node does.
type fakeServer struct {
	lis      net.Listener
	founders int
	stopped  atomic.Bool
}

func (f *fakeServer) Stop(context.Context) error {
	f.stopped.Store(true)
	return f.lis.Close()
}

func startFake(name, dir string, lis net.Listener, founders []cluster.Member) (*fakeServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &fakeServer{lis: lis, founders: len(founders)}, nil
}

func TestCluster(t *testing.T) {
	c := Start(t, 3, startFake, func(f *fakeServer) bool { return !f.stopped.Load() })
	if got := c.Running(); len(got) != 3 || got[0] != "n1" || got[2] != "n3" {
		t.Fatalf("running %v, want n1 n2 n3", got)
	}
	n2 := c.Must("n2")
	if n2.founders != 3 || n2.lis.Addr().String() != c.Addr("n2") || c.Founders[1].Addr != c.Addr("n2") {
		t.Fatalf("n2 founders %d at %s; founders %v", n2.founders, c.Addr("n2"), c.Founders)
	}
	c.Stop("n2")
	if _, ok := c.Server("n2"); ok || !n2.stopped.Load() {
		t.Fatal("n2 still running after Stop")
	}
	if got := c.Running(); len(got) != 2 {
		t.Fatalf("running %v after stopping n2", got)
	}
	again := c.Restart("n2")
	if again == n2 || again.lis.Addr().String() != c.Founders[1].Addr {
		t.Fatalf("restarted n2 at %s, want a new server on %s", again.lis.Addr(), c.Founders[1].Addr)
	}
	j := c.Add("j1", startFake)
	if got := c.Running(); len(got) != 4 || got[3] != "j1" || c.Addr("j1") != j.lis.Addr().String() {
		t.Fatalf("running %v, j1 at %s", got, c.Addr("j1"))
	}
	c.WaitReady("j1", 0)
}
