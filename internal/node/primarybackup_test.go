package node

import (
	"context"
	"fmt"
	"github.com/cairnkv/cairn/internal/testkit"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A cluster created with --engine primary-backup (sync) runs its
// partitions' groups on primary-backup and its meta group on Raft. When
// the node holding a partition's primary stops under a write load, an
// in-sync backup takes over at a higher epoch once the lease ran out,
// writes are served again through the survivors, and every acknowledged
// write, before and after, is read back.
func TestPrimaryBackupFailover(t *testing.T) {
	const P = 4
	pb := func(c *Config) {
		elasticTweak(c)
		c.Settings.Engine = cluster.EnginePrimaryBackup
	}
	tn := startNodes(t, 3, P, pb)
	tn.ready()
	n1 := tn.nodes["n1"]
	for _, id := range n1.host.Groups() {
		g, _ := n1.host.Group(id)
		want := cluster.EnginePrimaryBackup
		if id == 0 {
			want = cluster.EngineRaft
		}
		if got := g.Status().Engine.Name; got != want {
			t.Fatalf("group %d runs %q, want %q", id, got, want)
		}
	}
	if s := n1.id.Settings; s.PBMode != cluster.PBModeSync || s.PBMinInSync != 2 || s.PBLease != cluster.DefaultPBLease {
		t.Fatalf("stored settings %+v: want the primary-backup defaults", s)
	}

	// The primary of partition 0, as its group sees it.
	gid := replica.GroupOf(0)
	var victim string
	var epoch uint64
	testkit.WaitFor(t, 20*time.Second, "partition 0 to have a primary in office", func() bool {
		for _, n := range tn.nodes {
			if g, ok := n.host.Group(gid); ok && g.IsLeader() {
				victim, epoch = n.cfg.Name, g.Status().Term
				return true
			}
		}
		return false
	})

	var liveMu sync.Mutex
	var live []*Node
	for _, n := range tn.nodes {
		live = append(live, n)
	}
	// NB: a copy: the writer reads it after the lock is released.
	w := startWriter(t, func() []*Node { liveMu.Lock(); defer liveMu.Unlock(); return slices.Clone(live) })
	count := func() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.acked) }
	testkit.WaitFor(t, 20*time.Second, "100 acknowledged writes", func() bool { return count() >= 100 })
	checkLagShown(t, tn.nodes[victim], gid)

	// A planned switchover (cairn admin promote) through a node that may
	// not hold the primary: the successor is primary at the next epoch.
	var target string
	for name := range tn.nodes {
		if name != victim {
			target = name
			break
		}
	}
	ctx := context.Background()
	if _, err := admin(n1).Promote(ctx, &cairnv1.PromoteRequest{Partition: 0, Node: target, Unsafe: true}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("promote --unsafe: %v, want UNIMPLEMENTED", err)
	}
	resp, err := admin(n1).Promote(ctx, &cairnv1.PromoteRequest{Partition: 0, Node: target})
	if err != nil {
		t.Fatalf("promote partition 0 to %s: %v", target, err)
	}
	if resp.GetLeader() != target || resp.GetPrevious() != victim || resp.GetTerm() <= epoch {
		t.Fatalf("promote partition 0 to %s (primary %s at epoch %d): %v", target, victim, epoch, resp)
	}
	t.Logf("switchover of partition 0: %s to %s, epoch %d to %d", victim, target, epoch, resp.GetTerm())
	victim, epoch = target, resp.GetTerm()
	testkit.WaitFor(t, 10*time.Second, "the new primary in office", func() bool {
		g, ok := tn.nodes[victim].host.Group(gid)
		return ok && g.IsLeader()
	})

	liveMu.Lock()
	live = nil
	for name, n := range tn.nodes {
		if name != victim {
			live = append(live, n)
		}
	}
	survivor := live[0]
	liveMu.Unlock()
	stopped := time.Now()
	tn.stop(victim)
	t.Logf("stopped %s, primary of partition 0 at epoch %d", victim, epoch)

	// Writes to partition 0 are served again: a new primary, at a higher
	// epoch, on a survivor.
	var took time.Duration
	testkit.WaitFor(t, 30*time.Second, "partition 0 to take writes again after its primary stopped", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		key := keyIn(survivor, 0)
		if err := putValue(ctx, survivor, key, key); err != nil {
			return false
		}
		took = time.Since(stopped)
		return true
	})
	g, ok := survivor.host.Group(gid)
	if !ok {
		t.Fatalf("%s holds no replica of partition 0", survivor.cfg.Name)
	}
	st := g.Status()
	if st.Term <= epoch || st.LeaderNode == victim || st.LeaderNode == "" {
		t.Fatalf("partition 0 after the failover: epoch %d (was %d), primary %q (was %s)", st.Term, epoch, st.LeaderNode, victim)
	}
	t.Logf("partition 0 took writes again %v after its primary stopped: primary %s at epoch %d", took.Round(time.Millisecond), st.LeaderNode, st.Term)

	before := count()
	testkit.WaitFor(t, 20*time.Second, "100 more acknowledged writes", func() bool { return count() >= before+100 })
	acked := w.finish()
	for key := range acked {
		if err := readBack(survivor, key); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	t.Logf("%d acknowledged writes, all present after the primary of partition 0 stopped", len(acked))
}

// keyIn returns a fresh key of partition p.
func keyIn(n *Node, p int) string {
	for i := 0; ; i++ {
		key := fmt.Sprintf("p%d-%d-%d", p, time.Now().UnixNano(), i)
		if n.Partition([]byte(key)) == p {
			return key
		}
	}
}

// putValue writes key=value through n, with a session of its own.
func putValue(ctx context.Context, n *Node, key, value string) error {
	sess := api.NewSession(n.NewClientID())
	seq, low := sess.Begin()
	rep, err := n.Propose(ctx, n.Partition([]byte(key)), kv.NewCommand(kv.Put([]byte(key), []byte(value))).WithSession(sess.Client, seq, low))
	if err != nil {
		return err
	}
	if rep.Code != kv.CodeOK {
		return fmt.Errorf("put %s: code %v", key, rep.Code)
	}
	return nil
}

// checkLagShown: the primary's node shows each backup's lag in the
// partition's view (/v1/cluster: the neutral progress and the engine's
// backups) and exports it as cairn_pb_lag_* for each of them.
func checkLagShown(t *testing.T, n *Node, gid replica.GroupID) {
	t.Helper()
	pv := n.routing.PartitionView(gid)
	if pv.Local == nil || len(pv.Local.Progress) != 2 {
		t.Fatalf("the primary's view of partition 0 shows no progress of its 2 backups: %+v", pv.Local)
	}
	for _, k := range []string{"epoch", "primary", "in_sync", "backups"} {
		if _, ok := pv.Local.Engine[k]; !ok {
			t.Fatalf("the primary's engine section lacks %q: %v", k, pv.Local.Engine)
		}
	}
	mfs, err := n.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" && l.GetValue() == fmt.Sprint(uint64(gid)) {
					series[mf.GetName()]++
				}
			}
		}
	}
	for _, name := range []string{"cairn_pb_lag_entries", "cairn_pb_lag_bytes", "cairn_pb_lag_seconds", "cairn_pb_in_sync"} {
		if series[name] != 2 {
			t.Errorf("%s has %d series for group %d, want one per backup (2)", name, series[name], gid)
		}
	}
	if series["cairn_pb_loss_window_entries"] != 0 {
		t.Errorf("a sync primary exports a loss window")
	}
}
