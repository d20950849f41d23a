package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cairnkv/cairn/internal/hashring"
	"github.com/cairnkv/cairn/internal/replica"
)

// The rebalancer's planner (DESIGN.md, Placement and Membership and
// failure): where every group should be, given the members and their
// states, and the single membership changes that take each group there. It
// is pure: the rebalancer on the meta leader hands it the descriptors and
// members it has read, and executes what it returns, one move per group at
// a time, reading the descriptors again after each:
//
//	t, err := cluster.Targets(members, settings)
//	for _, d := range descs {
//		if m, ok := cluster.NextMove(d, t.Groups[d.Group], members); ok {
//			// add m.Add as a learner, let it catch up, promote it and
//			// remove m.Remove in one membership change
//		}
//	}
//
// PlanMoves runs the same steps on paper (with Apply) to say what a whole
// rebalance will do before it starts; CheckLive is asked before a node is
// drained, removed or declared down.

var (
	// ErrTooFewNodes: fewer nodes take replicas (joining or up) than a
	// partition has replicas (R).
	ErrTooFewNodes = errors.New("cluster: too few nodes")
	// ErrNoQuorum: some group would have no quorum of its voters on live
	// nodes, so it could not change its membership.
	ErrNoQuorum = errors.New("cluster: no quorum")
)

// Placeable reports whether a node in state takes new replicas: joining and
// up nodes do; draining, down and removed nodes do not (their replicas move
// away).
func Placeable(state string) bool {
	switch state {
	case NodeJoining, NodeUp, "":
		return true
	}
	return false
}

// Live reports whether a node in state counts toward a group's quorum:
// joining, up and draining nodes are alive; down and removed nodes are not.
// NB: a draining node keeps its replicas voting until they have moved, so
// draining a node never costs a group its quorum.
func Live(state string) bool {
	switch state {
	case NodeJoining, NodeUp, NodeDraining, "":
		return true
	}
	return false
}

// Target is where every group should be.
type Target struct {
	// Groups[g] are group g's target nodes, len P+1. Groups[0] is the meta
	// group's voters, in name order; Groups[p+1] is partition p's R nodes,
	// the preferred leader first (the placement's order).
	Groups [][]string
	// Placement is the ring's placement over the placeable members.
	Placement *hashring.Placement
}

// Targets computes where every group should be for members (in any order)
// and the cluster's settings s:
//
//   - the meta group on the MetaReplicas(k) lowest-named of the k placeable
//     members (joining or up);
//   - partition p where the ring places it over the placeable members
//     (Placement), preferred leader first.
//
// Removed members are ignored; draining and down members are named by no
// group, so their replicas move away. Fewer placeable members than R is an
// error wrapping ErrTooFewNodes.
func Targets(members []Member, s Settings) (Target, error) {
	var placeable []Member
	known := 0
	for _, m := range sortedMembers(members) {
		if m.StateOf() == NodeRemoved {
			continue
		}
		known++
		if Placeable(m.StateOf()) {
			placeable = append(placeable, m)
		}
	}
	k := len(placeable)
	s = s.WithDefaults(k)
	if k < s.Replicas {
		return Target{}, fmt.Errorf("%w: %d of %d members are joining or up, and --replicas %d needs at least %d to place every partition; add a node or bring one back up",
			ErrTooFewNodes, k, known, s.Replicas, s.Replicas)
	}
	pl, err := Placement(placeable, s)
	if err != nil {
		return Target{}, fmt.Errorf("cluster: targets: %w", err)
	}
	groups := make([][]string, 1+s.Partitions)
	meta := make([]string, MetaReplicas(k))
	for i := range meta {
		meta[i] = placeable[i].Name
	}
	groups[0] = meta
	for p := range s.Partitions {
		groups[p+1] = pl.Replicas(p)
	}
	return Target{Groups: groups, Placement: pl}, nil
}

// Move is one membership change of one group: add a replica on Add (as a
// learner; once it has caught up it is promoted to voter), and remove the
// replica on Remove, in one change. Either may be "": only an add, or only a
// remove. When Add already holds a learner (left by an interrupted move),
// the move promotes it instead of adding another.
type Move struct {
	Group       replica.GroupID
	Add, Remove string
}

func (m Move) String() string {
	var parts []string
	if m.Add != "" {
		parts = append(parts, "add "+m.Add)
	}
	if m.Remove != "" {
		parts = append(parts, "remove "+m.Remove)
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing")
	}
	return groupLabel(m.Group) + ": " + strings.Join(parts, ", ")
}

