package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
)

// fakeInjector records what the nemesis asks for.
type fakeInjector struct {
	calls     []string
	leader    string
	leaderErr error
	cutErr    error
}

func (f *fakeInjector) Kill(_ context.Context, n string) error {
	f.calls = append(f.calls, "kill "+n)
	return nil
}

func (f *fakeInjector) Pause(_ context.Context, n string) error {
	f.calls = append(f.calls, "pause "+n)
	return nil
}

func (f *fakeInjector) Cut(_ context.Context, c chaos.Cut) error {
	var ls []string
	for _, l := range c.Links {
		ls = append(ls, l.From+">"+l.To)
	}
	f.calls = append(f.calls, "cut "+strings.Join(ls, " "))
	return f.cutErr
}

func (f *fakeInjector) SetClock(_ context.Context, n string, d time.Duration) error {
	f.calls = append(f.calls, fmt.Sprintf("clock %s %v", n, d))
	return nil
}

func (f *fakeInjector) SetDiskDelay(_ context.Context, n string, d time.Duration) error {
	f.calls = append(f.calls, fmt.Sprintf("disk %s %v", n, d))
	return nil
}

func (f *fakeInjector) Leader(context.Context) (string, error) {
	f.calls = append(f.calls, "leader?")
	return f.leader, f.leaderErr
}

func (f *fakeInjector) Heal(context.Context) error {
	f.calls = append(f.calls, "heal")
	return nil
}

// fakeNemesis runs on a clock that jumps to each step's time: no sleeping.
func fakeNemesis(inj injector) *nemesis {
	var clock time.Duration
	return newNemesis(inj, []string{"n1", "n2", "n3"}, 1,
		func() int64 { return int64(clock) },
		func(ctx context.Context, at time.Duration) error {
			if at < clock {
				return fmt.Errorf("time went back from %v to %v", clock, at)
			}
			clock = at
			return ctx.Err()
		}, slog.New(slog.DiscardHandler))
}

