package runner

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
	cairncluster "github.com/cairnkv/cairn/internal/cluster"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// diskDelays are the fsync delays a disk step draws from. NB: the schedule's
// DiskMode (full, fail) has no counterpart in the FaultInjection service,
// which offers slow fsync only, so every disk step is a slow disk.
var diskDelays = []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond}

// Bounds of the membership steps and of the wait for the cluster to settle.
const (
	// movePoll is how often a kill-during-move step asks whether a move
	// is in flight, and convergePoll how often the end of the run asks
	// whether the moves are done.
	movePoll     = 200 * time.Millisecond
	convergePoll = 250 * time.Millisecond
	// moveWaitMax bounds a kill-during-move step's wait for a move in
	// flight; it also waits no longer than three quarters of the step, so
	// that the kill lasts a while before the heal.
	moveWaitMax = 10 * time.Second
	// reapTimeout bounds the status call with which a heal looks for
	// drained nodes to stop: the schedule must not wait on it.
	reapTimeout = 3 * time.Second
)

// nemesis walks a schedule against an injector and records the faults on
// the history's clock.
type nemesis struct {
	inj injector
	// nodes are the nodes in the cluster now: the founders and the nodes
	// that joined, less the ones retired (drained, removed and stopped).
	nodes []string
	rng   *rand.Rand   // disk delays, membership choices; from the run's seed
	now   func() int64 // the history's clock
	// wait returns at at (from the start of the run), or with ctx's error.
	wait func(ctx context.Context, at time.Duration) error
	log  *slog.Logger

	faults []chaos.Fault
	open   int // index in faults of the fault in force, -1 when none
	// draining maps the nodes drained and not yet retired to the index in
	// faults of their drain (-1 when it was not recorded).
	draining map[string]int
}

func newNemesis(inj injector, nodes []string, seed int64, now func() int64, wait func(context.Context, time.Duration) error, log *slog.Logger) *nemesis {
	return &nemesis{inj: inj, nodes: slices.Clone(nodes), rng: rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973)), // "nemesis"
		now: now, wait: wait, log: log, open: -1, draining: make(map[string]int)}
}

// run takes the steps in order, each at its time, until they are done or
// ctx ends. A step that cannot be taken is logged and skipped (a fault that
// could not be injected is not recorded); the heals that follow, and the
// final heal (finish), undo whatever part of it took.
func (n *nemesis) run(ctx context.Context, steps []chaos.Step) error {
	for i, st := range steps {
		if err := n.wait(ctx, st.At); err != nil {
			return err
		}
		if st.Heal {
			n.heal(ctx, st.String())
			n.reap(ctx)
			continue
		}
		healAt := st.At + moveWaitMax
		if i+1 < len(steps) {
			healAt = steps[i+1].At
		}
		n.inject(ctx, st, healAt)
	}
	return nil
}

// inject takes a fault step; healAt is when the step's heal comes.
func (n *nemesis) inject(ctx context.Context, st chaos.Step, healAt time.Duration) {
	if n.open >= 0 { // the schedule heals before each fault; be safe anyway
		n.heal(ctx, "heal before "+st.String())
	}
	start := n.now()
	var targets []string
	var detail string
	var err error
	if st.Kind == chaos.Membership {
		targets, detail, err = n.member(ctx, st, healAt)
	} else {
		targets, detail, err = n.fault(ctx, st)
	}
	if err != nil {
		n.log.Warn("nemesis: fault not injected", "step", st.String(), "err", err)
		n.open = -1
		// Undo whatever part took, so the next quiet time is quiet.
		if herr := n.inj.Heal(ctx); herr != nil {
			n.log.Warn("nemesis: heal after a failed fault", "err", herr)
		}
		return
	}
	f := st.Fault(start, 0, targets...)
	if st.TargetsLeader() && st.Action != chaos.Partition {
		f.Detail = fmt.Sprintf("%s the leader %s", st.Action, targets[0])
	} else if st.TargetsLeader() {
		f.Detail = fmt.Sprintf("isolate the leader %s", targets[0])
	} else if detail != "" {
		f.Detail = detail
	}
	n.faults = append(n.faults, f)
	n.open = len(n.faults) - 1
	if st.Kind == chaos.Membership && st.Change == chaos.Drain {
		if _, ok := n.draining[st.Member]; ok {
			n.draining[st.Member] = n.open
		}
	}
	n.log.Info("nemesis: fault", "kind", f.Kind, "nodes", f.Node, "detail", f.Detail)
}

