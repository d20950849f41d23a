package driver

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/cairnkv/cairn/internal/clock"
	"slices"
	"sync/atomic"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// proposalIDs are unique per process: a random base and a counter, so a
// restarted node never matches an old entry to a new waiter.
var proposalIDs atomic.Uint64

func init() {
	var b [8]byte
	_, _ = rand.Read(b[:])
	proposalIDs.Store(binary.BigEndian.Uint64(b[:]))
}

func nextProposalID() uint64 { return proposalIDs.Add(1) }

type proposeResult struct {
	result []byte
	index  uint64
	err    error
}

// Propose implements replica.Group.
func (g *group) Propose(ctx context.Context, cmd []byte) ([]byte, uint64, error) {
	p := &proposal{id: nextProposalID()}
	p.data = Frame(p.id, cmd)
	return g.propose(ctx, p)
}

// ProposeAsync is Propose for a caller that cannot block: the simulation
// (package sim), which runs every node of a cluster in one goroutine. done
// is called exactly once with what Propose would return, unless cancel
// wins first: cancel reports true when the proposal was never handed to
// the core (certainly not applied; done is then never called), and false when
// done was or will still be called.
//
// NB: done runs on the goroutine of the round that settles the proposal,
// with the group locked: it must record the outcome and return, never call
// back into the group.
func (g *group) ProposeAsync(cmd []byte, done func(result []byte, index uint64, err error)) (cancel func() bool) {
	p := &proposal{id: nextProposalID()}
	p.data = Frame(p.id, cmd)
	return g.proposeAsync(p, done)
}

// propose hands p to the group's next round and waits for its outcome
// until ctx ends: certainly not applied if the core never saw it, else
// indeterminate.
func (g *group) propose(ctx context.Context, p *proposal) ([]byte, uint64, error) {
	ch := make(chan proposeResult, 1)
	cancel := g.proposeAsync(p, func(result []byte, index uint64, err error) { ch <- proposeResult{result, index, err} })
	select {
	case r := <-ch:
		return r.result, r.index, r.err
	case <-ctx.Done():
		if cancel() {
			// Never handed to the core: certainly not applied.
			return nil, 0, fmt.Errorf("%w: %w", replica.ErrNotApplied, ctx.Err())
		}
		select {
		case r := <-ch:
			return r.result, r.index, r.err
		default:
		}
		return nil, 0, fmt.Errorf("%w: %w", replica.ErrIndeterminate, ctx.Err())
	}
}

// proposeAsync queues p for the group's next round; see ProposeAsync.
func (g *group) proposeAsync(p *proposal, done func(result []byte, index uint64, err error)) (cancel func() bool) {
	pending := g.h.metrics.proposalsPending
	pending.Inc()
	p.done = func(result []byte, index uint64, err error) {
		pending.Dec()
		done(result, index, err)
	}
	if !g.enqueue(func() { g.in.props = append(g.in.props, p) }) {
		p.finish(nil, 0, fmt.Errorf("%w: %w", replica.ErrNotApplied, replica.ErrStopped))
		return func() bool { return false }
	}
	return func() bool {
		if p.state.CompareAndSwap(proposalQueued, proposalDone) {
			pending.Dec()
			return true
		}
		return false
	}
}

// Read implements replica.Group.
func (g *group) Read(ctx context.Context, mode replica.ReadMode, fn func(storage.View) error) error {
	if !g.initialized() {
		return &replica.ErrNotLeader{Group: g.gid}
	}
	if mode != replica.Stale {
		ch := make(chan error, 1)
		g.ReadAsync(mode, func(err error) { ch <- err })
		select {
		case err := <-ch:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("driver: group %d: read: %w", g.gid, ctx.Err())
		}
	}
	snap := g.h.store.NewSnapshot()
	defer snap.Close()
	if g.gone.Load() {
		return replica.ErrRemoved // the view may lack the group's data
	}
	if d := g.cc.diverged.Load(); d != 0 {
		return fmt.Errorf("driver: group %d: replica %d (consistency check at %d): %w", g.gid, g.id, d, replica.ErrDiverged)
	}
	return fn(snap)
}

