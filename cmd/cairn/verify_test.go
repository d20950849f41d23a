package main

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/node"
	"github.com/cairnkv/cairn/internal/testkit/testcluster"
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
	c := testcluster.Start(t, n, func(name, dir string, lis net.Listener, founders []cluster.Member) (*node.Node, error) {
		return node.Start(node.Config{Name: name, DataDir: dir, GRPCListener: lis,
			InitialCluster: founders, Settings: cluster.Settings{Partitions: p}, TickInterval: 20 * time.Millisecond,
			LeaderBalanceInterval: -1, ConsistencyCheckInterval: -1, Logger: quietLog()})
	}, func(nd *node.Node) bool { return api.AllOK(nd.Ready()) })
	var addrs []string
	for _, m := range c.Founders {
		addrs = append(addrs, m.Addr)
	}
	return addrs
}
