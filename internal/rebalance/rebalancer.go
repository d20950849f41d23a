package rebalance

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"google.golang.org/grpc/status"
)

// The rebalancer (DESIGN.md, Placement and Membership and failure) runs on
// every node and acts only on the meta group's leader. Each pass it
//
//  1. pings every member and marks one down when it has not answered for
//     --dead-after (a new leader first waits --dead-after itself), and up
//     again when a down or joining one answers;
//  2. compares every group's descriptor with the placement the ring makes
//     of the member list and starts the next move of groups that differ,
//     one change at a time per group and at most --max-concurrent-moves in
//     the cluster: the group's leader adds a learner, lets it catch up,
//     then promotes it and removes the replica that leaves in one joint
//     change (Admin.ChangeReplicas, the engine's ChangeMembers);
//  3. marks a draining node removed once no descriptor names it.

// inFlightMove is a move the rebalancer is making; cancel ends it (the
// group's leader stops where it is, and the next pass plans again from
// the group's descriptor).
type inFlightMove struct {
	move   cluster.Move
	cancel context.CancelFunc
}

func (r *Rebalancer) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.leaderSince = time.Time{}
	r.mu.lastHeard = map[string]time.Time{}
	r.mu.minVersion = map[replica.GroupID]uint64{}
	if r.mu.inFlight == nil {
		r.mu.inFlight = map[replica.GroupID]inFlightMove{}
	}
	// A new meta leader plans afresh; its moves end when ours do.
	for _, f := range r.mu.inFlight {
		f.cancel()
	}
}

// rebalance runs a pass every interval while this node leads the meta
// group, until ctx ends; then it waits for the moves it started.
func (r *Rebalancer) rebalance(ctx context.Context, interval time.Duration) {
	var moves sync.WaitGroup
	defer moves.Wait()
	r.every(ctx, interval, func(ctx context.Context) {
		if !r.node.LeadsMeta() || r.node.Draining() {
			r.reset()
			return
		}
		if err := r.pass(ctx, &moves); err != nil && ctx.Err() == nil {
			r.log.Debug("rebalancer pass", "err", err)
		}
	})
}

// pass is one look at the cluster.
func (r *Rebalancer) pass(ctx context.Context, moves *sync.WaitGroup) error {
	n := r.node
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	meta, ok, err := n.ReadMeta(rctx)
	cancel()
	if !ok || err != nil {
		return err
	}
	now := r.clk.Now()
	r.mu.Lock()
	if r.mu.leaderSince.IsZero() {
		r.mu.leaderSince = now
		r.log.Info("leading the meta group: rebalancer active")
	}
	r.mu.Unlock()
	r.probe(ctx, meta.Members)
	if err := r.detect(ctx, meta, now); err != nil {
		return err
	}
	// Plan from the records just read (the local replica has applied at
	// least that far), not from a view up to a watch interval old.
	n.RefreshMeta()
	mv, ok := n.View()
	if !ok || mv.Err != nil {
		return mv.Err
	}
	descs, missing := n.Descriptors()
	r.mu.Lock()
	// A move to a node that may no longer take replicas (it went down, or
	// is draining) would wait for it forever: end it.
	for _, f := range r.mu.inFlight {
		if f.move.Add == "" {
			continue
		}
		if m, ok := mv.Member(f.move.Add); !ok || !cluster.Placeable(m.StateOf()) {
			r.log.Info("ending a move to a node that no longer takes replicas", "group", f.move.Group, "add", f.move.Add)
			f.cancel()
		}
	}
	for _, d := range plannable(descs, mv.Target, mv.Members) {
		if len(r.mu.inFlight) >= r.cfg.MaxConcurrentMoves {
			break
		}
		if _, busy := r.mu.inFlight[d.Group]; busy || d.Version < r.mu.minVersion[d.Group] {
			continue
		}
		m, ok := cluster.NextMove(d, mv.Target.Groups[d.Group], mv.Members)
		if !ok {
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, moveTimeout)
		r.mu.inFlight[d.Group] = inFlightMove{move: m, cancel: cancel}
		moves.Add(1)
		go func() {
			defer moves.Done()
			defer cancel()
			r.move(mctx, m, d, mv.Target.Groups[d.Group])
		}()
	}
	r.mu.Unlock()
	if missing == 0 {
		return r.finishDrains(ctx, mv, descs)
	}
	return nil
}

// plannable is the groups the rebalancer may move now. While a member is
// down, only the groups with a replica on a node that is not live, or
// fewer voters than their target, are (DESIGN.md, Membership and failure:
// a down node's replicas are replaced one partition at a time; the other
// partitions stay where they are); the rest of the placement waits until
// the node is back up or removed.
func plannable(descs []replica.Descriptor, t cluster.Target, members []cluster.Member) []replica.Descriptor {
	live := map[string]bool{}
	anyDown := false
	for _, m := range members {
		live[m.Name] = cluster.Live(m.StateOf())
		anyDown = anyDown || m.StateOf() == cluster.NodeDown
	}
	if !anyDown {
		return descs
	}
	var out []replica.Descriptor
	for _, d := range descs {
		short := int(d.Group) < len(t.Groups) && len(d.Voters) < len(t.Groups[d.Group])
		if short || slices.ContainsFunc(d.Replicas, func(m replica.Member) bool { return !live[m.Node] }) {
			out = append(out, d)
		}
	}
	return out
}

// probeTimeout bounds one ping.
const probeTimeout = time.Second