// ReadAsync is the wait of a linearizable or follower Read, for a caller
// that cannot block: the simulation (package sim). done is called once:
// with nil when a read in mode may run (the local replica has applied up
// to the read index), from the round that applied it, with the group
// locked, so done may read the host's store but must not call back into
// the group; or with the error Read would return.
func (g *group) ReadAsync(mode replica.ReadMode, done func(error)) {
	if !g.initialized() {
		done(&replica.ErrNotLeader{Group: g.gid})
		return
	}
	if err := g.eng.Serves(mode); err != nil {
		done(err)
		return
	}
	if g.cc.diverged.Load() != 0 {
		done(replica.ErrDiverged)
		return
	}
	r := &readReq{mode: mode, done: done}
	if !g.enqueue(func() { g.in.reads = append(g.in.reads, r) }) {
		done(replica.ErrStopped)
	}
}

// TransferLeader implements replica.Group: it asks the leader to hand over
// to `to` and waits until `to` leads or ctx ends.
func (g *group) TransferLeader(ctx context.Context, to replica.ReplicaID) error {
	for {
		st := g.Status()
		if st.Leader == to {
			return nil
		}
		if st.Leader != g.id {
			return &replica.ErrNotLeader{Group: g.gid, Hint: st.Leader, HintNode: st.LeaderNode}
		}
		if m, ok := st.Descriptor.Replica(to); !ok || m.Role != replica.RoleVoter {
			return fmt.Errorf("driver: group %d: cannot transfer leadership to %d: not a voter", g.gid, to)
		}
		g.mu.Lock()
		differs := g.cc.differing(to)
		g.mu.Unlock()
		if differs != 0 {
			return fmt.Errorf("driver: group %d: cannot transfer leadership to %d (consistency check at %d): %w", g.gid, to, differs, replica.ErrDiverged)
		}
		if !g.enqueue(func() { g.in.transfers = append(g.in.transfers, to) }) {
			return replica.ErrStopped
		}
		// A core may abort a transfer after an election timeout (raft does); ask again then.
		if done, err := g.awaitTransfer(ctx, to); done || err != nil {
			return err
		}
	}
}

// awaitTransfer polls, once a tick by the host's clock, for `to` to lead,
// for an election timeout: done when it leads, an error when ctx ends or
// another replica leads, neither when the timeout passed.
func (g *group) awaitTransfer(ctx context.Context, to replica.ReplicaID) (done bool, err error) {
	c := g.h.cfg.Clock
	deadline := c.Monotonic() + g.h.sleepTicks(g.h.cfg.ElectionTicks)
	t := c.NewTicker(g.h.cfg.TickInterval)
	defer t.Stop()
	for c.Monotonic() < deadline {
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("driver: group %d: transfer leadership to %d: %w", g.gid, to, ctx.Err())
		case <-t.C():
		}
		if s := g.Status(); s.Leader == to {
			return true, nil
		} else if s.Leader != g.id && s.Leader != 0 {
			return false, &replica.ErrNotLeader{Group: g.gid, Hint: s.Leader, HintNode: s.LeaderNode}
		}
	}
	return false, nil
}

