package node

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/routing"
	"github.com/cairnkv/cairn/internal/storage"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
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
//     change (Admin.ChangeReplicas, raftengine's ChangeMembers);
//  3. marks a draining node removed once no descriptor names it.
type rebalancer struct {
	n     *Node
	moves prometheus.Counter
	fails prometheus.Counter
	mu    struct {
		sync.Mutex
		leaderSince time.Time // zero while this node does not lead the meta group
		lastHeard   map[string]time.Time
		inFlight    map[replica.GroupID]inFlightMove
		// minVersion holds the descriptor version a finished move left a
		// group at: the group is not planned again until the routes show it.
		minVersion map[replica.GroupID]uint64
		done       uint64
	}
}

func newRebalancer(n *Node) *rebalancer {
	r := &rebalancer{n: n,
		moves: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_rebalancer_moves_total",
			Help: "Replica moves the rebalancer finished on this node while it led the meta group."}),
		fails: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_rebalancer_move_failures_total",
			Help: "Replica moves that failed (they are planned again)."}),
	}
	n.registry.MustRegister(r.moves, r.fails)
	r.reset()
	return r
}

// inFlightMove is a move the rebalancer is making; cancel ends it (the
// group's leader stops where it is, and the next pass plans again from
// the group's descriptor).
type inFlightMove struct {
	move   cluster.Move
	cancel context.CancelFunc
}

