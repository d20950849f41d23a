package raftengine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/testkit"
	"github.com/cairnkv/cairn/internal/transport"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// checkRecoveryDescriptor checks that after is before with the local
// replica as the only voter.
func checkRecoveryDescriptor(t *testing.T, before, after replica.Descriptor, id replica.ReplicaID, node string) {
	t.Helper()
	if after.Group != before.Group || after.Version != before.Version+driver.RecoverSkip || after.NextReplicaID != before.NextReplicaID+driver.RecoverSkip ||
		!slices.Equal(after.Voters, []replica.ReplicaID{id}) || len(after.Learners) != 0 || after.Joint() ||
		after.Engine != nil ||
		len(after.Replicas) != 1 || after.Replicas[0] != (replica.Member{ID: id, Node: node, Role: replica.RoleVoter}) {
		t.Fatalf("descriptor after recovery %+v; want replica %d on %s as the only voter of %+v, version and next ID raised by driver.RecoverSkip",
			after, id, node, before)
	}
}

// stopOthers stops every founder but keep, as a crash would.
func (c *testCluster) stopOthers(keep string) []string {
	var stopped []string
	for _, n := range c.founderNames() {
		if n != keep {
			c.stopNode(n)
			stopped = append(stopped, n)
		}
	}
	return stopped
}