func TestNemesisTakesEachStep(t *testing.T) {
	s := time.Second
	cut := chaos.Isolate([]string{"n1", "n2", "n3"}, "n3")
	steps := []chaos.Step{
		{At: 1 * s, Kind: chaos.Kill, Action: chaos.Kill, Nodes: []string{"n1", "n2"}},
		{At: 2 * s, Heal: true, Kind: chaos.Kill, Action: chaos.Kill},
		{At: 3 * s, Kind: chaos.Pause, Action: chaos.Pause, Nodes: []string{"n2"}},
		{At: 4 * s, Heal: true, Kind: chaos.Pause, Action: chaos.Pause},
		{At: 5 * s, Kind: chaos.Partition, Action: chaos.Partition, Cut: &cut},
		{At: 6 * s, Heal: true, Kind: chaos.Partition, Action: chaos.Partition},
		{At: 7 * s, Kind: chaos.Leader, Action: chaos.Partition},
		{At: 8 * s, Heal: true, Kind: chaos.Leader, Action: chaos.Partition},
		{At: 9 * s, Kind: chaos.Leader, Action: chaos.Kill},
		{At: 10 * s, Heal: true, Kind: chaos.Leader, Action: chaos.Kill},
		{At: 11 * s, Kind: chaos.Clock, Action: chaos.Clock, Nodes: []string{"n3"}, ClockOffset: -400 * time.Millisecond},
		{At: 12 * s, Heal: true, Kind: chaos.Clock, Action: chaos.Clock},
		{At: 13 * s, Kind: chaos.Disk, Action: chaos.Disk, Nodes: []string{"n1"}, Disk: chaos.DiskFail},
		{At: 14 * s, Heal: true, Kind: chaos.Disk, Action: chaos.Disk},
	}
	inj := &fakeInjector{leader: "n2"}
	n := fakeNemesis(inj)
	if err := n.run(context.Background(), steps); err != nil {
		t.Fatal(err)
	}
	faults := n.finish(context.Background())

	want := []string{
		"kill n1", "kill n2", "heal",
		"pause n2", "heal",
		"cut n1>n3 n2>n3 n3>n1 n3>n2", "heal",
		"leader?", "cut n1>n2 n2>n1 n2>n3 n3>n2", "heal",
		"leader?", "kill n2", "heal",
		"clock n3 -400ms", "heal",
		"disk n1 " + diskDelays[0].String(), "heal",
		"heal", // finish
	}
	// The disk delay is drawn from the seed; accept any of them.
	got := slices.Clone(inj.calls)
	for i, c := range got {
		if strings.HasPrefix(c, "disk n1 ") && slices.ContainsFunc(diskDelays, func(d time.Duration) bool { return c == "disk n1 "+d.String() }) {
			got[i] = want[i]
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls:\n got %q\nwant %q", inj.calls, want)
	}

	wantFaults := []struct {
		kind       chaos.FaultKind
		node       string
		start, end time.Duration
	}{
		{chaos.Kill, "n1,n2", 1 * s, 2 * s},
		{chaos.Pause, "n2", 3 * s, 4 * s},
		{chaos.Partition, "n3", 5 * s, 6 * s},
		{chaos.Leader, "n2", 7 * s, 8 * s},
		{chaos.Leader, "n2", 9 * s, 10 * s},
		{chaos.Clock, "n3", 11 * s, 12 * s},
		{chaos.Disk, "n1", 13 * s, 14 * s},
	}
	if len(faults) != len(wantFaults) {
		t.Fatalf("%d faults recorded, want %d: %+v", len(faults), len(wantFaults), faults)
	}
	for i, w := range wantFaults {
		f := faults[i]
		if f.Kind != w.kind || f.Node != w.node || f.Start != int64(w.start) || f.End != int64(w.end) {
			t.Errorf("fault %d = %+v, want %s on %s over [%v, %v]", i, f, w.kind, w.node, w.start, w.end)
		}
	}
	if d := faults[3].Detail; d != "isolate the leader n2" {
		t.Errorf("leader partition detail %q", d)
	}
	if d := faults[6].Detail; !strings.Contains(d, "fsync") {
		t.Errorf("disk detail %q does not say what was done", d)
	}
}

// A fault that cannot be injected is healed at once and not recorded.
func TestNemesisSkipsAFaultItCannotInject(t *testing.T) {
	s := time.Second
	cut := chaos.Isolate([]string{"n1", "n2", "n3"}, "n1")
	steps := []chaos.Step{
		{At: 1 * s, Kind: chaos.Leader, Action: chaos.Kill},
		{At: 2 * s, Heal: true, Kind: chaos.Leader, Action: chaos.Kill},
		{At: 3 * s, Kind: chaos.Partition, Action: chaos.Partition, Cut: &cut},
		{At: 4 * s, Heal: true, Kind: chaos.Partition, Action: chaos.Partition},
	}
	inj := &fakeInjector{leaderErr: errors.New("no leader"), cutErr: errors.New("unreachable")}
	n := fakeNemesis(inj)
	if err := n.run(context.Background(), steps); err != nil {
		t.Fatal(err)
	}
	if faults := n.finish(context.Background()); len(faults) != 0 {
		t.Fatalf("recorded %+v; want nothing", faults)
	}
	want := []string{"leader?", "heal", "heal", "cut n1>n2 n1>n3 n2>n1 n3>n1", "heal", "heal", "heal"}
	if !slices.Equal(inj.calls, want) {
		t.Fatalf("calls:\n got %q\nwant %q", inj.calls, want)
	}
}

// A whole generated schedule runs through: every fault step is recorded with
// its step's times, and the run ends healed.
func TestNemesisFollowsAGeneratedSchedule(t *testing.T) {
	nem, err := chaos.ParseNemesis("all")
	if err != nil {
		t.Fatal(err)
	}
	sched, err := chaos.GenerateSchedule(chaos.ScheduleConfig{Seed: 42, Duration: 5 * time.Minute, Nodes: []string{"n1", "n2", "n3"}, Nemesis: nem})
	if err != nil {
		t.Fatal(err)
	}
	inj := &fakeInjector{leader: "n1"}
	n := fakeNemesis(inj)
	ctx := context.Background()
	if err := n.run(ctx, sched.Steps); err != nil {
		t.Fatal(err)
	}
	faults := n.finish(ctx)
	var faultSteps []chaos.Step
	for i, st := range sched.Steps {
		if !st.Heal {
			faultSteps = append(faultSteps, st)
			if !sched.Steps[i+1].Heal {
				t.Fatalf("step %d is not followed by a heal", i)
			}
		}
	}
	if len(faults) != len(faultSteps) || len(faults) < 5 {
		t.Fatalf("%d faults recorded for %d fault steps", len(faults), len(faultSteps))
	}
	for i, f := range faults {
		if f.Kind != faultSteps[i].Kind || f.Start != int64(faultSteps[i].At) || f.End <= f.Start {
			t.Errorf("fault %d = %+v for step %v", i, f, faultSteps[i])
		}
	}
	if inj.calls[len(inj.calls)-1] != "heal" {
		t.Fatalf("the run did not end with a heal: %q", inj.calls)
	}
}

// Cancelling the run stops the nemesis at its next wait.
func TestNemesisStopsWhenCancelled(t *testing.T) {
	inj := &fakeInjector{}
	n := fakeNemesis(inj)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	steps := []chaos.Step{{At: time.Second, Kind: chaos.Kill, Action: chaos.Kill, Nodes: []string{"n1"}}}
	if err := n.run(ctx, steps); !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v, want context.Canceled", err)
	}
	if len(inj.calls) != 0 {
		t.Fatalf("calls after cancel: %q", inj.calls)
	}
}
