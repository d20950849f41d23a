package raftengine

import (
	"fmt"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/testkit"
)

// A follower far behind still catches up by snapshot when the rate is
// small enough that the stream has to wait for it.
func TestSnapshotRateLimited(t *testing.T) {
	const rate = 256 << 10
	c := newTestCluster(t, 3, 1, nil, func(_ string, cfg *Config) {
		cfg.TruncateAfter = 20
		cfg.SnapshotChunkSize = 8 << 10
		cfg.SnapshotRate = rate
	})
	const g = replica.GroupID(1)
	leader := c.leader(g)
	var follower string
	for _, n := range c.founderNames() {
		if n != leader {
			follower = n
			break
		}
	}
	c.stopNode(follower)
	value := string(make([]byte, 1<<10))
	const keys = 200 // about 200 KiB: several chunks past the burst of one
	for i := range keys {
		c.put(g, fmt.Sprintf("k%d", i), value)
	}
	testkit.WaitFor(t, 10*time.Second, "the leader to truncate its log past the stopped follower", func() bool {
		trunc, err := storage.ReadTruncated(c.nodes[c.leader(g)].store, uint64(g))
		return err == nil && trunc.Index+1 >= 100
	})
	c.startNode(follower)
	testkit.WaitFor(t, 30*time.Second, "the follower to catch up by a rate-limited snapshot", func() bool {
		_, ok, err := c.read(follower, g, replica.Stale, fmt.Sprintf("k%d", keys-1))
		return err == nil && ok
	})
	if s := c.sum("cairn_raft_snapshot_throttled_seconds_total"); s <= 0 {
		t.Fatalf("cairn_raft_snapshot_throttled_seconds_total = %v; the snapshot never waited for the rate", s)
	}
}
