package raftengine

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
)

// spanKeys lists the keys of [start, end) in v.
func spanKeys(t *testing.T, v storage.View, start, end []byte) []string {
	t.Helper()
	it, err := v.NewIter(start, end)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var keys []string
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, string(it.Key()))
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// A voter removed while its node was stopped is still on disk when the
// node comes back, and nobody tells it (the leader no longer sends to it).
// The leader's newer descriptor proves the removal: RemoveStale destroys it
// as an applied removal would.
func TestRemoveStaleReplicaRemovedWhileAway(t *testing.T) {
	c := newTestCluster(t, 3, 1, nil, nil)
	const g = replica.GroupID(1)
	c.put(g, "k", "v")
	leader := c.leader(g)
	var away string
	for _, n := range c.founderNames() {
		if n != leader {
			away = n
			break
		}
	}
	old := c.group(away, g).Status()
	c.stopNode(away)

	var target replica.Membership
	for _, n := range c.founderNames() {
		if n != away {
			target.Members = append(target.Members, replica.Member{Node: n, Role: replica.RoleVoter})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err := c.group(c.leader(g), g).ChangeMembers(ctx, target)
		var nl *replica.ErrNotLeader
		if errors.As(err, &nl) {
			continue
		}
		if err != nil {
			t.Fatalf("removing %s: %v", away, err)
		}
		break
	}
	desc := c.group(c.leader(g), g).Status().Descriptor
	if _, ok := desc.ReplicaOn(away); ok || desc.Version <= old.Descriptor.Version {
		t.Fatalf("leader's descriptor %+v: want a version above %d without %s", desc, old.Descriptor.Version, away)
	}

	nd := c.startNode(away)
	stale, ok := nd.host.Group(g)
	if !ok {
		t.Fatalf("the replica of %s did not reopen", away)
	}
	if st := stale.Status(); st.Replica != old.Replica || st.Descriptor.Version != old.Descriptor.Version {
		t.Fatalf("reopened replica %d at version %d; want %d at %d", st.Replica, st.Descriptor.Version,
			old.Replica, old.Descriptor.Version)
	}
	removed, err := nd.host.RemoveStale(desc)
	if err != nil || !removed {
		t.Fatalf("RemoveStale(leader's descriptor) = %v, %v; want true", removed, err)
	}
	if _, ok := nd.host.Group(g); ok {
		t.Fatal("the stale replica is still hosted")
	}
	if st := stale.Status(); st.State != replica.StateStopped {
		t.Fatalf("the stale replica's role is %q, want stopped", st.State)
	}
	rs, re := storage.ReplicatedSpan(uint64(g))
	if keys := spanKeys(t, nd.store, rs, re); len(keys) != 0 {
		t.Fatalf("the removed replica's replicated span still holds %q", keys)
	}
	us, ue := storage.UnreplicatedSpan(uint64(g))
	if keys := spanKeys(t, nd.store, us, ue); len(keys) != 1 || keys[0] != string(storage.TombstoneKey(uint64(g))) {
		t.Fatalf("the removed replica's unreplicated span holds %q; want only its tombstone", keys)
	}
	if tomb, err := nd.host.Tombstone(g); err != nil || tomb < desc.NextReplicaID {
		t.Fatalf("tombstone = %d, %v; want at least %d", tomb, err, desc.NextReplicaID)
	}
	// A stale message for the old replica is refused: no resurrection.
	if _, _, is := touch(nd.host, g, old.Replica); is {
		t.Fatalf("a message for removed replica %d created a replica", old.Replica)
	}
	if removed, err := nd.host.RemoveStale(desc); removed || err != nil {
		t.Fatalf("RemoveStale again = %v, %v; want false, nil (nothing left to remove)", removed, err)
	}
	c.put(g, "k2", "v2") // the group works on without it
}

// RemoveStale changes nothing unless the descriptor is newer and leaves
// the local replica out.
func TestRemoveStaleKeepsReplica(t *testing.T) {
	m := newManualCluster(t, "a", "b", "c")
	h, st := m.hosts["a"], m.stores["a"]
	grp, _ := h.Group(1)
	local := grp.Status().Descriptor // replica 1 on a, version 1, next ID 4
	rs, re := storage.ReplicatedSpan(1)
	us, ue := storage.UnreplicatedSpan(1)
	before := append(spanKeys(t, st, rs, re), spanKeys(t, st, us, ue)...)

	without := func(version uint64) replica.Descriptor {
		d := replica.Descriptor{Group: 1, Version: version, NextReplicaID: 4,
			Replicas: []replica.Member{{ID: 2, Node: "b", Role: replica.RoleVoter}, {ID: 3, Node: "c", Role: replica.RoleVoter}},
			Voters:   []replica.ReplicaID{2, 3}}
		return d
	}
	for _, tc := range []struct {
		name    string
		desc    replica.Descriptor
		wantErr bool
	}{
		{name: "the local descriptor itself", desc: local},
		{name: "same version without the replica", desc: without(local.Version)},
		{name: "older version without the replica", desc: without(local.Version - 1)},
		{name: "newer version naming the replica", desc: func() replica.Descriptor {
			d := local.Clone()
			d.Version += 5
			d.NextReplicaID = 6
			d.Replicas = append(d.Replicas, replica.Member{ID: 5, Node: "d", Role: replica.RoleLearner})
			d.Learners = []replica.ReplicaID{5}
			return d
		}()},
		{name: "newer version putting the replica's ID on another node", wantErr: true, desc: func() replica.Descriptor {
			d := without(local.Version + 1)
			d.Replicas = append(d.Replicas, replica.Member{ID: 1, Node: "elsewhere", Role: replica.RoleVoter})
			d.Voters = []replica.ReplicaID{1, 2, 3}
			return d
		}()},
		{name: "newer version without voters", wantErr: true, desc: replica.Descriptor{Group: 1, Version: local.Version + 1, NextReplicaID: 9}},
		{name: "another group", desc: replica.Descriptor{Group: 7, Version: 9, NextReplicaID: 9,
			Replicas: []replica.Member{{ID: 1, Node: "b"}}, Voters: []replica.ReplicaID{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			removed, err := h.RemoveStale(tc.desc)
			if removed || (err != nil) != tc.wantErr {
				t.Fatalf("RemoveStale = %v, %v; want false with error %v", removed, err, tc.wantErr)
			}
			if g, ok := h.Group(1); !ok || g != grp || g.Status().State == replica.StateStopped {
				t.Fatal("the replica is no longer hosted")
			}
			after := append(spanKeys(t, st, rs, re), spanKeys(t, st, us, ue)...)
			if len(after) != len(before) {
				t.Fatalf("the replica's keys changed: %q, were %q", after, before)
			}
			if tomb, err := h.Tombstone(1); err != nil || tomb != 0 {
				t.Fatalf("tombstone = %d, %v; want none", tomb, err)
			}
		})
	}
}

// An uninitialised replica (created by a message, no descriptor yet) counts
// as version 0, but only a descriptor that knows its ID can prove it gone;
// and a descriptor naming a newer replica on this node leaves room for it.
func TestRemoveStaleUninitialised(t *testing.T) {
	m := newManualCluster(t, "a", "b", "c")
	h := m.hosts["b"]

	// Replica 3 of group 5: the leader's messages created it for a learner
	// that a descriptor from before the learner's addition does not know.
	if _, initd, is := touch(h, 5, 3); !is || initd {
		t.Fatal("no uninitialised replica 3 of group 5")
	}
	before := replica.Descriptor{Group: 5, Version: 2, NextReplicaID: 3,
		Replicas: []replica.Member{{ID: 1, Node: "a", Role: replica.RoleVoter}}, Voters: []replica.ReplicaID{1}}
	if removed, err := h.RemoveStale(before); removed || err != nil {
		t.Fatalf("RemoveStale(descriptor older than the replica's ID) = %v, %v; want false, nil", removed, err)
	}
	if !slices.Contains(h.Groups(), 5) {
		t.Fatal("replica 3 of group 5 is gone")
	}
	after := before
	after.Version, after.NextReplicaID = 4, 6
	if removed, err := h.RemoveStale(after); !removed || err != nil {
		t.Fatalf("RemoveStale(descriptor past the replica) = %v, %v; want true", removed, err)
	}
	if tomb, err := h.Tombstone(5); err != nil || tomb != 6 {
		t.Fatalf("tombstone of group 5 = %d, %v; want 6", tomb, err)
	}
	if _, _, is := touch(h, 5, 3); is {
		t.Fatal("removed replica 3 came back")
	}

	// Replica 2 of group 6, while the descriptor puts replica 4 on this node.
	if _, _, is := touch(h, 6, 2); !is {
		t.Fatal("no uninitialised replica 2 of group 6")
	}
	newer := replica.Descriptor{Group: 6, Version: 7, NextReplicaID: 8,
		Replicas: []replica.Member{{ID: 1, Node: "a", Role: replica.RoleVoter}, {ID: 4, Node: "b", Role: replica.RoleLearner}},
		Voters:   []replica.ReplicaID{1}, Learners: []replica.ReplicaID{4}}
	if removed, err := h.RemoveStale(newer); !removed || err != nil {
		t.Fatalf("RemoveStale(descriptor with a newer replica here) = %v, %v; want true", removed, err)
	}
	if tomb, err := h.Tombstone(6); err != nil || tomb != 4 {
		t.Fatalf("tombstone of group 6 = %d, %v; want 4 (the newer replica's ID)", tomb, err)
	}
	if _, _, is := touch(h, 6, 4); !is {
		t.Fatal("the newer replica 4 cannot be created")
	}
	if removed, err := h.RemoveStale(newer); removed || err != nil {
		t.Fatalf("RemoveStale(descriptor naming the new replica) = %v, %v; want false, nil", removed, err)
	}

	_ = h.Close()
	if _, err := h.RemoveStale(after); !errors.Is(err, replica.ErrStopped) {
		t.Fatalf("RemoveStale on a closed host = %v; want ErrStopped", err)
	}
}

// touch hands host h a message for replica to of group g, as a peer
// would, and reports the local replica of g after it and whether it is to:
// whether the message found (or created) that replica.
func touch(h *Host, g replica.GroupID, to replica.ReplicaID) (id replica.ReplicaID, initialised, is bool) {
	h.HandleMessages("peer", []transport.Message{{Group: uint64(g), From: 1, To: uint64(to), Payload: []byte{}}})
	id, initialised, ok := h.LocalReplica(g)
	return id, initialised, ok && id == to
}
