package raftengine

import (
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
)

// manualCluster runs Manual hosts (no goroutines of their own) on
// in-memory stores over the in-memory network; the test ticks them and
// runs their rounds by hand.
type manualCluster struct {
	t      *testing.T
	hosts  map[string]*Host
	stores map[string]*storage.Mem
	net    *transport.LocalNetwork
	eps    []*transport.LocalEndpoint
}

func newManualCluster(t *testing.T, names ...string) *manualCluster {
	m := &manualCluster{t: t, hosts: map[string]*Host{}, stores: map[string]*storage.Mem{}, net: transport.NewLocalNetwork()}
	desc := replica.Descriptor{Group: 1, Version: 1, NextReplicaID: replica.ReplicaID(len(names) + 1)}
	for i, n := range names {
		desc.Replicas = append(desc.Replicas, replica.Member{ID: replica.ReplicaID(i + 1), Node: n})
		desc.Voters = append(desc.Voters, replica.ReplicaID(i+1))
	}
	for _, n := range names {
		st := storage.NewMem()
		h, err := NewHost(Config{Config: driver.Config{
			Node: n, Store: st, Manual: true, Logger: quietLogger(),
			NewStateMachine: func(g replica.GroupID) replica.StateMachine { return kv.New(uint64(g)) },
			Fatal:           func(err error) { t.Errorf("node %s: fatal: %v", n, err) },
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Bootstrap(desc, nil); err != nil {
			t.Fatal(err)
		}
		ep := m.net.Endpoint(n, h)
		h.Start(ep)
		m.hosts[n], m.stores[n] = h, st
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
	return m
}

// step ticks every host once and runs rounds until every host is idle for
// a moment (the in-memory links deliver on their own goroutines).
func (m *manualCluster) step(tick bool) {
	if tick {
		for _, h := range m.hosts {
			h.Tick()
		}
	}
	idle := 0
	for idle < 3 {
		worked := false
		for _, h := range m.hosts {
			for h.RunRound() {
				worked = true
			}
		}
		if worked {
			idle = 0
		} else {
			idle++
			time.Sleep(time.Millisecond) // let the links hand over what they carry
		}
	}
}

func (m *manualCluster) until(what string, maxTicks int, cond func() bool) {
	m.t.Helper()
	for i := 0; i < maxTicks; i++ {
		if cond() {
			return
		}
		m.step(true)
	}
	m.t.Fatalf("not within %d ticks: %s", maxTicks, what)
}

func (m *manualCluster) leader() (string, replica.Group) {
	for n, h := range m.hosts {
		if g, ok := h.Group(1); ok && g.Status().State == replica.StateLeader {
			return n, g
		}
	}
	return "", nil
}

// The scheduler can be stepped by hand: no ticker, no workers, nothing
// happens until the test ticks and runs rounds.
func TestManualStepping(t *testing.T) {
	m := newManualCluster(t, "a", "b", "c")
	m.step(false)
	if n, _ := m.leader(); n != "" {
		t.Fatalf("%s leads before any tick", n)
	}
	m.until("a leader", 100, func() bool { n, _ := m.leader(); return n != "" })
	_, g := m.leader()

	// A proposal is answered only once the test runs the rounds.
	type res struct {
		reply kv.Reply
		err   error
	}
	done := make(chan res, 1)
	go func() {
		cmd := kv.NewCommand(kv.Put([]byte("k"), []byte("v")))
		out, _, err := g.Propose(context.Background(), cmd.Encode())
		if err != nil {
			done <- res{err: err}
			return
		}
		rep, err := kv.DecodeResult(out)
		done <- res{rep, err}
	}()
	var got res
	m.until("the proposal's result", 50, func() bool {
		select {
		case got = <-done:
			return true
		default:
			return false
		}
	})
	if got.err != nil || got.reply.Code != kv.CodeOK {
		t.Fatalf("propose: %+v", got)
	}
	// Every replica applied it, in the same state.
	m.until("every replica to apply", 50, func() bool {
		for _, st := range m.stores {
			if _, ok, _ := kv.Get(st, 1, []byte("k")); !ok {
				return false
			}
		}
		return true
	})
	var digests []string
	for n, st := range m.stores {
		idx, sum, err := kv.New(1).Digest(st)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, fmt.Sprintf("%d/%x", idx, sum[:4]))
		_ = n
	}
	for _, d := range digests[1:] {
		if d != digests[0] {
			t.Fatalf("replicas differ: %v", digests)
		}
	}
}

// Raft refuses a second conf change while one is pending, without a word;
// the driver must answer it as certainly not applied.
func TestRefusedConfChangeIsNotApplied(t *testing.T) {
	m := newManualCluster(t, "a", "b", "c")
	m.until("a leader", 100, func() bool { n, _ := m.leader(); return n != "" })
	_, g := m.leader()
	st := g.Status()
	errs := make(chan error, 2)
	for i := range 2 {
		// Each plans the same first step from the same descriptor: add a
		// learner on a new node. No round runs in between, so both reach
		// raft in one round.
		target := replica.Membership{}
		for _, r := range st.Descriptor.Replicas {
			target.Members = append(target.Members, replica.Member{Node: r.Node, Role: r.Role})
		}
		target.Members = append(target.Members, replica.Member{Node: fmt.Sprintf("x%d", i), Role: replica.RoleLearner})
		_, proposed, err := g.ChangeMembersStep(target, func(err error) { errs <- err })
		if !proposed || err != nil {
			t.Fatalf("step %d: proposed %v, %v", i, proposed, err)
		}
	}
	var got []error
	m.until("both answers", 50, func() bool {
		select {
		case err := <-errs:
			got = append(got, err)
		default:
		}
		return len(got) == 2
	})
	var ok, refused int
	for _, err := range got {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, replica.ErrMembershipChange):
			refused++
		default:
			t.Fatalf("unexpected answer %v", err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("answers %v: want one applied and one refused", got)
	}
}

// A message naming a newer replica ID than the local one proves the local
// replica was removed: it is destroyed (tombstone) and the new one created.
func TestNewerReplicaIDReplacesOldReplica(t *testing.T) {
	m := newManualCluster(t, "a", "b", "c")
	h := m.hosts["b"]
	msg := func(to replica.ReplicaID) {
		h.HandleMessages("a", []transport.Message{{Group: 1, From: 1, To: uint64(to), Payload: []byte{}}})
	}
	if id, _, ok := h.LocalReplica(1); !ok || id != 2 {
		t.Fatalf("local replica of group 1 = %d, %v; want 2", id, ok)
	}
	msg(1)
	if id, _, _ := h.LocalReplica(1); id != 2 {
		t.Fatalf("a message for an older replica ID replaced replica 2 with %d", id)
	}
	msg(7)
	if id, initd, ok := h.LocalReplica(1); !ok || id != 7 || initd {
		t.Fatalf("local replica = %d (initialised %v, %v); want a new uninitialised replica 7", id, initd, ok)
	}
	if tomb, err := h.Tombstone(1); err != nil || tomb < 7 {
		t.Fatalf("tombstone = %d, %v; want ≥ 7", tomb, err)
	}
	msg(2)
	if id, _, _ := h.LocalReplica(1); id != 7 {
		t.Fatalf("the replaced replica came back: local replica %d", id)
	}
}

// A replica whose removal was applied but whose data was not yet deleted
// when the process stopped is deleted at the next start, not refused.
func TestRestartFinishesRemoval(t *testing.T) {
	st := storage.NewMem()
	d := replica.Descriptor{Group: 3, Version: 4, NextReplicaID: 9,
		Replicas: []replica.Member{{ID: 5, Node: "other"}}, Voters: []replica.ReplicaID{5}}
	b := st.NewBatch()
	if err := errors.Join(b.Set(storage.DescriptorKey(3), d.Encode(nil)), b.Set(storage.DataKey(3, []byte("k")), []byte("x")), b.Commit(true)); err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(Config{Config: driver.Config{Node: "me", Store: st, Manual: true, Logger: quietLogger(),
		NewStateMachine: func(g replica.GroupID) replica.StateMachine { return kv.New(uint64(g)) }}})
	if err != nil {
		t.Fatalf("a host with a removed replica on disk did not start: %v", err)
	}
	defer h.Close()
	if _, ok := h.Group(3); ok {
		t.Fatal("the removed replica was opened")
	}
	if _, err := st.Get(storage.DataKey(3, []byte("k"))); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the removed replica's data is still there: %v", err)
	}
	if tomb, err := h.Tombstone(3); err != nil || tomb != 9 {
		t.Fatalf("tombstone = %d, %v; want 9", tomb, err)
	}
}
