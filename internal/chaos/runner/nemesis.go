package runner

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
)

// diskDelays are the fsync delays a disk step draws from. NB: the schedule's
// DiskMode (full, fail) has no counterpart in the FaultInjection service,
// which offers slow fsync only, so every disk step is a slow disk.
var diskDelays = []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond}

// nemesis walks a schedule against an injector and records the faults on
// the history's clock.
type nemesis struct {
	inj   injector
	nodes []string
	rng   *rand.Rand   // disk delays; from the run's seed
	now   func() int64 // the history's clock
	// wait returns at at (from the start of the run), or with ctx's error.
	wait func(ctx context.Context, at time.Duration) error
	log  *slog.Logger

	faults []chaos.Fault
	open   int // index in faults of the fault in force, -1 when none
}

func newNemesis(inj injector, nodes []string, seed int64, now func() int64, wait func(context.Context, time.Duration) error, log *slog.Logger) *nemesis {
	return &nemesis{inj: inj, nodes: nodes, rng: rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973)), // "nemesis"
		now: now, wait: wait, log: log, open: -1}
}

// run takes the steps in order, each at its time, until they are done or
// ctx ends. A step that cannot be taken is logged and skipped (a fault that
// could not be injected is not recorded); the heals that follow, and the
// final heal (finish), undo whatever part of it took.
func (n *nemesis) run(ctx context.Context, steps []chaos.Step) error {
	for _, st := range steps {
		if err := n.wait(ctx, st.At); err != nil {
			return err
		}
		if st.Heal {
			n.heal(ctx, st.String())
			continue
		}
		n.inject(ctx, st)
	}
	return nil
}

func (n *nemesis) inject(ctx context.Context, st chaos.Step) {
	if n.open >= 0 { // the schedule heals before each fault; be safe anyway
		n.heal(ctx, "heal before "+st.String())
	}
	start := n.now()
	targets := st.Nodes
	detail := ""
	err := func() error {
		if st.TargetsLeader() {
			leader, err := n.inj.Leader(ctx)
			if err != nil {
				return err
			}
			targets = []string{leader}
		}
		switch st.Action {
		case chaos.Kill:
			for _, t := range targets {
				if err := n.inj.Kill(ctx, t); err != nil {
					return err
				}
			}
		case chaos.Pause:
			for _, t := range targets {
				if err := n.inj.Pause(ctx, t); err != nil {
					return err
				}
			}
		case chaos.Partition:
			cut := st.Cut
			if cut == nil { // a leader step: isolate the leader
				c := chaos.Isolate(n.nodes, targets[0])
				cut = &c
			}
			detail = "partition " + cut.String()
			return n.inj.Cut(ctx, *cut)
		case chaos.Clock:
			for _, t := range targets {
				if err := n.inj.SetClock(ctx, t, st.ClockOffset); err != nil {
					return err
				}
			}
		case chaos.Disk:
			d := diskDelays[n.rng.IntN(len(diskDelays))]
			detail = fmt.Sprintf("slow disk: every fsync +%v on %s", d, strings.Join(targets, ","))
			for _, t := range targets {
				if err := n.inj.SetDiskDelay(ctx, t, d); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unknown action %q", st.Action)
		}
		return nil
	}()
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
	n.log.Info("nemesis: fault", "kind", f.Kind, "nodes", f.Node, "detail", f.Detail)
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
