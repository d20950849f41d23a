package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// The meta group (group 0) holds the member list: names, addresses,
// capacities, zones and states, and the placement epoch that every change
// bumps (DESIGN.md, Membership and failure). A node holding a replica of it
// reads its own; the others learn the list from their peers' GetCluster
// answers, keeping the one with the highest epoch. Every node computes the
// ring's placement of the list itself (cluster.Targets): it is a pure
// function of it.

// metaView is what this node knows of the meta group's records.
type metaView struct {
	epoch   uint64
	members []cluster.Member // by name, removed ones included
	adv     map[string]cluster.Advertised
	target  cluster.Target // the ring's placement of members; Groups nil when it cannot be made
	err     error          // why target could not be made
}

func (mv *metaView) member(name string) (cluster.Member, bool) {
	i, ok := slices.BinarySearchFunc(mv.members, name, func(m cluster.Member, name string) int { return strings.Compare(m.Name, name) })
	if !ok {
		return cluster.Member{}, false
	}
	return mv.members[i], true
}

func (n *Node) metaView() *metaView { return n.meta.Load() }

// sortedByName is a copy of members ordered by name.
func sortedByName(members []cluster.Member) []cluster.Member {
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b cluster.Member) int { return strings.Compare(a.Name, b.Name) })
	return members
}

// newMetaView builds a view and its placement.
func (n *Node) newMetaView(epoch uint64, members []cluster.Member, adv map[string]cluster.Advertised) *metaView {
	mv := &metaView{epoch: epoch, members: sortedByName(members), adv: adv}
	mv.target, mv.err = cluster.Targets(members, n.id.Settings)
	return mv
}

