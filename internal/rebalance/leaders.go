package rebalance

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
)

// Leader balancing (DESIGN.md, Placement): a partition's preferred leader
// is the first node of its placement. A node leading a group whose
// preferred leader is another healthy voter hands leadership to it, so
// leaders spread as the ring spreads first replicas.

// preferredHealthyFor is how many balancing passes in a row the preferred
// replica must look healthy before leadership moves to it, so a node that
// flaps does not pull leadership back and forth.
const preferredHealthyFor = 2

// balanceLeaders runs a balancing pass every interval until ctx ends.
func (r *Rebalancer) balanceLeaders(ctx context.Context, interval time.Duration) {
	healthy := map[replica.GroupID]int{}
	r.every(ctx, interval, func(ctx context.Context) {
		if r.node.Draining() {
			return
		}
		r.balanceLeadersOnce(ctx, interval, healthy)
	})
}

// balanceLeadersOnce is one balancing pass; healthy counts, per group, the
// passes in a row its preferred replica looked healthy. Each transfer is
// bounded by timeout.
func (r *Rebalancer) balanceLeadersOnce(ctx context.Context, timeout time.Duration, healthy map[replica.GroupID]int) {
	for _, gid := range r.node.Groups() {
		to, ok := r.preferredTarget(gid)
		if !ok {
			delete(healthy, gid)
			continue
		}
		if healthy[gid]++; healthy[gid] < preferredHealthyFor {
			continue
		}
		delete(healthy, gid)
		g, ok := r.node.Group(gid)
		if !ok {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, timeout)
		err := g.TransferLeader(tctx, to)
		cancel()
		if err != nil {
			r.log.Debug("moving leadership to the preferred replica", "group", gid, "to", to, "err", err)
		} else {
			r.leaderMoves.Inc()
		}
	}
}

// preferredTarget returns the preferred replica of group gid when this
// node leads the group, the preferred leader is another node, and that
// replica is a voter that is active and caught up.
func (r *Rebalancer) preferredTarget(gid replica.GroupID) (replica.ReplicaID, bool) {
	mv, _ := r.node.View()
	t := mv.targetOf(gid)
	if len(t) == 0 || t[0] == r.node.Name() {
		return 0, false
	}
	pref := t[0]
	if r.node.Cut(pref) {
		return 0, false
	}
	g, ok := r.node.Group(gid)
	if !ok {
		return 0, false
	}
	st := g.Status()
	if st.State != replica.StateLeader {
		return 0, false
	}
	m, ok := st.Descriptor.ReplicaOn(pref)
	if !ok || m.Role != replica.RoleVoter {
		return 0, false
	}
	pr, ok := st.Progress[m.ID]
	if !ok || !pr.Active || !pr.CaughtUp || pr.LagEntries > 0 {
		return 0, false
	}
	return m.ID, true
}

// handOffTimeout bounds one group's hand-off at shutdown.
const handOffTimeout = 3 * time.Second

// HandOff hands every group that local leads to its most caught-up other
// voter, all at once, and waits for them (each bounded by ctx and a few
// seconds): a node about to stop does so, so its groups elect no leader
// after an election timeout of silence. A failed hand-off is logged.
func HandOff(ctx context.Context, local Local, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, gid := range local.Groups() {
		g, ok := local.Group(gid)
		if !ok {
			continue
		}
		st := g.Status()
		if st.State != replica.StateLeader {
			continue
		}
		var to replica.ReplicaID
		var best uint64
		for id, pr := range st.Progress {
			if m, ok := st.Descriptor.Replica(id); ok && id != st.Replica && m.Role == replica.RoleVoter && pr.Match >= best {
				to, best = id, pr.Match
			}
		}
		if to == 0 {
			continue
		}
		wg.Go(func() {
			tctx, cancel := context.WithTimeout(ctx, handOffTimeout)
			defer cancel()
			if err := g.TransferLeader(tctx, to); err != nil {
				log.Warn("handing leadership away before stopping", "group", gid, "err", err)
			}
		})
	}
	wg.Wait()
}