// NextMove is the next single step that takes a group from desc toward
// target (its entry of Target.Groups), or ok false when there is none: the
// group is where it should be, or it is in a joint configuration (wait for
// it to leave).
//
//   - Add is the first node of target, in target's order, with no replica,
//     or with only a learner (to promote): the preferred leader first.
//   - Remove is a node holding a replica but not in target: first those not
//     Live (down, removed, or unknown to members), then the others; ties go
//     by name.
//   - An Add is paired with a Remove when the group keeps at least
//     len(target) replicas after both; otherwise it goes alone (the group
//     is short of replicas). With nothing to add, extra replicas are
//     removed one at a time.
//
// NB: a pair gains a voter for each one it removes, and a lone remove only
// happens once every target node holds a voter, so no move leaves the group
// with fewer voters than min(len(target), voters before).
func NextMove(desc replica.Descriptor, target []string, members []Member) (m Move, ok bool) {
	if desc.Joint() {
		return Move{}, false
	}
	m.Group = desc.Group
	after := len(desc.Replicas)
	for _, node := range target {
		r, has := desc.ReplicaOn(node)
		if !has {
			m.Add = node
			after++
			break
		}
		if r.Role == replica.RoleLearner {
			m.Add = node
			break
		}
	}
	states := memberStates(members)
	var extra []string
	for _, r := range desc.Replicas {
		if !slices.Contains(target, r.Node) && !slices.Contains(extra, r.Node) {
			extra = append(extra, r.Node)
		}
	}
	if len(extra) > 0 && (m.Add == "" || after-1 >= len(target)) {
		slices.SortFunc(extra, func(a, b string) int {
			la, lb := liveNode(states, a), liveNode(states, b)
			if la != lb {
				if la {
					return 1
				}
				return -1
			}
			return strings.Compare(a, b)
		})
		m.Remove = extra[0]
	}
	if m.Add == "" && m.Remove == "" {
		return Move{}, false
	}
	return m, true
}

// Apply returns the descriptor after m: a replica on m.Add with ID
// NextReplicaID (or m.Add's learner promoted), m.Remove's replica gone,
// Version one higher, no joint configuration. It does not change desc.
// It is how PlanMoves simulates a plan; the engine's own change is what
// makes the real descriptor.
func Apply(desc replica.Descriptor, m Move) replica.Descriptor {
	d := desc.Clone()
	d.Engine = nil // no engine section: no change under way (the planner reads only Joint)
	if m.Add != "" {
		i := slices.IndexFunc(d.Replicas, func(r replica.Member) bool { return r.Node == m.Add })
		if i < 0 {
			id := d.NextReplicaID
			d.NextReplicaID++
			d.Replicas = append(d.Replicas, replica.Member{ID: id, Node: m.Add, Role: replica.RoleVoter})
			d.Voters = append(d.Voters, id)
		} else if d.Replicas[i].Role == replica.RoleLearner {
			id := d.Replicas[i].ID
			d.Replicas[i].Role = replica.RoleVoter
			d.Learners = slices.DeleteFunc(d.Learners, func(x replica.ReplicaID) bool { return x == id })
			d.Voters = append(d.Voters, id)
		}
	}
	if m.Remove != "" && m.Remove != m.Add {
		var gone []replica.ReplicaID
		d.Replicas = slices.DeleteFunc(d.Replicas, func(r replica.Member) bool {
			if r.Node == m.Remove {
				gone = append(gone, r.ID)
				return true
			}
			return false
		})
		drop := func(x replica.ReplicaID) bool { return slices.Contains(gone, x) }
		d.Voters = slices.DeleteFunc(d.Voters, drop)
		d.Learners = slices.DeleteFunc(d.Learners, drop)
	}
	slices.SortFunc(d.Replicas, func(a, b replica.Member) int { return cmp.Compare(a.ID, b.ID) })
	slices.Sort(d.Voters)
	slices.Sort(d.Learners)
	if len(d.Learners) == 0 {
		d.Learners = nil // as a founding descriptor has it
	}
	d.Version++
	return d
}