// Status implements replica.Group.
func (g *group) Status() replica.Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := replica.Status{
		Group:      g.gid,
		Replica:    g.id,
		Applied:    g.applied.Load(),
		Descriptor: g.desc.Clone(),
		Diverged:   g.cc.diverged.Load(),
		NoMajority: g.cc.noMajority.Load(),
	}
	if g.core == nil || g.closed {
		st.State = replica.StateStopped
		return st
	}
	bs := g.core.Basic()
	st.Engine = g.core.EngineStatus()
	st.Term = bs.Term
	st.Commit = bs.Commit
	st.Leader = bs.Leader
	st.LeaderNode = g.nodeOf(bs.Leader)
	st.State = bs.State
	if bs.State != replica.StateLeader {
		if m, ok := g.desc.Replica(g.id); ok && m.Role == replica.RoleLearner {
			st.State = replica.StateLearner
		}
	}
	if bs.State == replica.StateLeader {
		last := g.core.Log().LastIndex()
		prog := g.core.Progress()
		st.Progress = make(map[replica.ReplicaID]replica.PeerProgress, len(prog))
		for id, pr := range prog {
			lagSeconds := 0.0
			if !caughtUp(pr, last) {
				if since, ok := g.caughtUpAt[id]; ok {
					lagSeconds = float64(g.ticks-since) * g.h.cfg.TickInterval.Seconds()
				} else {
					// Never seen caught up under this leader: as long as
					// it has led.
					lagSeconds = float64(g.ticks-g.leaderSince) * g.h.cfg.TickInterval.Seconds()
				}
			}
			st.Progress[id] = replica.PeerProgress{
				Match:      pr.Match,
				Next:       pr.Next,
				CaughtUp:   pr.Replicating,
				LagEntries: last - min(last, pr.Match),
				LagSeconds: lagSeconds,
				Active:     pr.Active,
			}
		}
	}
	return st
}

// IsLeader implements replica.Group.
func (g *group) IsLeader() bool {
	return !g.gone.Load() && g.leader.Load() == uint64(g.id) && g.cc.diverged.Load() == 0
}

// caughtUp says a follower has the leader's whole log and is being sent
// entries as they come (replicating, not probing or waiting for a
// snapshot): LagSeconds counts from the last time it was.
func caughtUp(pr Progress, last uint64) bool {
	return pr.Replicating && pr.Match >= last
}

// noteCaughtUp records, on the leader, the tick at which each follower was
// last caught up (PeerProgress.LagSeconds).
func (g *group) noteCaughtUpLocked() {
	if g.caughtUpAt == nil {
		g.caughtUpAt = make(map[replica.ReplicaID]int)
	}
	last := g.core.Log().LastIndex()
	for id, pr := range g.core.Progress() {
		if caughtUp(pr, last) {
			g.caughtUpAt[id] = g.ticks
		}
	}
}

// ChangeMembers implements replica.Group. It runs on the leader and moves
// the group to target one step at a time: new replicas join as learners
// and catch up (by snapshot and log), then one joint-consensus change
// promotes and removes together (joint, in an engine with joint consensus,
// which leaves it by itself). A leader
// that is itself being removed transfers leadership first and returns
// *ErrNotLeader naming the new leader, where the caller repeats the call.
func (g *group) ChangeMembers(ctx context.Context, target replica.Membership) error {
	if err := validateTarget(target); err != nil {
		return fmt.Errorf("driver: group %d: %w", g.gid, err)
	}
	for {
		st := g.Status()
		if st.State != replica.StateLeader {
			return &replica.ErrNotLeader{Group: g.gid, Hint: st.Leader, HintNode: st.LeaderNode}
		}
		desc := st.Descriptor
		if desc.Joint() {
			// A joint config that the engine leaves by itself (auto-leave): wait.
			if err := g.waitFor(ctx, func(s replica.Status) bool { return !s.Descriptor.Joint() }); err != nil {
				return err
			}
			continue
		}
		step, done, err := nextStep(desc, target, st, g.eng.Joint())
		if err != nil {
			return fmt.Errorf("driver: group %d: %w", g.gid, err)
		}
		if done {
			return nil
		}
		switch {
		case step.waitCatchUp != 0:
			id := step.waitCatchUp
			if err := g.waitFor(ctx, func(s replica.Status) bool {
				pr, ok := s.Progress[id]
				return ok && pr.CaughtUp && pr.LagEntries <= 64
			}); err != nil {
				return fmt.Errorf("driver: group %d: learner %d catching up: %w", g.gid, id, err)
			}
			continue
		case step.transferTo != 0:
			if err := g.TransferLeader(ctx, step.transferTo); err != nil {
				return err
			}
			st := g.Status()
			return &replica.ErrNotLeader{Group: g.gid, Hint: st.Leader, HintNode: st.LeaderNode}
		}
		if _, _, err := g.propose(ctx, confProposal(desc, step)); errors.Is(err, replica.ErrMembershipChange) {
			// Refused or lost (another change was pending, a leader change):
			// certainly not applied. Look again from the current state.
			if serr := clock.SleepOn(ctx, g.h.cfg.Clock, g.h.cfg.TickInterval); serr != nil {
				return fmt.Errorf("driver: group %d: %w: %w", g.gid, err, serr)
			}
		} else if err != nil {
			return err
		}
	}
}

