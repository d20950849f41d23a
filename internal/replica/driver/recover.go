package driver

import (
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// RecoverSkip is how far a recovery raises the descriptor's version and
// next replica ID: past anything the lost replicas can have reached with
// membership changes this replica never saw (each takes a quorum, so they
// can have made a few at most before they were lost).
const RecoverSkip = 1000

// errRecovering fails what was waiting on a replica that UnsafeRecover
// stops; it wraps replica.ErrStopped, so callers that retry on a stopped
// replica look the group up again and find the recovered one.
var errRecovering = fmt.Errorf("driver: replica restarted by an unsafe recovery: %w", replica.ErrStopped)

// UnsafeRecoverPlan reports what UnsafeRecover would do now, and changes
// nothing. When UnsafeRecover would refuse, err says why (errors.Is
// replica.ErrHasLeader when the group has a leader); the plan is still filled in
// whenever the local replica could be read, so an operator sees what a
// recovery would cost before the group is in a state to allow it.
func (h *Host) UnsafeRecoverPlan(gid replica.GroupID) (replica.Recovery, error) {
	g, err := h.hosted(gid)
	if err != nil {
		return replica.Recovery{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.recoveryPlanLocked()
}

// UnsafeRecover forces group gid, which has lost its quorum, to continue
// on the local replica alone (DESIGN.md, Membership and failure), as
// etcd's --force-new-cluster does for a whole cluster. It is unsafe:
// entries above the local applied index are deleted, and any of them that
// committed on the replicas that are gone (writes acknowledged to clients)
// are lost; the result says how many entries went. It is meant for a group
// whose other replicas are gone for good: a majority that is merely cut
// off from this node and still running would go on as a second, diverging
// copy of the group.
//
// It refuses, changing nothing, when the local replica is not initialised
// or not named by its descriptor, and when it knows a leader, itself
// included (ErrHasLeader). With CheckQuorum a leader steps down within an
// election timeout of losing its quorum, and a follower forgets its leader
// when it starts an election, so a group without a quorum shows no leader
// after an election timeout or two; a known leader means a quorum that
// answered recently, and its membership can be changed safely instead. A
// joint configuration is no obstacle: the new one replaces it whole.
//
// Steps: the replica is stopped as a closing does (waiting proposals fail
// as indeterminate, reads with an error wrapping replica.ErrStopped; a
// replica.Group obtained before is stopped for good, and Host.Group
// returns the new one). Then one synced batch writes the descriptor After
// (the local replica the only voter; no learners, no outgoing voters, not
// joint; every other replica dropped; Version and NextReplicaID raised by
// RecoverSkip, so the descriptor is newer, and replicas added later get
// IDs no old replica had, even if the lost replicas went on to change the
// membership among themselves without this one), deletes the log
// above the applied index and sets the hard state's commit to the applied
// index. The replica is then opened from storage, as a restart would open
// it, and campaigns at once: the only voter of its group, it elects itself
// and serves reads and writes.
//
// NB: the term and vote are kept. The campaign moves to a new term, voting
// for itself, before the replica appends anything, so whatever term an old
// leader's dropped entries had, new entries never reuse it; and a vote
// once given in the old term stays given (raft never votes twice in a
// term). A larger bump would not help against the old replicas, whose
// terms are unknown here: they are shut out instead. Their messages to the
// local replica are dropped (their IDs are below NextReplicaID and not in
// the descriptor, so the descriptor proves them removed), they are sent
// nothing, and an old replica on a node that gets a new replica of the
// group is destroyed by the first message to the new, higher, ID (or by
// RemoveStale given the recovered descriptor).
func (h *Host) UnsafeRecover(gid replica.GroupID) (replica.Recovery, error) {
	g, err := h.hosted(gid)
	if err != nil {
		return replica.Recovery{}, err
	}
	// Holding destroying keeps a racing destroy (a message naming a newer
	// replica, RemoveStale) from deleting the group under the recovery;
	// once done is set, a late destroy of this, the old, incarnation does
	// nothing.
	g.destroying.Lock()
	defer g.destroying.Unlock()
	if g.destroying.done {
		return replica.Recovery{}, fmt.Errorf("driver: group %d: replica %d is being removed: %w", gid, g.id, replica.ErrRemoved)
	}
	g.mu.Lock()
	plan, err := g.recoveryPlanLocked()
	if err != nil {
		g.mu.Unlock()
		return plan, err
	}
	// Closed under the same lock as the check: no round runs the replica
	// (and no leader can appear in it) from here.
	g.closed = true
	g.mu.Unlock()
	g.shutdown(errRecovering)
	g.destroying.done = true

	if err := h.writeRecovery(g, plan); err != nil {
		// The replica is stopped, and reopening it here could race a
		// message that recreates it: a restart reopens it from what is on
		// disk (the batch is atomic: the old state or the recovered one).
		h.removeGroup(g, true)
		return plan, fmt.Errorf("driver: group %d: unsafe recovery: %w (restart the node to reopen the replica)", gid, err)
	}
	h.log.Warn("unsafe recovery: the group continues with the local replica as its only voter",
		"group", gid, "replica", g.id, "version", plan.After.Version, "applied", plan.Applied,
		"commit", plan.Commit, "last_index", plan.LastIndex, "discarded", plan.Discarded,
		"dropped_replicas", len(plan.Before.Replicas)-1)

	ng, err := h.reopenGroup(g)
	if err != nil {
		return plan, fmt.Errorf("driver: group %d: unsafe recovery written, but reopening the replica failed (a restart opens it): %w", gid, err)
	}
	ng.mu.Lock()
	if err := ng.core.Campaign(); err != nil {
		h.log.Warn("unsafe recovery: campaign", "group", gid, "err", err) // it campaigns on its election timeout anyway
	}
	ng.mu.Unlock()
	h.schedule(ng)
	return plan, nil
}

// hosted returns the local replica of gid.
func (h *Host) hosted(gid replica.GroupID) (*group, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return nil, replica.ErrStopped
	}
	g, ok := h.mu.groups[gid]
	if !ok {
		return nil, fmt.Errorf("driver: group %d: no replica on node %s", gid, h.cfg.Node)
	}
	return g, nil
}

// recoveryPlanLocked computes the recovery of g from its durable state:
// between rounds (g.mu held) the store holds everything the core was told.
func (g *group) recoveryPlanLocked() (replica.Recovery, error) {
	gid := g.gid
	if g.closed || g.removed {
		return replica.Recovery{}, fmt.Errorf("driver: group %d: replica %d is stopped or removed: %w", gid, g.id, replica.ErrStopped)
	}
	if !g.initialized() {
		return replica.Recovery{}, fmt.Errorf("driver: group %d: replica %d is not initialised (it never received the group's state): nothing to recover from", gid, g.id)
	}
	me, ok := g.desc.Replica(g.id)
	if !ok {
		return replica.Recovery{}, fmt.Errorf("driver: group %d: descriptor version %d does not name replica %d", gid, g.desc.Version, g.id)
	}
	applied, err := storage.ReadAppliedState(g.h.store, uint64(gid))
	if err != nil {
		return replica.Recovery{}, err
	}
	commit, err := g.eng.Recovery(storage.ViewLog{View: g.h.store}, gid)
	if err != nil {
		return replica.Recovery{}, err
	}
	lg := g.core.Log()
	last := lg.LastIndex()
	if trunc := lg.FirstIndex() - 1; applied.Index < trunc || applied.Index > last {
		// Truncation never passes the applied index, nor does applying
		// pass the log: the replica's state is not what it should be.
		return replica.Recovery{}, fmt.Errorf("driver: group %d: applied index %d outside the log (%d, %d]", gid, applied.Index, trunc, last)
	}
	me.Role = replica.RoleVoter
	plan := replica.Recovery{
		Group:   gid,
		Replica: g.id,
		Before:  g.desc.Clone(),
		After: replica.Descriptor{
			Group:         g.desc.Group,
			Version:       g.desc.Version + RecoverSkip,
			NextReplicaID: g.desc.NextReplicaID + RecoverSkip,
			Replicas:      []replica.Member{me},
			Voters:        []replica.ReplicaID{g.id},
		},
		Applied:   applied.Index,
		Commit:    commit,
		LastIndex: last,
		Discarded: last - applied.Index,
	}
	if st := g.core.Basic(); st.Leader != 0 {
		lead := "this replica"
		if st.Leader != g.id {
			lead = fmt.Sprintf("replica %d on node %s", st.Leader, g.nodeOf(st.Leader))
		}
		return plan, fmt.Errorf("%w (%s, term %d): it has a quorum; change its membership instead of recovering it, or retry once no leader is known",
			replica.ErrHasLeader, lead, st.Term)
	}
	return plan, nil
}

// writeRecovery writes the recovered state of g, whose replica is stopped,
// in one synced batch.
func (h *Host) writeRecovery(g *group, plan replica.Recovery) error {
	gid := uint64(g.gid)
	b := h.store.NewBatch()
	defer b.Close()
	if err := b.Set(storage.DescriptorKey(gid), plan.After.Encode(nil)); err != nil {
		return err
	}
	// The stopped replica's core, whose log cache this leaves stale, is
	// dropped; the reopened replica reads its log from the store.
	if err := g.eng.StageRecovery(storage.ViewLog{View: h.store}, storage.LogOf(b), g.gid, plan.Applied); err != nil {
		return err
	}
	if err := b.Commit(true); err != nil {
		err = fmt.Errorf("driver: group %d: committing an unsafe recovery: %w", gid, err)
		h.fatal(err) // as for every failed commit of the log (fail-stop)
		return err
	}
	return nil
}

// reopenGroup replaces the stopped replica old in the host's map with one
// opened from storage. old stayed in the map until now, refusing input, so
// no message could create a replica from the state being rewritten.
func (h *Host) reopenGroup(old *group) (*group, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return nil, replica.ErrStopped
	}
	if h.mu.groups[old.gid] != old {
		return nil, fmt.Errorf("replica %d was closed meanwhile", old.id)
	}
	g, err := newGroup(h, old.gid, old.id)
	if err != nil {
		// Closed, as Group.Close leaves it: no message may open it from
		// the store while this process runs; a restart does.
		delete(h.mu.groups, old.gid)
		h.mu.closedGroups[old.gid] = true
		return nil, err
	}
	h.mu.groups[old.gid] = g
	return g, nil
}

// fromRemoved reports whether the descriptor proves replica id removed: it
// knows every ID below NextReplicaID, and id is not in it. Such a replica
// (one that was away when it was removed, or one that an unsafe recovery
// dropped) may still campaign or lead in a configuration that is no longer
// the group's, at a term above ours; a core (raft) would follow it. g.mu is held.
func (g *group) fromRemoved(id replica.ReplicaID) bool {
	if id == 0 || !g.initialized() || id >= g.desc.NextReplicaID {
		return false
	}
	_, ok := g.desc.Replica(id)
	return !ok
}

// PromoteUnsafe makes the local replica of gid bid to lead its group now,
// through its core's Campaign: primary-backup's forced promotion (cairn
// admin promote --unsafe: the replica installs the next epoch with itself
// primary and alone in the in-sync set, whatever the in-sync set and the
// lease say; what it may lose shows in its status section, "forced_*");
// raft and paxos start a campaign, which the votes still decide. It
// returns the core's refusal (a primary already, a replica with no state),
// not the outcome: that comes in the status.
func (h *Host) PromoteUnsafe(gid replica.GroupID) error {
	g, err := h.hosted(gid)
	if err != nil {
		return err
	}
	g.mu.Lock()
	if g.closed || g.removed {
		g.mu.Unlock()
		return fmt.Errorf("driver: group %d: replica %d: %w", gid, g.id, replica.ErrStopped)
	}
	err = g.core.Campaign()
	g.mu.Unlock()
	h.schedule(g)
	if err != nil {
		return fmt.Errorf("driver: group %d: forced promotion of replica %d: %w", gid, g.id, err)
	}
	h.log.Warn("forced promotion asked", "group", gid, "replica", g.id)
	return nil
}