// PlanMoves lists every move, in order, that brings each group of descs to
// its target in t (NextMove then Apply, until NextMove has none), groups in
// ascending ID. Groups with no descriptor in descs are skipped, as are
// descriptors of groups t does not know. The moves with an Add are the
// replicas an execution will create if nothing changes meanwhile.
//
// NB: this terminates: each move either gives a target node its voter or
// takes a replica off a node outside the target, and neither is undone.
func PlanMoves(descs []replica.Descriptor, t Target, members []Member) []Move {
	sorted := slices.Clone(descs)
	slices.SortStableFunc(sorted, func(a, b replica.Descriptor) int { return cmp.Compare(a.Group, b.Group) })
	var moves []Move
	for _, d := range sorted {
		if d.Group >= replica.GroupID(len(t.Groups)) {
			continue
		}
		target := t.Groups[d.Group]
		for {
			m, ok := NextMove(d, target, members)
			if !ok {
				break
			}
			moves = append(moves, m)
			d = Apply(d, m)
		}
	}
	return moves
}

// CheckLive is the safety check before a node is drained, removed or
// declared down: members are the members as they would be after the change,
// descs every group's descriptor, s the cluster's settings. It refuses
// (naming the first offending case) when fewer than R members would be
// joining or up (ErrTooFewNodes), or when some group would break rule, its
// engine's liveness rule (replica.LivenessOf; replica.Majority for Raft:
// a majority of Voters, and in a joint configuration of the Outgoing voters
// too), with only its replicas on live nodes (ErrNoQuorum). Groups are
// checked in ascending ID.
func CheckLive(descs []replica.Descriptor, members []Member, s Settings, rule replica.Liveness) error {
	states := memberStates(members)
	placeable, known := 0, 0
	for _, m := range members {
		if m.StateOf() != NodeRemoved {
			known++
		}
		if Placeable(m.StateOf()) {
			placeable++
		}
	}
	s = s.WithDefaults(known)
	if placeable < s.Replicas {
		return fmt.Errorf("%w: %d of %d members would be joining or up, and --replicas %d needs at least %d to place every partition; add a node or bring one back up first",
			ErrTooFewNodes, placeable, known, s.Replicas, s.Replicas)
	}
	sorted := slices.Clone(descs)
	slices.SortStableFunc(sorted, func(a, b replica.Descriptor) int { return cmp.Compare(a.Group, b.Group) })
	live := func(node string) bool { return liveNode(states, node) }
	for _, d := range sorted {
		if sf := rule(d, live); sf != nil {
			return fmt.Errorf("%w: %s would have %d of %d %svoters on live nodes (%s): a membership change needs a quorum (%d of %d); bring a node back up first",
				ErrNoQuorum, groupLabel(d.Group), sf.Live, sf.Of, sf.Which, describeDead(sf.Lost, states), sf.Need, sf.Of)
		}
	}
	return nil
}

// describeDead says why each node is not live, grouped by state in name
// order: "n2 and n3 are down, n4 is removed".
func describeDead(nodes []string, states map[string]string) string {
	slices.Sort(nodes)
	var order []string
	by := map[string][]string{}
	for _, n := range nodes {
		st, ok := states[n]
		if !ok {
			st = "unknown"
		}
		if _, seen := by[st]; !seen {
			order = append(order, st)
		}
		by[st] = append(by[st], n)
	}
	parts := make([]string, len(order))
	for i, st := range order {
		ns := by[st]
		switch len(ns) {
		case 1:
			parts[i] = ns[0] + " is " + st
		default:
			parts[i] = strings.Join(ns[:len(ns)-1], ", ") + " and " + ns[len(ns)-1] + " are " + st
		}
	}
	return strings.Join(parts, ", ")
}

// Counts returns how many replicas (voters and learners) each node holds
// over descs.
func Counts(descs []replica.Descriptor) map[string]int {
	c := make(map[string]int)
	for _, d := range descs {
		for _, r := range d.Replicas {
			c[r.Node]++
		}
	}
	return c
}

// memberStates maps each member's name to its state ("" made up).
func memberStates(members []Member) map[string]string {
	states := make(map[string]string, len(members))
	for _, m := range members {
		states[m.Name] = m.StateOf()
	}
	return states
}

// liveNode reports whether node is a member in a Live state.
func liveNode(states map[string]string, node string) bool {
	st, ok := states[node]
	return ok && Live(st)
}

// groupLabel names group g for people: the meta group or its partition.
func groupLabel(g replica.GroupID) string {
	if g == 0 {
		return "meta group"
	}
	return fmt.Sprintf("partition %d", g-1)
}
