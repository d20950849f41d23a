package rebalance

import (
	"slices"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// Status is Admin.Status on the meta leader: the members with their
// replicas, leaders and targets, and the moves in flight and queued.
func (r *Rebalancer) Status() *cairnv1.StatusResponse {
	n, s := r.node, r.cfg.Settings
	mv, ok := n.View()
	descs, missing := n.Descriptors()
	out := &cairnv1.StatusResponse{MetaLeader: n.Name(), Groups: uint32(s.Partitions + 1),
		GroupsKnown: uint32(s.Partitions + 1 - missing)}
	if !ok {
		return out
	}
	out.Epoch = mv.Epoch
	counts := cluster.Counts(descs)
	leaders := map[string]int{}
	for _, d := range descs {
		if _, leader, ok := n.Route(d.Group); ok && leader != "" {
			leaders[leader]++
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	live := map[string]bool{}
	for _, m := range mv.Members {
		live[m.Name] = cluster.Live(m.StateOf())
		ns := &cairnv1.NodeStatus{Member: cluster.MemberProto(m), Replicas: uint32(counts[m.Name]), Leaders: uint32(leaders[m.Name])}
		if t, ok := r.mu.lastHeard[m.Name]; ok {
			ns.LastHeardUnixNanos = t.UnixNano()
		}
		if mv.Target.Placement != nil {
			if nl, ok := mv.Target.Placement.Node(m.Name); ok {
				ns.TargetReplicas, ns.Cap = uint32(nl.Replicas), uint32(nl.Cap)
			}
		}
		if len(mv.Target.Groups) > 0 && slices.Contains(mv.Target.Groups[0], m.Name) {
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
			out.InFlight = append(out.InFlight, cluster.MoveProto(f.move))
		} else {
			rest = append(rest, d)
		}
		voters := 0
		for _, id := range d.Voters {
			if m, ok := d.Replica(id); ok && live[m.Node] {
				voters++
			}
		}
		want := s.Replicas
		if int(d.Group) < len(mv.Target.Groups) {
			want = len(mv.Target.Groups[d.Group])
		}
		if voters < want {
			out.UnderReplicated++
		}
	}
	if mv.Target.Groups != nil {
		out.Queued = cluster.MovesProto(cluster.PlanMoves(plannable(rest, mv.Target, mv.Members), mv.Target, mv.Members))
	}
	out.MovesDone = r.mu.done
	return out
}
