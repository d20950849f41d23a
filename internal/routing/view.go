package routing

import (
	"cmp"
	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"slices"
)

// ClusterView is what this node knows, as the clients' view shows it
// (DESIGN.md, GET /v1/cluster): the member list with its epoch and every
// group's routing entry, first-hand for the groups held here and learned
// from peers for the others. self are this node's own addresses, which
// win over what it published into the meta group (its HTTP and RESP ones
// once its doors serve: until then, empty).
func (t *Table) ClusterView(self cluster.Advertised) api.ClusterView {
	s := t.cfg.Settings
	v := api.ClusterView{
		ClusterID: t.cfg.ClusterID.String(),
		Node:      t.cfg.Node,
		Time:      t.cfg.Clock.Now().UTC(),
		Settings: api.SettingsView{Partitions: s.Partitions, Replicas: s.Replicas, Engine: s.Engine,
			Hash: s.Hash, VNodes: s.VNodes, LoadFactor: s.LoadFactor,
			PBMode: s.PBMode, PBMinInSync: s.PBMinInSync, PBMaxLagS: s.PBMaxLag.Seconds(), PBLeaseS: s.PBLease.Seconds()},
		Nodes:      []api.NodeView{},
		Partitions: []api.PartitionView{},
	}
	if mv := t.Meta(); mv != nil {
		v.Epoch = mv.Epoch
		for _, m := range mv.Members {
			nv := api.NodeView{Name: m.Name, State: m.StateOf(), GRPC: m.Addr, Capacity: m.Weight(), Zone: m.Zone}
			// What the node published into the meta group.
			if a, ok := mv.Adv[m.Name]; ok {
				nv.HTTP, nv.Redis = a.HTTP, a.Redis
				if a.GRPC != "" {
					nv.GRPC = a.GRPC
				}
			}
			if m.Name == t.cfg.Node {
				nv.GRPC = self.GRPC
				if self.HTTP != "" || self.Redis != "" {
					nv.HTTP, nv.Redis = self.HTTP, self.Redis
				}
			}
			v.Nodes = append(v.Nodes, nv)
		}
	}
	meta := t.PartitionView(0)
	meta.Partition = -1
	v.Meta = &meta
	for p := range s.Partitions {
		v.Partitions = append(v.Partitions, t.PartitionView(replica.GroupOf(p)))
	}
	return v
}

// PartitionView is group gid's routing entry as the front doors show it.
func (t *Table) PartitionView(gid replica.GroupID) api.PartitionView {
	pv := api.PartitionView{Partition: gid.Partition(), Group: uint64(gid),
		Replicas: []string{}, Voters: []string{}, Learners: []string{}, VotersOutgoing: []string{}, ReplicaIDs: []uint64{}}
	r, st, ok := t.RouteAndStatus(gid)
	if st != nil {
		pv.Local = &api.LocalView{Role: st.State.String(), Applied: st.Applied, Commit: st.Commit, Engine: engineView(st.Engine),
			Progress: progressView(*st)}
	}
	if !ok {
		return pv
	}
	d := r.Desc
	pv.MembershipVersion, pv.Term, pv.Leader, pv.NextReplicaID = d.Version, r.Term, r.Leader, uint64(d.NextReplicaID)
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
		pv.ReplicaIDs = append(pv.ReplicaIDs, uint64(m.ID))
	}
	pv.Voters, pv.Learners, pv.VotersOutgoing = names(d.Voters), names(d.Learners), names(d.Outgoing())
	return pv
}

// engineView is a replica's engine section as /v1/cluster shows it.
func engineView(e replica.EngineStatus) map[string]any {
	if e.Name == "" {
		return nil
	}
	m := make(map[string]any, len(e.Fields)+1)
	for k, v := range e.Fields {
		m[k] = v
	}
	m["name"] = e.Name
	return m
}

// progressView is a leader's view of the other replicas, in replica ID
// order; nil elsewhere.
func progressView(st replica.Status) []api.PeerView {
	var out []api.PeerView
	for id, pr := range st.Progress {
		if id == st.Replica {
			continue
		}
		node := ""
		if m, ok := st.Descriptor.Replica(id); ok {
			node = m.Node
		}
		out = append(out, api.PeerView{Replica: uint64(id), Node: node, Match: pr.Match, LagEntries: pr.LagEntries,
			LagSeconds: pr.LagSeconds, CaughtUp: pr.CaughtUp, Active: pr.Active})
	}
	slices.SortFunc(out, func(a, b api.PeerView) int { return cmp.Compare(a.Replica, b.Replica) })
	return out
}