func (r *rebalancer) reset() {
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

func (r *rebalancer) run(interval time.Duration) {
	defer r.n.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var moves sync.WaitGroup
	defer moves.Wait()
	for {
		select {
		case <-r.n.stop:
			return
		case <-t.C:
		}
		if !r.n.leadsMeta() || r.n.draining.Load() {
			r.reset()
			continue
		}
		if err := r.pass(ctx, &moves); err != nil && ctx.Err() == nil {
			r.n.log.Debug("rebalancer pass", "err", err)
		}
	}
}

// pass is one look at the cluster.
func (r *rebalancer) pass(ctx context.Context, moves *sync.WaitGroup) error {
	n := r.n
	g, ok := n.host.Group(0)
	if !ok {
		return nil
	}
	var meta cluster.Meta
	rctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	err := g.Read(rctx, replica.Linearizable, func(v storage.View) error {
		var err error
		meta, err = cluster.ReadMeta(v)
		return err
	})
	cancel()
	if err != nil {
		return err
	}
	now := time.Now()
	r.mu.Lock()
	if r.mu.leaderSince.IsZero() {
		r.mu.leaderSince = now
		n.log.Info("leading the meta group: rebalancer active")
	}
	r.mu.Unlock()
	r.probe(ctx, meta.Members)
	if err := r.detect(ctx, meta, now); err != nil {
		return err
	}
	// Plan from the records just read (the local replica has applied at
	// least that far), not from a view up to a watch interval old.
	n.refreshMeta()
	mv := n.metaView()
	if mv == nil || mv.Err != nil {
		if mv != nil {
			return mv.Err
		}
		return nil
	}
	descs, missing := n.descriptorsKnown()
	r.mu.Lock()
	// A move to a node that may no longer take replicas (it went down, or
	// is draining) would wait for it forever: end it.
	for _, f := range r.mu.inFlight {
		if f.move.Add == "" {
			continue
		}
		if m, ok := mv.Member(f.move.Add); !ok || !cluster.Placeable(m.StateOf()) {
			n.log.Info("ending a move to a node that no longer takes replicas", "group", f.move.Group, "add", f.move.Add)
			f.cancel()
		}
	}
	for _, d := range plannable(descs, mv.Target, mv.Members) {
		if len(r.mu.inFlight) >= n.cfg.MaxConcurrentMoves {
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

// probe pings every member that is not removed, in parallel.
func (r *rebalancer) probe(ctx context.Context, members []cluster.Member) {
	n := r.n
	r.heard(n.cfg.Name)
	n.eachPeer(ctx, members, func(ctx context.Context, m cluster.Member, conn *grpc.ClientConn) {
		if resp, err := cairnv1.NewAdminClient(conn).Ping(ctx, &cairnv1.PingRequest{}); err == nil && resp.GetNode() == m.Name {
			r.heard(m.Name)
		}
	})
}

func (r *rebalancer) heard(name string) {
	r.mu.Lock()
	r.mu.lastHeard[name] = time.Now()
	r.mu.Unlock()
}

// detect marks members down or up by what probe heard.
func (r *rebalancer) detect(ctx context.Context, meta cluster.Meta, now time.Time) error {
	n := r.n
	r.mu.Lock()
	since := r.mu.leaderSince
	heard := make(map[string]time.Time, len(r.mu.lastHeard))
	for k, v := range r.mu.lastHeard {
		heard[k] = v
	}
	r.mu.Unlock()
	var changes []cluster.Member
	for _, m := range meta.Members {
		last, ok := heard[m.Name]
		if !ok {
			last = since
		}
		switch state := m.StateOf(); {
		case state == cluster.NodeRemoved:
		case (state == cluster.NodeDown || state == cluster.NodeJoining) && ok && now.Sub(last) < 2*n.cfg.RebalanceInterval+time.Second:
			m.State = cluster.NodeUp
			changes = append(changes, m)
		case state != cluster.NodeDown && now.Sub(since) >= n.cfg.DeadAfter && now.Sub(last) >= n.cfg.DeadAfter:
			m.State = cluster.NodeDown
			changes = append(changes, m)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	_, err := n.changeMeta(cctx, func(cur cluster.Meta) ([]cluster.Member, error) {
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
			n.log.Log(ctx, lvl, "member state changed by the failure detector", "member", c.Name, "state", c.State, "dead_after", n.cfg.DeadAfter)
		}
	}
	return err
}

// finishDrains marks removed the draining members no descriptor names.
func (r *rebalancer) finishDrains(ctx context.Context, mv *routing.MetaView, descs []replica.Descriptor) error {
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
	cctx, cancel := context.WithTimeout(ctx, r.n.cfg.RequestTimeout)
	defer cancel()
	_, err := r.n.changeMeta(cctx, func(cur cluster.Meta) ([]cluster.Member, error) {
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
			r.n.log.Info("drained: no replica left; member removed", "member", m.Name)
		}
	}
	return err
}

// moveTimeout bounds one move: a snapshot of a large partition at
// --snapshot-rate, then the catch-up and the joint change.
const moveTimeout = 10 * time.Minute

// move asks group d's leader to take the group one step, m, toward target.
func (r *rebalancer) move(ctx context.Context, m cluster.Move, d replica.Descriptor, target []string) {
	n := r.n
	defer func() {
		r.mu.Lock()
		delete(r.mu.inFlight, m.Group)
		r.mu.Unlock()
	}()
	voters := movedVoters(d, m, target)
	leader := ""
	if rt, ok := n.route(m.Group); ok {
		leader = rt.Leader
	}
	if leader == "" {
		return // no known leader: next pass
	}
	conn, err := n.conn(leader)
	if err != nil {
		return
	}
	start := time.Now()
	n.log.Info("moving a replica", "group", m.Group, "add", m.Add, "remove", m.Remove, "leader", leader, "voters", voters)
	resp, err := cairnv1.NewAdminClient(conn).ChangeReplicas(metadata.AppendToOutgoingContext(ctx, forwardClusterHeader, n.id.ClusterID.String()), &cairnv1.ChangeReplicasRequest{Group: uint64(m.Group), Voters: voters,
		ExpectedVersion: d.Version})
	if err != nil {
		r.fails.Inc()
		if ctx.Err() == nil {
			n.log.Info("replica move did not finish; planned again", "group", m.Group, "add", m.Add, "remove", m.Remove,
				"err", status.Convert(err).Message())
		}
		return
	}
	r.moves.Inc()
	r.mu.Lock()
	r.mu.minVersion[m.Group] = resp.GetMembershipVersion()
	r.mu.done++
	r.mu.Unlock()
	n.log.Info("replica moved", "group", m.Group, "add", m.Add, "remove", m.Remove, "took", time.Since(start).Round(time.Millisecond),
		"version", resp.GetMembershipVersion())
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

// status is Admin.Status on the meta leader.
func (r *rebalancer) status() *cairnv1.StatusResponse {
	n := r.n
	mv := n.metaView()
	descs, missing := n.descriptorsKnown()
	out := &cairnv1.StatusResponse{MetaLeader: n.cfg.Name, Groups: uint32(n.id.Settings.Partitions + 1),
		GroupsKnown: uint32(n.id.Settings.Partitions + 1 - missing)}
	if mv == nil {
		return out
	}
	out.Epoch = mv.Epoch
	counts := cluster.Counts(descs)
	leaders := map[string]int{}
	for _, d := range descs {
		if rt, ok := n.route(d.Group); ok && rt.Leader != "" {
			leaders[rt.Leader]++
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	live := map[string]bool{}
	for _, m := range mv.Members {
		live[m.Name] = cluster.Live(m.StateOf())
		ns := &cairnv1.NodeStatus{Member: memberProto(m), Replicas: uint32(counts[m.Name]), Leaders: uint32(leaders[m.Name])}
		if t, ok := r.mu.lastHeard[m.Name]; ok {
			ns.LastHeardUnixNanos = t.UnixNano()
		}
		if mv.Target.Placement != nil {
			if nl, ok := mv.Target.Placement.Node(m.Name); ok {
				ns.TargetReplicas, ns.Cap = uint32(nl.Replicas), uint32(nl.Cap)
			}
		}
		if mv.Target.Groups != nil && len(mv.Target.Groups) > 0 && slices.Contains(mv.Target.Groups[0], m.Name) {
			// The meta group's replica counts in replicas and target
			// alike, so in the cap too.
			ns.TargetReplicas++
			ns.Cap++
		}
		out.Nodes = append(out.Nodes, ns)
	}
	if mv.Target.Placement != nil {
		out.PlacementRelaxed = mv.Target.Placement.Relaxation().String()
	}
	var rest []replica.Descriptor
	for _, d := range descs {
		if f, ok := r.mu.inFlight[d.Group]; ok {
			out.InFlight = append(out.InFlight, moveProto(f.move))
		} else {
			rest = append(rest, d)
		}
		voters := 0
		for _, id := range d.Voters {
			if m, ok := d.Replica(id); ok && live[m.Node] {
				voters++
			}
		}
		want := n.id.Settings.Replicas
		if int(d.Group) < len(mv.Target.Groups) {
			want = len(mv.Target.Groups[d.Group])
		}
		if voters < want {
			out.UnderReplicated++
		}
	}
	if mv.Target.Groups != nil {
		out.Queued = movesProto(cluster.PlanMoves(plannable(rest, mv.Target, mv.Members), mv.Target, mv.Members))
	}
	out.MovesDone = r.mu.done
	return out
}