// waitRecoverable waits until the survivor's replica no longer knows a
// leader, so that UnsafeRecover would go ahead, and returns its plan.
func waitRecoverable(t *testing.T, h *Host, g replica.GroupID) replica.Recovery {
	t.Helper()
	var plan replica.Recovery
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if plan, err = h.UnsafeRecoverPlan(g); err == nil {
			return plan
		}
		if !errors.Is(err, replica.ErrHasLeader) || time.Now().After(deadline) {
			t.Fatalf("waiting for the survivor to forget its leader: UnsafeRecoverPlan: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The feature end to end: a 3-replica group loses two replicas; the
// survivor is forced to a one-voter group, keeps what it applied, drops
// the rest of its log, serves reads and writes, and then grows back to
// three voters on the two nodes, which return with their old replicas:
// those are destroyed by the new, higher, IDs and rebuilt by snapshot.
func TestUnsafeRecoverAfterQuorumLoss(t *testing.T) {
	c := newTestCluster(t, 3, 1, nil, nil)
	const g = replica.GroupID(1)
	survivor := c.leader(g)
	acked := map[string]string{}
	var ackedIdx uint64
	for i := range 20 {
		k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
		ackedIdx = max(ackedIdx, c.put(g, k, v))
		acked[k] = v
	}
	// Only what the survivor applied survives: let it apply every
	// acknowledged write (it led when they were acknowledged, but the
	// leadership may have moved).
	testkit.WaitFor(t, 10*time.Second, "the survivor to apply the acknowledged writes", func() bool {
		return c.group(survivor, g).Status().Applied >= ackedIdx
	})
	old := c.group(survivor, g)
	before := old.Status()
	others := c.stopOthers(survivor)

	// No quorum: a write on the survivor is not acknowledged.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	lostCmd := kv.NewCommand(kv.Put([]byte("lost"), []byte("x")))
	_, _, err := old.Propose(ctx, lostCmd.Encode())
	cancel()
	if err == nil {
		t.Fatal("a write without a quorum was acknowledged")
	}
	indeterminate := errors.Is(err, replica.ErrIndeterminate) // in the log, above what was applied
	if !indeterminate && !errors.Is(err, replica.ErrNotApplied) {
		t.Fatalf("a write without a quorum: %v; want indeterminate or not applied", err)
	}

	h := c.nodes[survivor].host
	plan := waitRecoverable(t, h, g)
	if plan.Group != g || plan.Replica != before.Replica || plan.Before.Version != before.Descriptor.Version {
		t.Fatalf("plan %+v; want group %d, replica %d, from version %d", plan, g, before.Replica, before.Descriptor.Version)
	}
	checkRecoveryDescriptor(t, plan.Before, plan.After, before.Replica, survivor)
	if plan.Applied < ackedIdx || plan.Commit < plan.Applied || plan.LastIndex < plan.Applied ||
		plan.Discarded != plan.LastIndex-plan.Applied {
		t.Fatalf("plan %+v: want Applied ≥ %d, Commit ≥ Applied, Discarded = LastIndex-Applied", plan, ackedIdx)
	}
	if indeterminate && plan.Discarded == 0 {
		t.Fatalf("plan %+v: the unacknowledged write is in the log above the applied index, but nothing is discarded", plan)
	}
	t.Logf("plan: applied %d, commit %d, last index %d, %d entries discarded", plan.Applied, plan.Commit, plan.LastIndex, plan.Discarded)

	rec, err := h.UnsafeRecover(g)
	if err != nil {
		t.Fatalf("UnsafeRecover: %v", err)
	}
	if !planEqual(rec, plan) {
		t.Fatalf("UnsafeRecover did %+v; the plan said %+v", rec, plan)
	}
	if st := old.Status(); st.State != replica.StateStopped {
		t.Fatalf("the replica from before the recovery is %q; want stopped", st.State)
	}
	testkit.WaitFor(t, 5*time.Second, "the survivor to lead its one-voter group", func() bool {
		grp := c.group(survivor, g)
		return grp != nil && grp != old && grp.Status().State == replica.StateLeader
	})
	st := c.group(survivor, g).Status()
	checkRecoveryDescriptor(t, before.Descriptor, st.Descriptor, before.Replica, survivor)
	if st.Term <= before.Term {
		t.Fatalf("the recovered leader's term %d; want above %d", st.Term, before.Term)
	}
	for k, v := range acked {
		if got, ok, err := c.read(survivor, g, replica.Linearizable, k); err != nil || !ok || got != v {
			t.Fatalf("acknowledged %s after recovery = %q, %v, %v; want %q", k, got, ok, err, v)
		}
	}
	if _, ok, err := c.read(survivor, g, replica.Linearizable, "lost"); err != nil || ok {
		t.Fatalf("the unacknowledged write after recovery: found %v, %v; want it discarded", ok, err)
	}
	c.put(g, "after", "1")
	acked["after"] = "1"

	// The two others return with their old replicas, and the group grows
	// back to three voters on them.
	for _, n := range others {
		c.startNode(n)
	}
	target := replica.Membership{}
	for _, n := range c.founderNames() {
		target.Members = append(target.Members, replica.Member{Node: n, Role: replica.RoleVoter})
	}
	ctx, cancel = context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := c.group(survivor, g).ChangeMembers(ctx, target); err != nil {
		t.Fatalf("growing the recovered group back to three voters: %v", err)
	}
	desc := c.group(survivor, g).Status().Descriptor
	if len(desc.Voters) != 3 || desc.Joint() || len(desc.Learners) != 0 {
		t.Fatalf("descriptor after growing back: %+v; want three voters", desc)
	}
	c.put(g, "grown", "1")
	acked["grown"] = "1"
	for _, n := range others {
		m, ok := desc.ReplicaOn(n)
		if !ok || m.ID < plan.After.NextReplicaID-driver.RecoverSkip {
			t.Fatalf("%s in %+v: %+v, %v; want a replica with an ID from %d on", n, desc, m, ok, plan.After.NextReplicaID-driver.RecoverSkip)
		}
		testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("%s's new replica %d to apply the last write", n, m.ID), func() bool {
			v, ok, err := c.read(n, g, replica.Stale, "grown")
			return err == nil && ok && v == "1"
		})
		grp := c.group(n, g)
		if st := grp.Status(); st.Replica != m.ID || len(st.Descriptor.Voters) != 3 {
			t.Fatalf("%s hosts replica %d with voters %v; want replica %d of three voters", n, st.Replica, st.Descriptor.Voters, m.ID)
		}
		if tomb, err := c.nodes[n].host.Tombstone(g); err != nil || tomb < m.ID {
			t.Fatalf("tombstone on %s = %d, %v; want ≥ %d (the old replica destroyed)", n, tomb, err, m.ID)
		}
		for k, v := range acked {
			if got, ok, err := c.read(n, g, replica.Follower, k); err != nil || !ok || got != v {
				t.Fatalf("%s on %s = %q, %v, %v; want %q", k, n, got, ok, err, v)
			}
		}
		if _, ok, err := c.read(n, g, replica.Follower, "lost"); err != nil || ok {
			t.Fatalf("the discarded write on %s: found %v, %v", n, ok, err)
		}
	}
}

func planEqual(a, b replica.Recovery) bool {
	same := func(x, y replica.Descriptor) bool { return string(x.Encode(nil)) == string(y.Encode(nil)) }
	return a.Group == b.Group && a.Replica == b.Replica && same(a.Before, b.Before) && same(a.After, b.After) &&
		a.Applied == b.Applied && a.Commit == b.Commit && a.LastIndex == b.LastIndex && a.Discarded == b.Discarded
}

// The recovery is one synced batch: a power cut right after UnsafeRecover
// returns keeps it, and the survivor restarts as the only voter.
func TestUnsafeRecoverSurvivesPowerLoss(t *testing.T) {
	fs := vfs.NewCrashableMem()
	c := newTestCluster(t, 3, 1, fs, nil)
	const g = replica.GroupID(1)
	survivor := c.leader(g)
	idx := c.put(g, "k", "v")
	testkit.WaitFor(t, 10*time.Second, "the survivor to apply the write", func() bool {
		return c.group(survivor, g).Status().Applied >= idx
	})
	before := c.group(survivor, g).Status()
	c.stopOthers(survivor)
	h := c.nodes[survivor].host
	waitRecoverable(t, h, g)
	plan, err := h.UnsafeRecover(g)
	if err != nil {
		t.Fatalf("UnsafeRecover: %v", err)
	}
	clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0}) // only what was fsynced
	c.stopAll()

	// Power back on the survivor alone.
	r := &testCluster{
		t: t, clusterID: c.clusterID, settings: c.settings, groups: c.groups, founders: c.founders,
		listeners: map[string]net.Listener{}, nodes: map[string]*testNode{}, addrs: maps.Clone(c.addrs),
		fs: clone, baseDir: c.baseDir,
	}
	t.Cleanup(r.stopAll)
	r.startNode(survivor)
	grp := r.group(survivor, g)
	if grp == nil {
		t.Fatalf("the survivor did not reopen group %d", g)
	}
	checkRecoveryDescriptor(t, before.Descriptor, grp.Status().Descriptor, before.Replica, survivor)
	testkit.WaitFor(t, 5*time.Second, "the restarted survivor to lead alone", func() bool {
		return grp.Status().State == replica.StateLeader
	})
	if v, ok, err := r.read(survivor, g, replica.Linearizable, "k"); err != nil || !ok || v != "v" {
		t.Fatalf("k after restart = %q, %v, %v", v, ok, err)
	}
	r.put(g, "k2", "v2")
	if st := grp.Status(); st.Applied <= plan.Applied {
		t.Fatalf("applied %d after a write; want above %d", st.Applied, plan.Applied)
	}
}