// fault injects a step of any kind but Membership, and returns the nodes
// it hit and, when the step's own description is not enough, what it did.
func (n *nemesis) fault(ctx context.Context, st chaos.Step) (targets []string, detail string, err error) {
	targets = st.Nodes
	if st.TargetsLeader() {
		leader, err := n.inj.Leader(ctx)
		if err != nil {
			return nil, "", err
		}
		targets = []string{leader}
	}
	switch st.Action {
	case chaos.Kill:
		for _, t := range targets {
			if err := n.inj.Kill(ctx, t); err != nil {
				return nil, "", err
			}
		}
	case chaos.Pause:
		for _, t := range targets {
			if err := n.inj.Pause(ctx, t); err != nil {
				return nil, "", err
			}
		}
	case chaos.Partition:
		cut := st.Cut
		if cut == nil { // a leader step: isolate the leader
			c := chaos.Isolate(n.nodes, targets[0])
			cut = &c
		}
		return targets, "partition " + cut.String(), n.inj.Cut(ctx, *cut)
	case chaos.Clock:
		for _, t := range targets {
			if err := n.inj.SetClock(ctx, t, st.ClockOffset); err != nil {
				return nil, "", err
			}
		}
	case chaos.Disk:
		d := diskDelays[n.rng.IntN(len(diskDelays))]
		detail = fmt.Sprintf("slow disk: every fsync +%v on %s", d, strings.Join(targets, ","))
		for _, t := range targets {
			if err := n.inj.SetDiskDelay(ctx, t, d); err != nil {
				return nil, "", err
			}
		}
	default:
		return nil, "", fmt.Errorf("unknown action %q", st.Action)
	}
	return targets, detail, nil
}

// member takes a Membership step: the join or drain of st.Member, and for a
// kill-during-move step then the kill of a node of a move in flight. Once
// the change is made the step counts as injected even if no node could be
// killed: the detail says so.
func (n *nemesis) member(ctx context.Context, st chaos.Step, healAt time.Duration) (targets []string, detail string, err error) {
	switch st.Change {
	case chaos.Join:
		via, err := n.via()
		if err != nil {
			return nil, "", err
		}
		if err := n.inj.Join(ctx, st.Member, via); err != nil {
			return nil, "", err
		}
		n.nodes = append(n.nodes, st.Member)
		detail = fmt.Sprintf("join %s via %s", st.Member, via)
	case chaos.Drain:
		if !slices.Contains(n.nodes, st.Member) {
			return nil, "", fmt.Errorf("drain %s: not in the cluster (%s)", st.Member, strings.Join(n.nodes, ","))
		}
		if err := n.inj.Drain(ctx, st.Member); err != nil {
			return nil, "", err
		}
		n.draining[st.Member] = -1
		detail = "drain " + st.Member
	default:
		return nil, "", fmt.Errorf("unknown membership change %q", st.Change)
	}
	if st.Action != chaos.Kill {
		return []string{st.Member}, detail, nil
	}
	start := time.Duration(n.now())
	victim, why := n.victim(ctx, start+min(moveWaitMax, (healAt-start)*3/4))
	if victim == "" {
		return []string{st.Member}, detail + "; killed nothing: " + why, nil
	}
	if err := n.inj.Kill(ctx, victim); err != nil {
		return []string{st.Member}, fmt.Sprintf("%s; killing %s failed: %v", detail, victim, err), nil
	}
	return []string{victim}, fmt.Sprintf("kill %s, %s, after %s", victim, why, detail), nil
}

// via picks the member a joining node asks: one in the cluster and not
// being drained.
func (n *nemesis) via() (string, error) {
	var cands []string
	for _, m := range n.nodes {
		if _, gone := n.draining[m]; !gone {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("no member to join through")
	}
	return cands[n.rng.IntN(len(cands))], nil
}

// victim waits, until deadline on the run's clock, for a replica move in
// flight, and picks a node of one: the node it adds or the one it
// removes. With no move in flight by then it picks any node in the
// cluster. It returns "" only when there is none, and says why it chose.
func (n *nemesis) victim(ctx context.Context, deadline time.Duration) (string, string) {
	for {
		st, err := n.inj.Status(ctx)
		if err == nil {
			var moves []*pb.Move
			for _, m := range st.GetInFlight() {
				if slices.Contains(n.nodes, m.GetAdd()) || slices.Contains(n.nodes, m.GetRemove()) {
					moves = append(moves, m)
				}
			}
			if len(moves) > 0 {
				m := moves[n.rng.IntN(len(moves))]
				var ends []string
				for _, e := range []string{m.GetAdd(), m.GetRemove()} {
					if slices.Contains(n.nodes, e) {
						ends = append(ends, e)
					}
				}
				v := ends[n.rng.IntN(len(ends))]
				role := "adding"
				if v == m.GetRemove() {
					role = "leaving"
				}
				return v, fmt.Sprintf("%s a replica of group %d (move add %q remove %q)", role, m.GetGroup(), m.GetAdd(), m.GetRemove())
			}
		}
		if time.Duration(n.now()) >= deadline || ctx.Err() != nil {
			if len(n.nodes) == 0 {
				return "", "no node in the cluster"
			}
			why := "no move in flight in time: a random member"
			if err != nil {
				why = fmt.Sprintf("no status (%v): a random member", err)
			}
			return n.nodes[n.rng.IntN(len(n.nodes))], why
		}
		if n.wait(ctx, time.Duration(n.now())+movePoll) != nil {
			continue // ctx ended: the check above returns
		}
	}
}

// reap stops the drained nodes the cluster has removed, if it can tell
// now; otherwise a later heal, or converge, does.
func (n *nemesis) reap(ctx context.Context) {
	if len(n.draining) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, reapTimeout)
	defer cancel()
	st, err := n.inj.Status(rctx)
	if err != nil {
		n.log.Debug("nemesis: no status to look for removed nodes", "err", err)
		return
	}
	n.retireRemoved(ctx, st)
}

