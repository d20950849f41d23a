package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/node"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// cairn admin verify against a real in-process cluster: every partition's
// replicas agree, exit 0.
func TestAdminVerifyCluster(t *testing.T) {
	addrs := startTestCluster(t, 3, 2)
	out, errLine, code := runCairn(t, "admin", "verify", "--endpoints", addrs[1])
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errLine)
	}
	if !strings.HasSuffix(out, "2 partitions: 2 agree, 0 mismatch, 0 no-majority, 0 incomplete, 0 errors\n") ||
		strings.Count(out, " agree ") != 6 {
		t.Fatalf("printed\n%s\nwant 3 replicas agreeing in each of 2 partitions", out)
	}
	out, _, code = runCairn(t, "admin", "verify", "0", "-o", "json", "--endpoints", addrs[0])
	if code != 0 || !strings.HasSuffix(out, `{"partitions":1,"agree":1,"mismatch":0,"no_majority":0,"incomplete":0,"errors":0,"ok":true}`+"\n") {
		t.Fatalf("exit %d, printed %q", code, out)
	}
}

// startTestCluster starts n nodes in this process, on loopback ports, with
// p partitions, and returns their gRPC addresses once every node is ready.
func startTestCluster(t *testing.T, n, p int) []string {
	t.Helper()
	dir := t.TempDir()
	var members []cluster.Member
	var liss []net.Listener
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		liss = append(liss, lis)
		members = append(members, cluster.Member{Name: fmt.Sprintf("n%d", i+1), Addr: lis.Addr().String()})
	}
	var nodes []*node.Node
	t.Cleanup(func() {
		for _, nd := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = nd.Stop(ctx)
			cancel()
		}
	})
	var addrs []string
	for i, m := range members {
		nd, err := node.Start(node.Config{Name: m.Name, DataDir: filepath.Join(dir, m.Name), GRPCListener: liss[i],
			InitialCluster: members, Settings: cluster.Settings{Partitions: p}, TickInterval: 20 * time.Millisecond,
			LeaderBalanceInterval: -1, ConsistencyCheckInterval: -1, Logger: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, nd)
		addrs = append(addrs, m.Addr)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range nodes {
		for !allReady(nd) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready: %v", nd.Name(), nd.Ready())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return addrs
}

func allReady(nd *node.Node) bool {
	for _, c := range nd.Ready() {
		if !c.OK {
			return false
		}
	}
	return true
}