// confProposal is the proposal of step's conf change, carrying the
// descriptor it leads to.
func confProposal(desc replica.Descriptor, step changeStep) *proposal {
	next := step.desc
	next.Version = desc.Version + 1
	p := &proposal{id: nextProposalID(), cc: &Change{Ops: step.ops}}
	p.cc.Context = FrameConf(p.id, next.Encode(nil))
	return p
}

// ChangeMembersStep is one step of ChangeMembers that never waits, for a
// caller that drives the host by hand: the simulation (package sim). It
// reports done once the group's membership is target. Otherwise it has
// either proposed the next conf change (proposed; result gets its outcome
// as ChangeMembers' proposal would, from a round with the group locked, so
// it must only record it), or asked the core to hand leadership to a replica
// that stays (and returns *ErrNotLeader naming nobody yet), or done nothing
// because a joint config or a learner catching up must be waited for. The
// caller calls it again later, on the leader, and after result when it
// proposed.
func (g *group) ChangeMembersStep(target replica.Membership, result func(error)) (done, proposed bool, err error) {
	if err := validateTarget(target); err != nil {
		return false, false, fmt.Errorf("driver: group %d: %w", g.gid, err)
	}
	st := g.Status()
	if st.State != replica.StateLeader {
		return false, false, &replica.ErrNotLeader{Group: g.gid, Hint: st.Leader, HintNode: st.LeaderNode}
	}
	desc := st.Descriptor
	if desc.Joint() {
		return false, false, nil // the engine leaves it by itself (auto-leave)
	}
	step, done, err := nextStep(desc, target, st, g.eng.Joint())
	if err != nil {
		return false, false, fmt.Errorf("driver: group %d: %w", g.gid, err)
	}
	switch {
	case done, step.waitCatchUp != 0:
		return done, false, nil
	case step.transferTo != 0:
		to := step.transferTo
		if !g.enqueue(func() { g.in.transfers = append(g.in.transfers, to) }) {
			return false, false, replica.ErrStopped
		}
		return false, false, &replica.ErrNotLeader{Group: g.gid}
	}
	g.proposeAsync(confProposal(desc, step), func(_ []byte, _ uint64, err error) { result(err) })
	return false, true, nil
}

func validateTarget(t replica.Membership) error {
	voters := 0
	seen := map[string]bool{}
	for _, m := range t.Members {
		if m.Node == "" {
			return fmt.Errorf("target member without a node")
		}
		if seen[m.Node] {
			return fmt.Errorf("target names node %s twice", m.Node)
		}
		seen[m.Node] = true
		if m.Role == replica.RoleVoter {
			voters++
		}
	}
	if voters == 0 {
		return fmt.Errorf("target has no voters")
	}
	return nil
}

type changeStep struct {
	ops         []ChangeOp
	desc        replica.Descriptor
	waitCatchUp replica.ReplicaID
	transferTo  replica.ReplicaID
}

