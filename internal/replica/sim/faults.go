package sim

import (
	"context"
	"slices"
	"strings"
)

// nemesis injects one fault every so often during the fault phase.
func (s *world) nemesis() {
	if s.healing {
		return
	}
	s.after(s.between(200, 2000), s.nemesis)
	var up, down, paused []*node
	for _, n := range s.nodes {
		switch {
		case !n.up:
			down = append(down, n)
		case n.paused:
			paused = append(paused, n)
		default:
			up = append(up, n)
		}
	}
	// Crash at most a minority at a time, so that the groups keep making
	// progress between faults; a power loss takes every node at once.
	minority := (len(s.nodes) - 1) / 2
	canStop := len(down)+len(paused) < minority && len(up) > 0
	switch r := s.rng.IntN(100); {
	case r < 16:
		s.partition()
	case r < 26:
		s.note("heal partitions")
		for i := range s.net.blocked {
			clear(s.net.blocked[i])
		}
	case r < 44:
		if !canStop {
			return
		}
		n := s.victim(up)
		if s.chance(0.5) {
			n.armCut()
		} else {
			n.stop("nemesis", s.chance(0.3))
		}
	case r < 50:
		s.stats.PowerLosses++
		if s.chance(0.5) {
			// Every node was between rounds: each keeps all it synced.
			s.note("power loss of every node")
			for _, n := range s.nodes {
				n.crash("power loss")
			}
		} else {
			// Every node loses power inside its next fsync (at slightly
			// different instants: the nodes' next synced commits).
			s.note("power loss of every node, inside their fsyncs")
			for _, n := range up {
				n.armCut()
			}
		}
	case r < 56:
		if !canStop {
			return
		}
		n := s.victim(up)
		n.pause()
		s.after(s.between(100, 3000), func() {
			if n.paused {
				n.resume()
			}
		})
	case r < 66:
		s.transferLeader()
	case r < 78:
		s.startChange()
	case r < 82:
		s.net.drop = pick(s, []float64{0, 0.01, 0.05, 0.3})
		s.note("drop rate now %.2f", s.net.drop)
	default:
		// Quiet for a while.
	}
}

// partition cuts links: one node off, a split in two, or one direction of
// one link.
func (s *world) partition() {
	s.stats.Partitions++
	n := len(s.nodes)
	for i := range s.net.blocked {
		clear(s.net.blocked[i])
	}
	var side []bool
	switch s.rng.IntN(3) {
	case 0: // one node cut off
		side = make([]bool, n)
		side[s.rng.IntN(n)] = true
	case 1: // a random split
		side = make([]bool, n)
		for i := range side {
			side[i] = s.chance(0.5)
		}
	default: // one-way: a cannot reach b
		a, b := s.rng.IntN(n), s.rng.IntN(n)
		if a != b {
			s.net.blocked[a][b] = true
		}
		s.note("partition: %s cannot reach %s", s.nodes[a].name, s.nodes[b].name)
		return
	}
	var l, r []string
	for i := range side {
		for j := range side {
			if side[i] != side[j] {
				s.net.blocked[i][j] = true
			}
		}
		if side[i] {
			l = append(l, s.nodes[i].name)
		} else {
			r = append(r, s.nodes[i].name)
		}
	}
	s.note("partition: [%s] | [%s]", strings.Join(l, " "), strings.Join(r, " "))
}

// transferLeader asks the leader of a random group to hand over to a
// random other voter. TransferLeader with a done context only enqueues the
// request and returns: it never blocks the simulation.
func (s *world) transferLeader() {
	g := pick(s, s.groups)
	n, st := s.leaderOf(g)
	if n == nil {
		return
	}
	to := pick(s, st.Descriptor.Voters)
	if to == st.Replica {
		return
	}
	grp, _ := n.group(g.id)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = grp.TransferLeader(ctx, to)
	n.dirty = true
	s.stats.Transfers++
	s.note("transfer leadership of group %d from %s to replica %d", g.id, n.name, to)
}

// victim picks a node to crash or pause, most often one that requests are
// waiting on (where a crash tests what their answers promised).
func (s *world) victim(up []*node) *node {
	if s.chance(0.7) {
		var busy []*node
		for _, c := range s.clients {
			if c.cur == nil {
				continue
			}
			a := c.cur.attempts[len(c.cur.attempts)-1]
			if !a.settled && a.node.up && !a.node.paused && !slices.Contains(busy, a.node) {
				busy = append(busy, a.node)
			}
		}
		if len(busy) > 0 {
			return pick(s, busy)
		}
	}
	return pick(s, up)
}
