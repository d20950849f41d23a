package routing

import (
	"slices"
	"strings"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
)

// MetaView is what this node knows of the meta group's records
// (DESIGN.md, Membership and failure). A node holding a replica of the meta
// group reads its own; the others learn the list from their peers, keeping
// the one with the highest epoch. Every node computes the ring's placement
// of the list itself (cluster.Targets): it is a pure function of it.
type MetaView struct {
	Epoch   uint64
	Members []cluster.Member // by name, removed ones included
	Adv     map[string]cluster.Advertised
	Target  cluster.Target // the ring's placement of Members; Groups nil when it cannot be made
	Err     error          // why Target could not be made
}

// Member returns the member named name.
func (mv *MetaView) Member(name string) (cluster.Member, bool) {
	i, ok := slices.BinarySearchFunc(mv.Members, name, func(m cluster.Member, name string) int { return strings.Compare(m.Name, name) })
	if !ok {
		return cluster.Member{}, false
	}
	return mv.Members[i], true
}

// sortedByName is a copy of members ordered by name.
func sortedByName(members []cluster.Member) []cluster.Member {
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b cluster.Member) int { return strings.Compare(a.Name, b.Name) })
	return members
}

// Meta is the member list as this node knows it; nil before LearnMeta.
func (t *Table) Meta() *MetaView { return t.meta.Load() }

// LearnMeta installs a member list when it is newer than the one known (a
// higher epoch, or the same epoch read from the local replica, which also
// refreshes the advertised addresses).
func (t *Table) LearnMeta(epoch uint64, members []cluster.Member, adv map[string]cluster.Advertised, local bool) {
	t.metaMu.Lock()
	defer t.metaMu.Unlock()
	cur := t.Meta()
	if cur != nil && (epoch < cur.Epoch || epoch == cur.Epoch && !local) {
		return
	}
	changed := cur == nil || epoch > cur.Epoch
	var mv *MetaView
	if !changed && slices.Equal(cur.Members, sortedByName(members)) {
		// The same list read again (every watch interval): only the
		// advertised addresses may be new; the placement is the same.
		mv = &MetaView{Epoch: epoch, Members: cur.Members, Adv: adv, Target: cur.Target, Err: cur.Err}
	} else {
		mv = &MetaView{Epoch: epoch, Members: sortedByName(members), Adv: adv}
		mv.Target, mv.Err = cluster.Targets(members, t.cfg.Settings)
	}
	t.meta.Store(mv)
	t.addrMu.Lock()
	for _, m := range members {
		if m.Name != t.cfg.Node && m.Addr != "" {
			t.addrs[m.Name] = m.Addr
		}
	}
	t.addrMu.Unlock()
	if changed && cur != nil {
		t.log.Info("member list changed", "epoch", epoch, "members", describeMembers(members))
		if err := t.cfg.Meta.SaveMembers(epoch, members); err != nil {
			t.log.Warn("saving the member list", "err", err)
		}
	}
}

func describeMembers(ms []cluster.Member) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.Name + ":" + m.StateOf()
	}
	return strings.Join(parts, ",")
}

// RefreshMeta reads the local meta replica, if any, into the view.
func (t *Table) RefreshMeta() {
	m, adv, ok, err := t.cfg.Meta.ReadLocal()
	if err != nil {
		t.log.Warn("reading the meta group", "err", err)
		return
	}
	if ok {
		t.LearnMeta(m.Epoch, m.Members, adv, true)
	}
}

// Resolve returns the gRPC address of node: from the member list, else
// from Config.Addrs.
func (t *Table) Resolve(node string) (string, bool) {
	t.addrMu.RLock()
	defer t.addrMu.RUnlock()
	a, ok := t.addrs[node]
	return a, ok
}

// targetOf is group gid's placement under the member list: the nodes the
// ring gives it, preferred leader first; nil when unknown.
func (t *Table) targetOf(gid replica.GroupID) []string {
	mv := t.Meta()
	if mv == nil || mv.Target.Groups == nil || int(gid) >= len(mv.Target.Groups) {
		return nil
	}
	return mv.Target.Groups[gid]
}

// SetAddr sets node's address until a member list names another.
func (t *Table) SetAddr(node, addr string) {
	t.addrMu.Lock()
	defer t.addrMu.Unlock()
	t.addrs[node] = addr
}
