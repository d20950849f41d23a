package raftengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// checkCluster is a manualCluster whose hosts keep their metrics where
// the test can read them.
type checkCluster struct {
	*manualCluster
	regs map[string]*prometheus.Registry
}

func newCheckCluster(t *testing.T, tweak func(*Config), names ...string) *checkCluster {
	m := &manualCluster{t: t, hosts: map[string]*Host{}, stores: map[string]*storage.Mem{}, net: transport.NewLocalNetwork()}
	c := &checkCluster{manualCluster: m, regs: map[string]*prometheus.Registry{}}
	desc := replica.Descriptor{Group: 1, Version: 1, NextReplicaID: replica.ReplicaID(len(names) + 1)}
	for i, n := range names {
		desc.Replicas = append(desc.Replicas, replica.Member{ID: replica.ReplicaID(i + 1), Node: n})
		desc.Voters = append(desc.Voters, replica.ReplicaID(i+1))
	}
	for _, n := range names {
		st := storage.NewMem()
		reg := prometheus.NewRegistry()
		cfg := Config{Config: driver.Config{
			Node: n, Store: st, Manual: true, Logger: quietLogger(), Registry: reg,
			NewStateMachine: func(g replica.GroupID) replica.StateMachine { return kv.New(uint64(g)) },
			Fatal:           func(err error) { t.Errorf("node %s: fatal: %v", n, err) },
		}}
		if tweak != nil {
			tweak(&cfg)
		}
		h, err := NewHost(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Bootstrap(desc, nil); err != nil {
			t.Fatal(err)
		}
		ep := m.net.Endpoint(n, h)
		h.Start(ep)
		m.hosts[n], m.stores[n], c.regs[n] = h, st, reg
		m.eps = append(m.eps, ep)
	}
	t.Cleanup(func() {
		for _, h := range m.hosts {
			_ = h.Close()
		}
		for _, ep := range m.eps {
			_ = ep.Close()
		}
	})
	m.until("a leader", 100, func() bool { n, _ := m.leader(); return n != "" })
	return c
}

// do runs f on a goroutine of its own (it blocks on rounds) and steps the
// cluster until it returns.
func (c *checkCluster) do(what string, f func()) {
	c.t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	c.until(what, 200, func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}

func (c *checkCluster) put(key, value string) {
	c.t.Helper()
	_, g := c.leader()
	var err error
	c.do("a put", func() {
		cmd := kv.NewCommand(kv.Put([]byte(key), []byte(value)))
		_, _, err = g.Propose(context.Background(), cmd.Encode())
	})
	if err != nil {
		c.t.Fatalf("put %s: %v", key, err)
	}
}

func (c *checkCluster) check() replica.Check {
	c.t.Helper()
	_, g := c.leader()
	var res replica.Check
	var err error
	c.do("a consistency check's verdict", func() { res, err = g.CheckConsistency(context.Background()) })
	if err != nil {
		c.t.Fatalf("CheckConsistency: %v", err)
	}
	return res
}

// metric is a counter of node's, the one with labels (name, value pairs)
// when given.
func (c *checkCluster) metric(node, name string, labels ...string) float64 {
	c.t.Helper()
	mfs, err := c.regs[node].Gather()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// flip changes one byte of key's stored record on node, behind the
// engine's back: a disk or a bug that changed one replica's state.
func (c *checkCluster) flip(node, key string) {
	c.t.Helper()
	st := c.stores[node]
	k := storage.DataKey(1, []byte(key))
	v, err := st.Get(k)
	if err != nil {
		c.t.Fatalf("%s has no %s: %v", node, key, err)
	}
	v = bytes.Clone(v)
	v[len(v)-1] ^= 0x20
	b := st.NewBatch()
	defer b.Close()
	if err := errors.Join(b.Set(k, v), b.Commit(true)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *checkCluster) group(node string) replica.Group {
	g, ok := c.hosts[node].Group(1)
	if !ok {
		c.t.Fatalf("%s has no replica of group 1", node)
	}
	return g
}

func (c *checkCluster) followers() []string {
	lead, _ := c.leader()
	var out []string
	for _, n := range []string{"a", "b", "c"} {
		if n != lead {
			out = append(out, n)
		}
	}
	return out
}

// Replicas that applied the same entries agree, at exactly the check's
// index, though writes go on around the check.
func TestConsistencyCheckAgrees(t *testing.T) {
	c := newCheckCluster(t, nil, "a", "b", "c")
	c.put("k1", "v1")
	c.put("k2", "v2")
	lead, _ := c.leader()
	res := c.check()
	if res.Verdict != replica.VerdictAgree || len(res.Replicas) != 3 || res.Index == 0 {
		t.Fatalf("check = %+v, want every replica agreeing", res)
	}
	for _, r := range res.Replicas {
		if !r.Reported || r.Differs || r.Index != res.Index || r.Digest != res.Replicas[0].Digest {
			t.Fatalf("replica %d: %+v, want it reported the same digest at %d", r.Replica, r, res.Index)
		}
	}
	// The state the digests cover is the state at the check's index.
	_, want, err := kv.New(1).Digest(c.stores[lead])
	if err != nil {
		t.Fatal(err)
	}
	if res.Replicas[0].Digest != want {
		t.Fatalf("digest %x, want the leader's state now (nothing written since) %x", res.Replicas[0].Digest[:4], want[:4])
	}
	if got := c.metric(lead, "cairn_consistency_checks_total", "verdict", "agree"); got != 1 {
		t.Fatalf("checks_total{agree} = %v, want 1", got)
	}
	if got := c.metric(lead, "cairn_consistency_mismatches_total"); got != 0 {
		t.Fatalf("mismatches_total = %v, want 0", got)
	}
	// A check entry is an empty entry to kv: writes after it work.
	c.put("k3", "v3")
}

// The leader proposes checks by itself every interval.
func TestConsistencyCheckPeriodic(t *testing.T) {
	c := newCheckCluster(t, func(cfg *Config) { cfg.ConsistencyCheckInterval = 500 * time.Millisecond }, "a", "b", "c") // 5 ticks of 100ms
	c.put("k", "v")
	lead, _ := c.leader()
	c.until("three periodic checks", 100, func() bool {
		return c.metric(lead, "cairn_consistency_checks_total", "verdict", "agree") >= 3
	})
}

// A value flipped in one follower's store behind the engine's back is
// found by the next check: an alarm (metric, verdict), and the replica
// stops serving reads, durably, until it is rebuilt.
func TestConsistencyCheckFindsFlippedValue(t *testing.T) {
	c := newCheckCluster(t, nil, "a", "b", "c")
	c.put("k", "value")
	c.put("other", "x")
	lead, _ := c.leader()
	bad := c.followers()[1]
	c.flip(bad, "k")

	res := c.check()
	if res.Verdict != replica.VerdictMismatch {
		t.Fatalf("verdict %v, want mismatch: %+v", res.Verdict, res)
	}
	for _, r := range res.Replicas {
		if r.Differs != (r.Node == bad) {
			t.Fatalf("replica %d on %s: differs = %v; want only %s to differ", r.Replica, r.Node, r.Differs, bad)
		}
	}
	if got := c.metric(lead, "cairn_consistency_mismatches_total"); got != 1 {
		t.Fatalf("mismatches_total = %v, want 1", got)
	}
	g := c.group(bad)
	c.until(bad+" to learn it differs", 20, func() bool { return g.Status().Diverged == res.Index })
	err := g.Read(context.Background(), replica.Stale, func(storage.View) error { return nil })
	if !errors.Is(err, replica.ErrDiverged) {
		t.Fatalf("a stale read on the diverged replica = %v, want ErrDiverged", err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if st := c.group(n).Status(); n != bad && (st.Diverged != 0 || st.NoMajority != 0) {
			t.Fatalf("%s: %+v, want no alarm on a replica of the majority", n, st)
		}
	}
	// Writes go on: the majority serves.
	c.put("k2", "v2")
	// Leadership is not handed to it.
	var terr error
	c.do("a transfer to the diverged replica", func() {
		terr = c.group(lead).TransferLeader(context.Background(), c.group(bad).Status().Replica)
	})
	if !errors.Is(terr, replica.ErrDiverged) {
		t.Fatalf("a transfer of leadership to the diverged replica: %v, want ErrDiverged", terr)
	}

	// The alarm survives a restart of the host.
	if err := c.hosts[bad].Close(); err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(Config{Config: driver.Config{Node: bad, Store: c.stores[bad], Manual: true, Logger: quietLogger(),
		NewStateMachine: func(g replica.GroupID) replica.StateMachine { return kv.New(uint64(g)) }}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	g2, ok := h.Group(1)
	if !ok || g2.Status().Diverged != res.Index {
		t.Fatalf("after a restart: diverged = %d, want %d", g2.Status().Diverged, res.Index)
	}
	if err := g2.Read(context.Background(), replica.Stale, func(storage.View) error { return nil }); !errors.Is(err, replica.ErrDiverged) {
		t.Fatalf("after a restart a stale read = %v, want ErrDiverged", err)
	}
}

// A replica that differs is rebuilt by a snapshot of the leader's state
// (here because the leader truncated its log past it while it was cut
// off): it serves again, and the next check agrees.
func TestConsistencyCheckDivergedRebuiltBySnapshot(t *testing.T) {
	c := newCheckCluster(t, func(cfg *Config) { cfg.TruncateAfter = 20 }, "a", "b", "c")
	c.put("k", "value")
	bad := c.followers()[1]
	c.flip(bad, "k")
	if res := c.check(); res.Verdict != replica.VerdictMismatch {
		t.Fatalf("verdict %v, want mismatch", res.Verdict)
	}
	g := c.group(bad)
	c.until(bad+" to learn it differs", 20, func() bool { return g.Status().Diverged != 0 })
	for _, n := range []string{"a", "b", "c"} {
		if n != bad {
			c.net.Partition(bad, n)
		}
	}
	// An election timeout or two: the leader stops waiting for it.
	for range 30 {
		c.step(true)
	}
	for i := range 60 {
		c.put(fmt.Sprintf("w%d", i), "x")
	}
	c.net.Heal()
	before := c.metric(bad, "cairn_raft_snapshots_applied_total")
	c.until(bad+" to be rebuilt from a snapshot", 300, func() bool { return g.Status().Diverged == 0 })
	if got := c.metric(bad, "cairn_raft_snapshots_applied_total"); got <= before {
		t.Fatalf("%s serves again without a snapshot (%v applied)", bad, got)
	}
	if err := g.Read(context.Background(), replica.Stale, func(storage.View) error { return nil }); err != nil {
		t.Fatalf("a stale read on the rebuilt replica: %v", err)
	}
	if res := c.check(); res.Verdict != replica.VerdictAgree {
		t.Fatalf("after the rebuild: %v, want agree: %+v", res.Verdict, res)
	}
}

// A leader found to differ hands leadership away and does not take it
// back: it asks for no votes.
func TestConsistencyCheckDivergedLeaderStepsDown(t *testing.T) {
	c := newCheckCluster(t, nil, "a", "b", "c")
	c.put("k", "value")
	old, _ := c.leader()
	c.flip(old, "k")
	res := c.check()
	if res.Verdict != replica.VerdictMismatch {
		t.Fatalf("verdict %v, want mismatch: %+v", res.Verdict, res)
	}
	c.until("leadership to leave "+old, 100, func() bool { n, _ := c.leader(); return n != "" && n != old })
	if c.group(old).IsLeader() {
		t.Fatal("the diverged replica says it leads")
	}
	// Its election timeouts pass without it campaigning.
	for range 60 {
		c.step(true)
		if n, _ := c.leader(); n == old {
			t.Fatalf("%s, which differs, leads again", old)
		}
	}
	c.put("k2", "v2")
	// The next check, by the new leader, still finds it.
	if res := c.check(); res.Verdict != replica.VerdictMismatch {
		t.Fatalf("second check: %v, want mismatch", res.Verdict)
	}
}

// With two replicas that differ nobody can tell which is right: the group
// alarms and refuses writes, and takes them again once a check finds a
// majority.
func TestConsistencyCheckNoMajorityRefusesWrites(t *testing.T) {
	c := newCheckCluster(t, nil, "a", "b")
	c.put("k", "value")
	lead, g := c.leader()
	other := "a"
	if lead == "a" {
		other = "b"
	}
	c.flip(other, "k")
	res := c.check()
	if res.Verdict != replica.VerdictNoMajority {
		t.Fatalf("verdict %v, want no-majority: %+v", res.Verdict, res)
	}
	if got := c.metric(lead, "cairn_consistency_mismatches_total"); got != 1 {
		t.Fatalf("mismatches_total = %v, want 1", got)
	}
	var err error
	c.do("a refused put", func() {
		cmd := kv.NewCommand(kv.Put([]byte("k2"), []byte("v")))
		_, _, err = g.Propose(context.Background(), cmd.Encode())
	})
	if !errors.Is(err, replica.ErrNoMajority) || !errors.Is(err, replica.ErrNotApplied) {
		t.Fatalf("a write = %v, want ErrNoMajority (certainly not applied)", err)
	}
	if st := g.Status(); st.NoMajority != res.Index {
		t.Fatalf("NoMajority = %d, want %d", st.NoMajority, res.Index)
	}
	// Put the value back: the replicas agree again, and writes resume.
	c.flip(other, "k")
	if res := c.check(); res.Verdict != replica.VerdictAgree {
		t.Fatalf("after the repair: %v, want agree", res.Verdict)
	}
	c.put("k2", "v2")
}

func equalIDs(a, b []replica.ReplicaID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
