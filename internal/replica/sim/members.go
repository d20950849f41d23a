package sim

import (
	"errors"
	"slices"
	"strings"

	"github.com/cairnkv/cairn/internal/replica"
)

// change is a membership change of one group in progress, stepped on the
// group's leader every tick as ChangeMembers would step it.
type change struct {
	g       *groupInfo
	target  []*node
	started int64
	// waitOn is the node whose conf change proposal has not been answered
	// yet (and its incarnation: a crash there means no answer will come).
	waitOn  *node
	waitInc int
	steps   uint64
	ended   bool
}

const changeGiveUp = 30_000 // ms: a change still not done is abandoned

// startChange moves a random group to a new set of nodes: one replica
// replaced, added or removed, keeping 2 to 5 voters.
func (s *world) startChange() {
	g := pick(s, s.groups)
	if s.changeOf(g) != nil {
		return
	}
	leader, st := s.leaderOf(g)
	if leader == nil || st.Descriptor.Joint() {
		return
	}
	var in, out []*node
	for _, n := range s.nodes {
		if _, ok := st.Descriptor.ReplicaOn(n.name); ok {
			in = append(in, n)
		} else {
			out = append(out, n)
		}
	}
	target := slices.Clone(in)
	drop := pick(s, in)
	switch {
	case len(in) > 3 || len(out) == 0 && len(in) == 3:
		target = slices.DeleteFunc(target, func(n *node) bool { return n == drop })
	case len(in) < 3 || s.chance(0.3):
		target = append(target, pick(s, out))
	default:
		target = slices.DeleteFunc(target, func(n *node) bool { return n == drop })
		target = append(target, pick(s, out))
	}
	slices.SortFunc(target, func(a, b *node) int { return a.idx - b.idx })
	ch := &change{g: g, target: target, started: s.now}
	s.changes = append(s.changes, ch)
	s.stats.MembershipChanges++
	s.note("membership of group %d: [%s] -> [%s]", g.id, names(in), names(target))
	s.after(tickMS, func() { s.stepChange(ch) })
}

// stepChange takes the change's next step on the group's leader.
func (s *world) stepChange(ch *change) {
	g := ch.g
	if ch.ended {
		return
	}
	if ch.waitOn != nil && (!ch.waitOn.up || ch.waitOn.incarnation != ch.waitInc) {
		ch.waitOn = nil // its leader crashed: no answer will come
	}
	if s.now-ch.started > changeGiveUp {
		s.note("membership change of group %d abandoned", g.id)
		s.endChange(ch)
		return
	}
	s.after(tickMS, func() { s.stepChange(ch) })
	if ch.waitOn != nil {
		return
	}
	leader, _ := s.leaderOf(g)
	if leader == nil {
		return
	}
	grp, _ := leader.group(g.id)
	target := replica.Membership{}
	for _, n := range ch.target {
		target.Members = append(target.Members, replica.Member{Node: n.name, Role: replica.RoleVoter})
	}
	ch.steps++
	key := callbackKey{1, uint64(g.id), ch.steps}
	done, proposed, err := grp.ChangeMembersStep(target, func(err error) {
		s.callback(key, func() {
			s.note("membership of group %d: conf change answered: %v", g.id, err)
			ch.waitOn = nil
		})
	})
	leader.dirty = true
	var nl *replica.ErrNotLeader
	switch {
	case done:
		s.note("membership of group %d is [%s]", g.id, names(ch.target))
		g.nodes = ch.target
		s.stats.MembershipDone++
		s.endChange(ch)
	case proposed:
		ch.waitOn, ch.waitInc = leader, leader.incarnation
	case err != nil && !errors.As(err, &nl):
		s.failf(KindBadReply, "group %d: membership step: %v", g.id, err)
	}
}

func (s *world) endChange(ch *change) {
	s.changes = slices.DeleteFunc(s.changes, func(x *change) bool { return x == ch })
	ch.ended = true
}

func (s *world) changeOf(g *groupInfo) *change {
	for _, ch := range s.changes {
		if ch.g == g {
			return ch
		}
	}
	return nil
}

// leaderOf returns a node where group g's replica leads (the one in the
// highest term, should there be two), and its status.
func (s *world) leaderOf(g *groupInfo) (*node, replica.Status) {
	var best *node
	var bst replica.Status
	for _, n := range s.nodes {
		st, ok := n.status(g.id)
		if ok && st.State == replica.StateLeader && (best == nil || st.Term > bst.Term) {
			best, bst = n, st
		}
	}
	return best, bst
}

func names(ns []*node) string {
	var b []string
	for _, n := range ns {
		b = append(b, n.name)
	}
	return strings.Join(b, " ")
}