// probe pings every member but this node and the removed ones, in
// parallel, and returns when every ping has.
func (r *Rebalancer) probe(ctx context.Context, members []cluster.Member) {
	self := r.node.Name()
	r.heard(self)
	var wg sync.WaitGroup
	for _, m := range members {
		if m.Name == self || m.StateOf() == cluster.NodeRemoved {
			continue
		}
		p, err := r.node.Peer(m.Name)
		if err != nil {
			continue
		}
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			if name, err := p.Ping(pctx); err == nil && name == m.Name {
				r.heard(m.Name)
			}
		})
	}
	wg.Wait()
}

func (r *Rebalancer) heard(name string) {
	now := r.clk.Now()
	r.mu.Lock()
	r.mu.lastHeard[name] = now
	r.mu.Unlock()
}

// detect marks members down or up by what probe heard.
func (r *Rebalancer) detect(ctx context.Context, meta cluster.Meta, now time.Time) error {
	r.mu.Lock()
	since := r.mu.leaderSince
	heard := make(map[string]time.Time, len(r.mu.lastHeard))
	for k, v := range r.mu.lastHeard {
		heard[k] = v
	}
	r.mu.Unlock()
	deadAfter := r.cfg.DeadAfter
	var changes []cluster.Member
	for _, m := range meta.Members {
		last, ok := heard[m.Name]
		if !ok {
			last = since
		}
		switch state := m.StateOf(); {
		case state == cluster.NodeRemoved:
		case (state == cluster.NodeDown || state == cluster.NodeJoining) && ok && now.Sub(last) < 2*r.cfg.RebalanceInterval+time.Second:
			m.State = cluster.NodeUp
			changes = append(changes, m)
		case state != cluster.NodeDown && now.Sub(since) >= deadAfter && now.Sub(last) >= deadAfter:
			m.State = cluster.NodeDown
			changes = append(changes, m)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	_, err := r.node.ChangeMeta(cctx, func(cur cluster.Meta) ([]cluster.Member, error) {
		if cur.Epoch != meta.Epoch {
			return nil, nil // changed meanwhile: look again next pass
		}
		return changes, nil
	})
	if err == nil {
		for _, c := range changes {
			lvl := slog.LevelWarn
			if c.State == cluster.NodeUp {
				lvl = slog.LevelInfo
			}
			r.log.Log(ctx, lvl, "member state changed by the failure detector", "member", c.Name, "state", c.State, "dead_after", deadAfter)
		}
	}
	return err
}

// finishDrains marks removed the draining members no descriptor names.
func (r *Rebalancer) finishDrains(ctx context.Context, mv View, descs []replica.Descriptor) error {
	counts := cluster.Counts(descs)
	var done []cluster.Member
	for _, m := range mv.Members {
		if m.StateOf() == cluster.NodeDraining && counts[m.Name] == 0 {
			m.State = cluster.NodeRemoved
			done = append(done, m)
		}
	}
	if len(done) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	_, err := r.node.ChangeMeta(cctx, func(cur cluster.Meta) ([]cluster.Member, error) {
		var out []cluster.Member
		for _, m := range done {
			if c, ok := cur.Member(m.Name); ok && c.StateOf() == cluster.NodeDraining {
				out = append(out, m)
			}
		}
		return out, nil
	})
	if err == nil {
		for _, m := range done {
			r.log.Info("drained: no replica left; member removed", "member", m.Name)
		}
	}
	return err
}

// moveTimeout bounds one move: a snapshot of a large partition at
// --snapshot-rate, then the catch-up and the joint change.
const moveTimeout = 10 * time.Minute

// move asks group d's leader to take the group one step, m, toward target.
func (r *Rebalancer) move(ctx context.Context, m cluster.Move, d replica.Descriptor, target []string) {
	defer func() {
		r.mu.Lock()
		delete(r.mu.inFlight, m.Group)
		r.mu.Unlock()
	}()
	voters := movedVoters(d, m, target)
	_, leader, _ := r.node.Route(m.Group)
	if leader == "" {
		return // no known leader: next pass
	}
	p, err := r.node.Peer(leader)
	if err != nil {
		return
	}
	start := r.clk.Now()
	r.log.Info("moving a replica", "group", m.Group, "add", m.Add, "remove", m.Remove, "leader", leader, "voters", voters)
	version, err := p.ChangeReplicas(ctx, m.Group, voters, d.Version)
	if err != nil {
		r.fails.Inc()
		if ctx.Err() == nil {
			r.log.Info("replica move did not finish; planned again", "group", m.Group, "add", m.Add, "remove", m.Remove,
				"err", status.Convert(err).Message())
		}
		return
	}
	r.moves.Inc()
	r.mu.Lock()
	r.mu.minVersion[m.Group] = version
	r.mu.done++
	r.mu.Unlock()
	r.log.Info("replica moved", "group", m.Group, "add", m.Add, "remove", m.Remove, "took", r.clk.Now().Sub(start).Round(time.Millisecond),
		"version", version)
}

// movedVoters is the group's voters after m, in target order first: its
// voters but m.Remove, the learners the target keeps (a move cut short
// leaves its learner behind; the next one promotes it), and m.Add. A
// learner the target does not name is dropped: promoting it would wait
// for it to catch up, which a node that went down never does.
func movedVoters(d replica.Descriptor, m cluster.Move, target []string) []string {
	var nodes []string
	for _, rep := range d.Replicas {
		keep := rep.Role == replica.RoleVoter || slices.Contains(target, rep.Node)
		if rep.Node != m.Remove && keep {
			nodes = append(nodes, rep.Node)
		}
	}
	if m.Add != "" && !slices.Contains(nodes, m.Add) {
		nodes = append(nodes, m.Add)
	}
	rank := func(node string) int {
		if i := slices.Index(target, node); i >= 0 {
			return i
		}
		return len(target)
	}
	slices.SortStableFunc(nodes, func(a, b string) int { return rank(a) - rank(b) })
	return nodes
}
