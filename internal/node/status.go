package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

// Cluster implements api.Backend: what this node knows (DESIGN.md, GET /v1/cluster).
func (n *Node) Cluster() api.ClusterView {
	s := n.id.Settings
	v := api.ClusterView{
		ClusterID: n.id.ClusterID.String(),
		Node:      n.cfg.Name,
		Time:      time.Now().UTC(),
		Settings: api.SettingsView{Partitions: s.Partitions, Replicas: s.Replicas, Engine: s.Engine,
			Hash: s.Hash, VNodes: s.VNodes, LoadFactor: s.LoadFactor},
		Nodes:      []api.NodeView{},
		Partitions: []api.PartitionView{},
	}
	for _, m := range n.id.Founders {
		nv := api.NodeView{Name: m.Name, State: "up", GRPC: m.Addr, Capacity: 1}
		// What the node published into the meta group, as this node's
		// replica of it has applied.
		if it, ok, err := kv.Get(n.store, 0, cluster.AdvertiseKey(m.Name)); err == nil && ok {
			if a, err := cluster.DecodeAdvertised(it.Value); err == nil {
				nv.GRPC, nv.HTTP, nv.Redis = a.GRPC, a.HTTP, a.Redis
			}
		}
		if m.Name == n.cfg.Name {
			nv.GRPC = n.cfg.AdvertiseGRPC
			if adv := n.advertised.Load(); adv != nil {
				nv.HTTP, nv.Redis = adv.HTTP, adv.Redis
			}
		}
		v.Nodes = append(v.Nodes, nv)
	}
	for p := range s.Partitions {
		pv := api.PartitionView{Partition: p, Group: cluster.GroupOf(p),
			Replicas: []string{}, Voters: []string{}, Learners: []string{}, VotersOutgoing: []string{}}
		if g, ok := n.host.Group(replica.GroupID(cluster.GroupOf(p))); ok {
			st := g.Status()
			d := st.Descriptor
			pv.MembershipVersion, pv.Term, pv.Leader = d.Version, st.Term, st.LeaderNode
			names := func(ids []replica.ReplicaID) []string {
				out := []string{}
				for _, id := range ids {
					if m, ok := d.Replica(id); ok {
						out = append(out, m.Node)
					}
				}
				return out
			}
			for _, m := range d.Replicas {
				pv.Replicas = append(pv.Replicas, m.Node)
			}
			pv.Voters, pv.Learners, pv.VotersOutgoing = names(d.Voters), names(d.Learners), names(d.VotersOutgoing)
			pv.Local = &api.LocalView{Role: st.Role, Applied: st.Applied, Commit: st.Commit}
		}
		v.Partitions = append(v.Partitions, pv)
	}
	return v
}

// Ready implements api.Backend (DESIGN.md, /readyz): storage open, every
// local replica knows its leader and has applied to within 100 entries of
// its commit, the clock within bounds.
func (n *Node) Ready() []api.Check {
	checks := []api.Check{{Name: "storage", OK: true}}
	if _, err := n.store.Get([]byte("/n/identity")); err != nil {
		checks[0] = api.Check{Name: "storage", Reason: err.Error()}
	}
	caught := api.Check{Name: "caught-up", OK: true}
	ids := n.host.Groups()
	slices.Sort(ids)
	for _, gid := range ids {
		g, ok := n.host.Group(gid)
		if !ok {
			continue
		}
		st := g.Status()
		if st.Leader == 0 {
			caught = api.Check{Name: "caught-up", Reason: fmt.Sprintf("group %d has no known leader", gid)}
			break
		}
		if st.Commit > st.Applied+100 {
			caught = api.Check{Name: "caught-up", Reason: fmt.Sprintf("group %d is %d entries behind", gid, st.Commit-st.Applied)}
			break
		}
	}
	checks = append(checks, caught)
	clock := api.Check{Name: "clock", OK: n.tr.ClockHealthy()}
	if !clock.OK {
		clock.Reason = fmt.Sprintf("clock offset beyond --max-clock-offset %v from a majority of nodes", n.cfg.MaxClockOffset)
	}
	// The HTTP door adds the "shutdown" check from Draining.
	return append(checks, clock)
}