// manualPropose writes key=value through the replica g of a manual
// cluster, stepping the cluster until it is answered.
func (m *manualCluster) propose(g replica.Group, key, value string) error {
	m.t.Helper()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := kv.NewCommand(kv.Put([]byte(key), []byte(value)))
		_, _, err := g.Propose(ctx, cmd.Encode())
		done <- err
	}()
	var err error
	m.until("an answer to the proposal", 200, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	return err
}

// Recovery is refused, changing nothing, while the local replica knows a
// leader (a follower's or its own), and for a replica that cannot be
// recovered.
func TestUnsafeRecoverRefused(t *testing.T) {
	m := newManualCluster(t, "a", "b", "c")
	m.until("a leader", 100, func() bool { n, _ := m.leader(); return n != "" })
	leader, lg := m.leader()
	if err := m.propose(lg, "k", "v"); err != nil {
		t.Fatal(err)
	}
	m.until("every replica to know the leader", 100, func() bool {
		for _, h := range m.hosts {
			if g, _ := h.Group(1); g.Status().Leader == 0 {
				return false
			}
		}
		return true
	})
	for n, h := range m.hosts {
		t.Run(n, func(t *testing.T) {
			grp, _ := h.Group(1)
			st := grp.Status()
			us, ue := storage.UnreplicatedSpan(1)
			rs, re := storage.ReplicatedSpan(1)
			keys := append(spanKeys(t, m.stores[n], us, ue), spanKeys(t, m.stores[n], rs, re)...)

			plan, err := h.UnsafeRecoverPlan(1)
			if !errors.Is(err, replica.ErrHasLeader) {
				t.Fatalf("UnsafeRecoverPlan with a leader: %v; want ErrHasLeader", err)
			}
			if plan.Replica != st.Replica || plan.After.Version != st.Descriptor.Version+driver.RecoverSkip {
				t.Fatalf("a refused plan still says what recovery would do; got %+v", plan)
			}
			_, err = h.UnsafeRecover(1)
			if !errors.Is(err, replica.ErrHasLeader) {
				t.Fatalf("UnsafeRecover with a leader: %v; want ErrHasLeader", err)
			}
			if n != leader && !strings.Contains(err.Error(), "node "+leader) {
				t.Fatalf("the refusal %q does not name the leader's node %s", err, leader)
			}
			after, _ := h.Group(1)
			if after != grp || grp.Status().State == replica.StateStopped || grp.Status().Descriptor.Version != st.Descriptor.Version {
				t.Fatalf("a refused recovery changed the replica: %+v", grp.Status())
			}
			if got := append(spanKeys(t, m.stores[n], us, ue), spanKeys(t, m.stores[n], rs, re)...); !slices.Equal(got, keys) {
				t.Fatalf("a refused recovery changed the stored keys: %q, were %q", got, keys)
			}
		})
	}
	if err := m.propose(lg, "k2", "v2"); err != nil {
		t.Fatalf("the group after refused recoveries: %v", err)
	}

	h := m.hosts["b"]
	if _, err := h.UnsafeRecover(9); err == nil || !strings.Contains(err.Error(), "no replica") {
		t.Fatalf("UnsafeRecover of a group not hosted: %v", err)
	}
	h.HandleMessages("a", []transport.Message{{Group: 5, From: 1, To: 3, Payload: []byte{}}})
	if id, initd, ok := h.LocalReplica(5); !ok || id != 3 || initd {
		t.Fatal("no uninitialised replica 3 of group 5")
	}
	if _, err := h.UnsafeRecover(5); err == nil || !strings.Contains(err.Error(), "not initialised") {
		t.Fatalf("UnsafeRecover of an uninitialised replica: %v", err)
	}
	_ = h.Close()
	if _, err := h.UnsafeRecover(1); !errors.Is(err, replica.ErrStopped) {
		t.Fatalf("UnsafeRecover on a closed host: %v; want ErrStopped", err)
	}
}

