package node

import (
	"context"
	"testing"
	"time"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

func gossipBytes(n *Node) float64 {
	mfs, _ := n.Registry().Gather()
	for _, mf := range mfs {
		if mf.GetName() == "cairn_routing_gossip_bytes_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

// On an idle cluster, route gossip costs each node under 1 KB/s (sent and
// received), whatever the partition count: digests, no descriptors.
func TestIdleGossipBytes(t *testing.T) {
	const nodes, partitions = 3, 64
	tn := startNodes(t, nodes, partitions, nil)
	for name, n := range tn.nodes {
		// Longer than tn.ready's wait: 3×64 groups elect on a busy machine.
		waitFor(t, 60*time.Second, name+" to know every partition's leader", func() bool {
			for _, p := range n.Cluster().Partitions {
				if p.Leader == "" {
					return false
				}
			}
			return true
		})
	}
	// What one old-style poll (a peer's whole GetCluster view) weighed.
	info, err := cairnv1.NewClusterClient(mustConn(t, tn.nodes["n1"], "n2")).GetCluster(context.Background(), &cairnv1.GetClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Let the last elections' news settle: one round or two that differ.
	time.Sleep(2 * time.Second)
	const window = 4 * time.Second
	before := map[string]float64{}
	for name, n := range tn.nodes {
		before[name] = gossipBytes(n)
	}
	time.Sleep(window)
	for name, n := range tn.nodes {
		rate := (gossipBytes(n) - before[name]) / window.Seconds()
		t.Logf("%s: %.0f bytes/s of route gossip (%d nodes, %d partitions); a GetCluster view is %d bytes, so the old poll was about %d bytes/s",
			name, rate, nodes, partitions, proto.Size(info), 2*(nodes-1)*proto.Size(info))
		if rate >= 1024 {
			t.Errorf("%s: idle gossip %.0f bytes/s, want under 1 KB/s", name, rate)
		}
	}
}

func mustConn(t *testing.T, n *Node, to string) *grpc.ClientConn {
	t.Helper()
	c, err := n.conn(to)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
