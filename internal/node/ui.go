package node

import (
	"context"
	"math"
	"net/http"
	"time"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/hashring"
	"github.com/cairnkv/cairn/internal/ui"
)

// dashboard is the node as the dashboard's ui.Source.
type dashboard struct {
	n      *Node
	client *http.Client
}

func newDashboard(n *Node) *dashboard {
	return &dashboard{n: n, client: &http.Client{Timeout: ui.PeerTimeout}}
}

// Self implements ui.Source.
func (d *dashboard) Self() ui.NodeStats {
	n := d.n
	st := ui.NodeStats{
		Name: n.cfg.Name, Reachable: true, Incarnation: n.id.Incarnation,
		Time: n.clock.Now().UTC(), DiskFreeBytes: -1, NoSpace: n.noSpace.Load(),
	}
	if free, err := n.cfg.FreeDisk(n.cfg.DataDir); err == nil && free <= math.MaxInt64 {
		st.DiskFreeBytes = int64(free)
	}
	if err := ui.RegistryStats(n.registry, &st); err != nil {
		st.Error = err.Error()
	}
	return st
}

// Overview implements ui.Source.
func (d *dashboard) Overview(ctx context.Context) ui.Overview {
	n := d.n
	ov := ui.Overview{
		Time: n.clock.Now().UTC(), Node: n.cfg.Name, Cluster: n.Cluster(),
		DeadAfterSeconds: n.cfg.DeadAfter.Seconds(), RefreshSeconds: ui.RefreshInterval.Seconds(),
	}
	if st, err := n.admin.Status(ctx, &cairnv1.StatusRequest{}); err != nil {
		ov.StatusError = err.Error()
	} else {
		ov.Status = statusView(st)
	}
	var peers []ui.Peer
	var members []cluster.Member
	if mv := n.routing.Meta(); mv != nil {
		members = mv.Members
	}
	for _, nv := range ov.Cluster.Nodes {
		if nv.State != cluster.NodeRemoved {
			peers = append(peers, ui.Peer{Name: nv.Name, HTTP: nv.HTTP})
		}
	}
	ov.Ring, ov.RingError = ringView(members, n.id.Settings)
	ov.Nodes = ui.Gather(ctx, d.client, d.Self(), peers)
	ov.Alarms = ui.Alarms(ov, n.cfg.MaxClockOffset)
	return ov
}

func statusView(st *cairnv1.StatusResponse) *ui.Status {
	out := &ui.Status{
		MetaLeader: st.GetMetaLeader(), Epoch: st.GetEpoch(), MovesDone: st.GetMovesDone(),
		UnderReplicated: st.GetUnderReplicated(), Groups: st.GetGroups(), GroupsKnown: st.GetGroupsKnown(),
		PlacementRelaxed: st.GetPlacementRelaxed(),
		Nodes:            []ui.NodeStatus{}, InFlight: moveViews(st.GetInFlight()), Queued: moveViews(st.GetQueued()),
	}
	for _, ns := range st.GetNodes() {
		m := ns.GetMember()
		v := ui.NodeStatus{
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

func moveViews(ms []*cairnv1.Move) []ui.Move {
	out := make([]ui.Move, 0, len(ms))
	for _, m := range ms {
		out = append(out, ui.Move{Group: m.GetGroup(), Partition: int(m.GetPartition()), Add: m.GetAdd(), Remove: m.GetRemove()})
	}
	return out
}

// ringView is the ring over the placeable members, as the rebalancer
// computes it, with every partition's hash and target replicas.
func ringView(members []cluster.Member, s cluster.Settings) (ui.Ring, string) {
	t, err := cluster.Targets(members, s)
	if err != nil {
		return ui.Ring{Points: []ui.RingPoint{}, Partitions: []ui.RingPartition{}}, err.Error()
	}
	pl := t.Placement
	r := pl.Ring()
	out := ui.Ring{VNodes: pl.Config().VNodes, Points: make([]ui.RingPoint, 0, r.Points())}
	for h, owner := range r.All() {
		out.Points = append(out.Points, ui.RingPoint{Pos: fraction(h), Node: owner})
	}
	for p := range pl.Partitions() {
		out.Partitions = append(out.Partitions, ui.RingPartition{
			Partition: p, Pos: fraction(hashring.PartitionHash(p)), Replicas: pl.Replicas(p),
		})
	}
	return out, ""
}

// fraction is h's place on the ring as a fraction of the hash space.
func fraction(h uint64) float64 { return float64(h) / (1 << 64) }