// The replicas an unsafe recovery dropped may still run the old
// configuration, at a higher term, and send to the recovered replica as
// their peer: it ignores them (the descriptor proves them removed) and
// goes on leading its own group.
func TestUnsafeRecoverIgnoresOldReplicas(t *testing.T) {
	m := newManualCluster(t, "a", "b", "c")
	m.until("a leader", 100, func() bool { n, _ := m.leader(); return n != "" })
	_, lg := m.leader()
	if err := m.propose(lg, "k", "v"); err != nil {
		t.Fatal(err)
	}
	m.until("a to apply the write", 100, func() bool {
		g, _ := m.hosts["a"].Group(1)
		return g.Status().Applied >= lg.Status().Applied
	})
	// a is cut off; b and c go on as the old configuration.
	m.net.Partition("a", "b")
	m.net.Partition("a", "c")
	h := m.hosts["a"]
	m.until("a to forget its leader", 200, func() bool { _, err := h.UnsafeRecoverPlan(1); return err == nil })
	if _, err := h.UnsafeRecover(1); err != nil {
		t.Fatalf("UnsafeRecover: %v", err)
	}
	m.until("a to lead its one-voter group, and b or c the old one", 200, func() bool {
		ga, _ := h.Group(1)
		gb, _ := m.hosts["b"].Group(1)
		gc, _ := m.hosts["c"].Group(1)
		return ga.Status().State == replica.StateLeader && (gb.Status().State == replica.StateLeader || gc.Status().State == replica.StateLeader)
	})
	ga, _ := h.Group(1)
	term := ga.Status().Term
	// Leadership handed back and forth between b and c raises the old
	// configuration's term above the recovered one: raft would follow a
	// leader of a higher term.
	oldLeader := func() (replica.Group, replica.Group) {
		gb, _ := m.hosts["b"].Group(1)
		gc, _ := m.hosts["c"].Group(1)
		if gb.Status().State == replica.StateLeader {
			return gb, gc
		}
		return gc, gb
	}
	for {
		from, to := oldLeader()
		if from.Status().Term > term+1 {
			break
		}
		id := to.Status().Replica
		moved := make(chan error, 1)
		go func() { moved <- from.TransferLeader(context.Background(), id) }()
		m.until("the old configuration's leadership to move", 200, func() bool { return to.Status().State == replica.StateLeader })
		if err := <-moved; err != nil {
			t.Fatalf("transfer to %d: %v", id, err)
		}
	}
	oldTerm := func() uint64 { l, _ := oldLeader(); return l.Status().Term }()
	m.net.Heal()
	for range 5 * 10 { // five election timeouts of traffic from the old configuration
		m.step(true)
	}
	st := ga.Status()
	if st.State != replica.StateLeader || st.Term != term || len(st.Descriptor.Voters) != 1 {
		t.Fatalf("the recovered replica after hearing from the old ones: %s at term %d (was leader at %d), voters %v",
			st.State, st.Term, term, st.Descriptor.Voters)
	}
	if err := m.propose(ga, "k2", "v2"); err != nil {
		t.Fatalf("a write on the recovered replica: %v", err)
	}
	t.Logf("old configuration at term %d; recovered replica at term %d", oldTerm, term)
}