// PlanChange says which change ChangeMembers would propose next to move
// a group from desc (its leader's status st) toward target: nil ops when
// it would propose none (done, or waiting for a learner to catch up or
// for a leader to hand over). For tools and tests that show a plan.
func PlanChange(desc replica.Descriptor, target replica.Membership, st replica.Status, joint bool) (ops []ChangeOp, done bool, err error) {
	step, done, err := nextStep(desc, target, st, joint)
	return step.ops, done, err
}

// nextStep decides the next single change that moves desc toward target.
func nextStep(desc replica.Descriptor, target replica.Membership, st replica.Status, joint bool) (changeStep, bool, error) {
	want := map[string]replica.Role{}
	for _, m := range target.Members {
		want[m.Node] = m.Role
	}
	// 1. Nodes in the target without a replica: add one learner.
	for _, m := range target.Members {
		if _, ok := desc.ReplicaOn(m.Node); ok {
			continue
		}
		next := desc.Clone()
		id := next.NextReplicaID
		next.NextReplicaID++
		next.Replicas = append(next.Replicas, replica.Member{ID: id, Node: m.Node, Role: replica.RoleLearner})
		return changeStep{ops: []ChangeOp{{Kind: AddLearner, Replica: id}}, desc: next}, false, nil
	}
	// 2. Learners that must become voters: wait until they caught up.
	var changes []ChangeOp
	leaderLeaving := false
	for _, m := range desc.Replicas {
		role, keep := want[m.Node]
		switch {
		case keep && role == replica.RoleVoter && m.Role == replica.RoleLearner:
			if pr, ok := st.Progress[m.ID]; !ok || !pr.CaughtUp || pr.LagEntries > 64 {
				return changeStep{waitCatchUp: m.ID}, false, nil
			}
			changes = append(changes, ChangeOp{Kind: AddVoter, Replica: m.ID})
		case keep && role == replica.RoleLearner && m.Role == replica.RoleVoter:
			changes = append(changes, ChangeOp{Kind: AddLearner, Replica: m.ID})
		case !keep:
			if m.ID == st.Replica {
				leaderLeaving = true
				continue
			}
			changes = append(changes, ChangeOp{Kind: Remove, Replica: m.ID})
		}
	}
	if leaderLeaving {
		// Hand leadership to a voter that stays before removing ourselves;
		// with none yet, make the promotions (and other removals) first.
		for _, o := range desc.Replicas {
			if r, ok := want[o.Node]; ok && r == replica.RoleVoter && o.Role == replica.RoleVoter && o.ID != st.Replica {
				return changeStep{transferTo: o.ID}, false, nil
			}
		}
		if len(changes) == 0 {
			return changeStep{}, false, fmt.Errorf("cannot remove the leader: no replica of the target can become a voter")
		}
	}
	if len(changes) == 0 {
		return changeStep{}, true, nil
	}
	if !joint && len(changes) > 1 {
		// One replica's role per step: promotions first (the group gains
		// a voter before it loses one), then demotions, then removals.
		slices.SortStableFunc(changes, func(a, b ChangeOp) int { return cmp.Compare(stepOrder(a.Kind), stepOrder(b.Kind)) })
		changes = changes[:1]
	}
	return changeStep{ops: changes, desc: desc.Clone()}, false, nil
}

// stepOrder is the order of single-replica steps (nextStep without joint
// changes).
func stepOrder(k ChangeKind) int {
	switch k {
	case AddVoter:
		return 0
	case AddLearner:
		return 1
	}
	return 2
}

// waitFor polls Status every tick until cond holds or ctx ends.
func (g *group) waitFor(ctx context.Context, cond func(replica.Status) bool) error {
	t := g.h.cfg.Clock.NewTicker(g.h.cfg.TickInterval)
	defer t.Stop()
	for {
		st := g.Status()
		if st.State == replica.StateStopped {
			return replica.ErrStopped
		}
		if cond(st) {
			return nil
		}
		if st.State != replica.StateLeader {
			return &replica.ErrNotLeader{Group: g.gid, Hint: st.Leader, HintNode: st.LeaderNode}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
	}
}

var _ replica.Group = (*group)(nil)