// learnMeta installs a member list when it is newer than the one known (a
// higher epoch, or the same epoch read from the local replica, which also
// refreshes the advertised addresses).
func (n *Node) learnMeta(epoch uint64, members []cluster.Member, adv map[string]cluster.Advertised, local bool) {
	n.metaMu.Lock()
	defer n.metaMu.Unlock()
	cur := n.metaView()
	if cur != nil && (epoch < cur.epoch || epoch == cur.epoch && !local) {
		return
	}
	changed := cur == nil || epoch > cur.epoch
	var mv *metaView
	if !changed && slices.Equal(cur.members, sortedByName(members)) {
		// The same list read again (every watch interval): only the
		// advertised addresses may be new; the placement is the same.
		mv = &metaView{epoch: epoch, members: cur.members, adv: adv, target: cur.target, err: cur.err}
	} else {
		mv = n.newMetaView(epoch, members, adv)
	}
	n.meta.Store(mv)
	n.addrMu.Lock()
	for _, m := range members {
		if m.Name != n.cfg.Name && m.Addr != "" {
			n.addrs[m.Name] = m.Addr
		}
	}
	n.addrMu.Unlock()
	if changed && cur != nil {
		n.log.Info("member list changed", "epoch", epoch, "members", describeMembers(members))
		if err := cluster.SaveMembers(n.store, epoch, members); err != nil {
			n.log.Warn("saving the member list", "err", err)
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

// readLocalMeta reads the meta group's records from this node's replica
// of it, as far as it has applied; ok is false when it holds none.
func (n *Node) readLocalMeta() (cluster.Meta, map[string]cluster.Advertised, bool, error) {
	g, ok := n.host.Group(0)
	if !ok || g.Status().Descriptor.Version == 0 {
		return cluster.Meta{}, nil, false, nil
	}
	m, err := cluster.ReadMeta(n.store)
	if err != nil {
		return cluster.Meta{}, nil, false, err
	}
	return m, n.readAdvertised(m.Members), true, nil
}

func (n *Node) readAdvertised(members []cluster.Member) map[string]cluster.Advertised {
	adv := map[string]cluster.Advertised{}
	for _, m := range members {
		if it, ok, err := kv.Get(n.store, 0, cluster.AdvertiseKey(m.Name)); err == nil && ok {
			if a, err := cluster.DecodeAdvertised(it.Value); err == nil {
				adv[m.Name] = a
			}
		}
	}
	return adv
}

// refreshMeta reads the local meta replica, if any, into the view.
func (n *Node) refreshMeta() {
	m, adv, ok, err := n.readLocalMeta()
	if err != nil {
		n.log.Warn("reading the meta group", "err", err)
		return
	}
	if ok {
		n.learnMeta(m.Epoch, m.Members, adv, true)
	}
}

// watchCluster keeps the member list and the routes fresh: the local meta
// replica every interval, the peers every second interval.
func (n *Node) watchCluster(interval time.Duration) {
	i := 0
	n.every(interval, true, func(ctx context.Context) {
		n.refreshMeta()
		if i%2 == 0 {
			n.pollPeers(ctx)
		}
		i++
	})
}

// every runs f every interval until the node stops (first: once at
// once, too), on the calling goroutine, which the caller counted in n.wg.
// f's context ends when the node stops.
func (n *Node) every(interval time.Duration, first bool, f func(ctx context.Context)) {
	defer n.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	if first {
		f(ctx)
	}
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		f(ctx)
	}
}

// targetOf is group gid's placement under the member list: the nodes the
// ring gives it, preferred leader first; nil when unknown.
func (n *Node) targetOf(gid replica.GroupID) []string {
	mv := n.metaView()
	if mv == nil || mv.target.Groups == nil || int(gid) >= len(mv.target.Groups) {
		return nil
	}
	return mv.target.Groups[gid]
}

// preferredNode is the first node of group gid's placement under the
// member list: its preferred leader.
func (n *Node) preferredNode(gid replica.GroupID) string {
	if t := n.targetOf(gid); len(t) > 0 {
		return t[0]
	}
	return ""
}

// errNotMetaLeader says this node does not lead the meta group.
type errNotMetaLeader struct{ leader string }

func (e errNotMetaLeader) Error() string {
	if e.leader == "" {
		return "this node does not lead the meta group, and no leader of it is known"
	}
	return fmt.Sprintf("this node does not lead the meta group; %s does", e.leader)
}

// changeMeta makes one membership change on the meta leader (this node):
// it reads the records linearizably, lets change compute the records to
// write from them, and proposes them under the epoch it read; a change
// made meanwhile by someone else makes it read and compute again.
// change returning no members changes nothing.
func (n *Node) changeMeta(ctx context.Context, change func(cluster.Meta) ([]cluster.Member, error)) (cluster.Meta, error) {
	for {
		g, ok := n.host.Group(0)
		if !ok {
			return cluster.Meta{}, errNotMetaLeader{leader: n.metaLeader()}
		}
		if st := g.Status(); st.State != replica.StateLeader {
			return cluster.Meta{}, errNotMetaLeader{leader: st.LeaderNode}
		}
		var m cluster.Meta
		err := g.Read(ctx, replica.Linearizable, func(v storage.View) error {
			var err error
			m, err = cluster.ReadMeta(v)
			return err
		})
		if err != nil {
			return cluster.Meta{}, err
		}
		changed, err := change(m)
		if err != nil || len(changed) == 0 {
			return m, err
		}
		cmd, err := cluster.MembershipCommand(m, changed...)
		if err != nil {
			return cluster.Meta{}, err
		}
		res, _, err := g.Propose(ctx, cmd.Encode())
		if err != nil {
			return cluster.Meta{}, err
		}
		rep, err := kv.DecodeResult(res)
		if err != nil {
			return cluster.Meta{}, err
		}
		if err := cluster.MembershipResult(rep); err == cluster.ErrMetaChanged {
			continue
		} else if err != nil {
			return cluster.Meta{}, err
		}
		for _, c := range changed {
			i := slices.IndexFunc(m.Members, func(x cluster.Member) bool { return x.Name == c.Name })
			if i < 0 {
				m.Members = append(m.Members, c)
			} else {
				m.Members[i] = c
			}
		}
		m.Epoch++
		n.refreshMeta()
		return m, nil
	}
}

// metaLeader names the meta group's leader as far as this node knows.
func (n *Node) metaLeader() string {
	if r, ok := n.route(0); ok {
		return r.leader
	}
	return ""
}

// leadsMeta reports whether this node leads the meta group.
func (n *Node) leadsMeta() bool {
	g, ok := n.host.Group(0)
	return ok && g.IsLeader()
}
