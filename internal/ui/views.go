package ui

import (
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/hashring"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// StatusOf is the Admin service's placement status as the page shows it.
func StatusOf(st *cairnv1.StatusResponse) *Status {
	out := &Status{
		MetaLeader: st.GetMetaLeader(), Epoch: st.GetEpoch(), MovesDone: st.GetMovesDone(),
		UnderReplicated: st.GetUnderReplicated(), Groups: st.GetGroups(), GroupsKnown: st.GetGroupsKnown(),
		PlacementRelaxed: st.GetPlacementRelaxed(),
		Nodes:            []NodeStatus{}, InFlight: moveViews(st.GetInFlight()), Queued: moveViews(st.GetQueued()),
	}
	for _, ns := range st.GetNodes() {
		m := ns.GetMember()
		v := NodeStatus{
			Name: m.GetName(), State: m.GetState(), Zone: m.GetZone(), Capacity: m.GetCapacity(),
			Replicas: ns.GetReplicas(), Leaders: ns.GetLeaders(), TargetReplicas: ns.GetTargetReplicas(), Cap: ns.GetCap(),
		}
		if t := ns.GetLastHeardUnixNanos(); t != 0 {
			v.LastHeard = time.Unix(0, t).UTC()
		}
		out.Nodes = append(out.Nodes, v)
	}
	return out
}

func moveViews(ms []*cairnv1.Move) []Move {
	out := make([]Move, 0, len(ms))
	for _, m := range ms {
		out = append(out, Move{Group: m.GetGroup(), Partition: int(m.GetPartition()), Add: m.GetAdd(), Remove: m.GetRemove()})
	}
	return out
}

// RingOf is the ring over the placeable members, as the rebalancer
// computes it, with every partition's hash and target replicas.
func RingOf(members []cluster.Member, s cluster.Settings) (Ring, string) {
	t, err := cluster.Targets(members, s)
	if err != nil {
		return Ring{Points: []RingPoint{}, Partitions: []RingPartition{}}, err.Error()
	}
	pl := t.Placement
	r := pl.Ring()
	out := Ring{VNodes: pl.Config().VNodes, Points: make([]RingPoint, 0, r.Points())}
	for h, owner := range r.All() {
		out.Points = append(out.Points, RingPoint{Pos: fraction(h), Node: owner})
	}
	for p := range pl.Partitions() {
		out.Partitions = append(out.Partitions, RingPartition{
			Partition: p, Pos: fraction(hashring.PartitionHash(p)), Replicas: pl.Replicas(p),
		})
	}
	return out, ""
}

// fraction is h's place on the ring as a fraction of the hash space.
func fraction(h uint64) float64 { return float64(h) / (1 << 64) }