// retireRemoved stops, for good, the drained nodes st shows removed.
func (n *nemesis) retireRemoved(ctx context.Context, st *pb.StatusResponse) {
	for _, ns := range st.GetNodes() {
		name := ns.GetMember().GetName()
		i, ok := n.draining[name]
		if !ok || ns.GetMember().GetState() != cairncluster.NodeRemoved {
			continue
		}
		if err := n.inj.Retire(ctx, name); err != nil {
			n.log.Warn("nemesis: stopping a removed node", "node", name, "err", err)
			continue
		}
		delete(n.draining, name)
		n.nodes = slices.DeleteFunc(n.nodes, func(x string) bool { return x == name })
		at := float64(n.now()) / 1e9
		if i >= 0 {
			n.faults[i].Detail += fmt.Sprintf("; removed, and stopped at %.1fs", at)
		}
		n.log.Info("nemesis: drained node removed; stopped", "node", name)
	}
}

// heal undoes the fault in force (all faults, in fact) and closes its
// interval.
func (n *nemesis) heal(ctx context.Context, why string) {
	if err := n.inj.Heal(ctx); err != nil {
		n.log.Warn("nemesis: heal", "step", why, "err", err)
	}
	if n.open >= 0 {
		n.faults[n.open].End = n.now()
		n.log.Info("nemesis: healed", "kind", n.faults[n.open].Kind)
		n.open = -1
	}
}

// finish heals everything (whether or not a fault is in force: a node may
// have crashed on its own) and returns the faults.
func (n *nemesis) finish(ctx context.Context) []chaos.Fault {
	n.heal(ctx, "final heal")
	return n.faults
}

// converge waits, up to timeout, until the membership has settled: no
// replica move in flight or queued, every group's descriptor known, none
// under-replicated, every member up or removed, and every drained node
// removed and stopped. It says how long that took, or what was still
// pending when it gave up. Run calls it after finish, when the nemesis
// changed membership.
func (n *nemesis) converge(ctx context.Context, timeout time.Duration) *Convergence {
	start := time.Duration(n.now())
	last := ""
	for {
		st, err := n.inj.Status(ctx)
		if err == nil {
			n.retireRemoved(ctx, st)
			if last = n.pending(st); last == "" {
				return &Convergence{Seconds: roundMillis(time.Duration(n.now()) - start), Converged: true, Detail: members(st)}
			}
		} else {
			last = fmt.Sprintf("no node answered Admin.Status: %v", err)
		}
		if time.Duration(n.now())-start >= timeout || ctx.Err() != nil {
			return &Convergence{Seconds: roundMillis(time.Duration(n.now()) - start), Detail: last}
		}
		_ = n.wait(ctx, time.Duration(n.now())+convergePoll)
	}
}

// pending says what keeps st from being settled, "" when nothing does.
func (n *nemesis) pending(st *pb.StatusResponse) string {
	var parts []string
	if k := len(st.GetInFlight()); k > 0 {
		parts = append(parts, fmt.Sprintf("%d moves in flight", k))
	}
	if k := len(st.GetQueued()); k > 0 {
		parts = append(parts, fmt.Sprintf("%d queued", k))
	}
	if st.GetGroupsKnown() < st.GetGroups() {
		parts = append(parts, fmt.Sprintf("%d of %d groups known", st.GetGroupsKnown(), st.GetGroups()))
	}
	if k := st.GetUnderReplicated(); k > 0 {
		parts = append(parts, fmt.Sprintf("%d groups under-replicated", k))
	}
	for _, ns := range st.GetNodes() {
		if s := ns.GetMember().GetState(); s != cairncluster.NodeUp && s != cairncluster.NodeRemoved {
			parts = append(parts, fmt.Sprintf("%s %s with %d replicas", ns.GetMember().GetName(), s, ns.GetReplicas()))
		}
	}
	var drained []string
	for name := range n.draining {
		drained = append(drained, name)
	}
	slices.Sort(drained)
	for _, name := range drained {
		parts = append(parts, name+" drained but not removed and stopped")
	}
	return strings.Join(parts, ", ")
}

// members describes the members of st briefly: "n1 up 7, ..., j1 removed".
func members(st *pb.StatusResponse) string {
	var parts []string
	for _, ns := range st.GetNodes() {
		p := ns.GetMember().GetName() + " " + ns.GetMember().GetState()
		if ns.GetMember().GetState() != cairncluster.NodeRemoved {
			p += fmt.Sprintf(" (%d replicas)", ns.GetReplicas())
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("%s; %d moves done by meta leader %s", strings.Join(parts, ", "), st.GetMovesDone(), st.GetMetaLeader())
}
