package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// fakeInjector records what the nemesis asks for.
type fakeInjector struct {
	calls     []string
	leader    string
	leaderErr error
	cutErr    error
	joinErr   error
	// status answers Status; nil: an error. Its calls are counted, not
	// recorded: how often the nemesis polls depends on its clock.
	status   func() (*pb.StatusResponse, error)
	statuses int
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

func (f *fakeInjector) Join(_ context.Context, name, via string) error {
	f.calls = append(f.calls, "join "+name+" via "+via)
	return f.joinErr
}

func (f *fakeInjector) Drain(_ context.Context, n string) error {
	f.calls = append(f.calls, "drain "+n)
	return nil
}

func (f *fakeInjector) Status(context.Context) (*pb.StatusResponse, error) {
	f.statuses++
	if f.status == nil {
		return nil, errors.New("no status")
	}
	return f.status()
}

func (f *fakeInjector) Retire(_ context.Context, n string) error {
	f.calls = append(f.calls, "retire "+n)
	return nil
}

// called reports whether call was made.
func (f *fakeInjector) called(call string) bool { return slices.Contains(f.calls, call) }

// node is a NodeStatus for a fake Status.
func node(name, state string, replicas uint32) *pb.NodeStatus {
	return &pb.NodeStatus{Member: &pb.MemberInfo{Name: name, State: state}, Replicas: replicas}
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
	nem, err := chaos.ParseNemesis("all,membership")
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

// Membership steps: a join starts a node through a member, a
// kill-during-move kills a node of the move in flight (or, when none comes
// in time, any member), a drain is followed by the stop of the node once
// the cluster shows it removed, a leader isolated later is cut off from the
// joined nodes too, and converge waits for the moves to end.
func TestNemesisMembership(t *testing.T) {
	s := time.Second
	steps := []chaos.Step{
		{At: 1 * s, Kind: chaos.Membership, Action: chaos.Join, Change: chaos.Join, Member: "j1"},
		{At: 2 * s, Heal: true, Kind: chaos.Membership, Action: chaos.Join},
		{At: 3 * s, Kind: chaos.Membership, Action: chaos.Kill, Change: chaos.Join, Member: "j2"},
		{At: 6 * s, Heal: true, Kind: chaos.Membership, Action: chaos.Kill},
		{At: 7 * s, Kind: chaos.Leader, Action: chaos.Partition},
		{At: 8 * s, Heal: true, Kind: chaos.Leader, Action: chaos.Partition},
		{At: 9 * s, Kind: chaos.Membership, Action: chaos.Drain, Change: chaos.Drain, Member: "j1"},
		{At: 10 * s, Heal: true, Kind: chaos.Membership, Action: chaos.Drain},
		{At: 11 * s, Kind: chaos.Membership, Action: chaos.Kill, Change: chaos.Drain, Member: "j2"},
		{At: 15 * s, Heal: true, Kind: chaos.Membership, Action: chaos.Kill},
	}
	inj := &fakeInjector{leader: "n2"}
	settled := false
	inj.status = func() (*pb.StatusResponse, error) {
		st := &pb.StatusResponse{Groups: 9, GroupsKnown: 9, MetaLeader: "n1",
			Nodes: []*pb.NodeStatus{node("n1", "up", 7), node("n2", "up", 7), node("n3", "up", 7)}}
		switch {
		case inj.called("drain j2") && settled:
			st.Nodes = append(st.Nodes, node("j1", "removed", 0), node("j2", "removed", 0))
		case inj.called("drain j2"):
			st.Nodes = append(st.Nodes, node("j1", "removed", 0), node("j2", "draining", 2))
			st.Queued = []*pb.Move{{Group: 4, Add: "n3", Remove: "j2"}}
		case inj.called("drain j1"):
			st.Nodes = append(st.Nodes, node("j1", "removed", 0), node("j2", "up", 6))
		case inj.called("join j2 via n1"), inj.called("join j2 via n2"), inj.called("join j2 via n3"), inj.called("join j2 via j1"):
			st.Nodes = append(st.Nodes, node("j1", "up", 6), node("j2", "joining", 0))
			st.InFlight = []*pb.Move{{Group: 3, Partition: 2, Add: "j2", Remove: "n1"}}
		}
		return st, nil
	}
	n := fakeNemesis(inj)
	ctx := context.Background()
	if err := n.run(ctx, steps); err != nil {
		t.Fatal(err)
	}
	faults := n.finish(ctx)

	// Which member a node joins through and which end of a move is
	// killed are drawn from the seed; accept any of the right ones.
	got := slices.Clone(inj.calls)
	for i, c := range got {
		switch {
		case strings.HasPrefix(c, "join j1 via n"):
			got[i] = "join j1 via *"
		case strings.HasPrefix(c, "join j2 via "):
			got[i] = "join j2 via *"
		case i > 0 && strings.HasPrefix(got[i-1], "join j2") && (c == "kill j2" || c == "kill n1"):
			got[i] = "kill j2|n1"
		case i > 0 && got[i-1] == "drain j2" && strings.HasPrefix(c, "kill "):
			got[i] = "kill *"
		}
	}
	want := []string{
		"join j1 via *", "heal",
		"join j2 via *", "kill j2|n1", "heal",
		"leader?", "cut j1>n2 j2>n2 n1>n2 n2>j1 n2>j2 n2>n1 n2>n3 n3>n2", "heal",
		"drain j1", "heal", "retire j1",
		"drain j2", "kill *", "heal",
		"heal", // finish
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls:\n got %q\nwant %q", inj.calls, want)
	}
	if !slices.Contains([]string{"kill n1", "kill n2", "kill n3", "kill j2"}, inj.calls[12]) {
		t.Errorf("the kill after drain j2 hit %q, not a member", inj.calls[12])
	}
	if len(faults) != 5 {
		t.Fatalf("faults %+v", faults)
	}
	for i, w := range []struct {
		kind       chaos.FaultKind
		start, end time.Duration
		detail     string
	}{
		{chaos.Membership, 1 * s, 2 * s, "join j1 via "},
		{chaos.Membership, 3 * s, 6 * s, "replica of group 3 (move add \"j2\" remove \"n1\"), after join j2 via "},
		{chaos.Leader, 7 * s, 8 * s, "isolate the leader n2"},
		{chaos.Membership, 9 * s, 10 * s, "drain j1; removed, and stopped at 10.0s"},
		{chaos.Membership, 11 * s, 15 * s, "no move in flight in time: a random member, after drain j2"},
	} {
		f := faults[i]
		if f.Kind != w.kind || f.Start != int64(w.start) || f.End != int64(w.end) || !strings.Contains(f.Detail, w.detail) {
			t.Errorf("fault %d = %+v, want %s over [%v, %v] with %q", i, f, w.kind, w.start, w.end, w.detail)
		}
	}
	if faults[0].Node != "j1" || faults[3].Node != "j1" {
		t.Errorf("join and drain faults name %q and %q, want j1", faults[0].Node, faults[3].Node)
	}
	if d := faults[4].Detail; !strings.HasPrefix(d, "kill ") {
		t.Errorf("detail %q", d)
	}

	// j2 is still draining: converge waits for it, stops it, and says how
	// long that took on the run's clock.
	before := inj.statuses
	calls := 0
	inner := inj.status
	inj.status = func() (*pb.StatusResponse, error) {
		if calls++; calls == 3 {
			settled = true
		}
		return inner()
	}
	c := n.converge(ctx, time.Minute)
	if !c.Converged || c.Seconds != 0.5 || !strings.Contains(c.Detail, "j2 removed") || inj.statuses-before != 3 {
		t.Fatalf("converge = %+v after %d status calls", c, inj.statuses-before)
	}
	if inj.calls[len(inj.calls)-1] != "retire j2" || slices.Contains(n.nodes, "j2") || slices.Contains(n.nodes, "j1") {
		t.Fatalf("j2 not retired: calls %q, nodes %q", inj.calls, n.nodes)
	}
}

// A cluster that never settles fails converge, which says what was left;
// a join that fails is not recorded and leaves the node list as it was.
func TestNemesisMembershipFailures(t *testing.T) {
	s := time.Second
	inj := &fakeInjector{joinErr: errors.New("no ports")}
	inj.status = func() (*pb.StatusResponse, error) {
		return &pb.StatusResponse{Groups: 9, GroupsKnown: 8, UnderReplicated: 1,
			Nodes:    []*pb.NodeStatus{node("n1", "up", 7), node("n2", "up", 7), node("n3", "down", 7)},
			InFlight: []*pb.Move{{Group: 2, Add: "n1"}}}, nil
	}
	n := fakeNemesis(inj)
	ctx := context.Background()
	steps := []chaos.Step{
		{At: 1 * s, Kind: chaos.Membership, Action: chaos.Join, Change: chaos.Join, Member: "j1"},
		{At: 2 * s, Heal: true, Kind: chaos.Membership, Action: chaos.Join},
		{At: 3 * s, Kind: chaos.Membership, Action: chaos.Drain, Change: chaos.Drain, Member: "j1"},
		{At: 4 * s, Heal: true, Kind: chaos.Membership, Action: chaos.Drain},
	}
	if err := n.run(ctx, steps); err != nil {
		t.Fatal(err)
	}
	if faults := n.finish(ctx); len(faults) != 0 {
		t.Fatalf("recorded %+v; want nothing", faults)
	}
	if !slices.Equal(n.nodes, []string{"n1", "n2", "n3"}) || inj.called("drain j1") {
		t.Fatalf("nodes %q, calls %q", n.nodes, inj.calls)
	}
	c := n.converge(ctx, 5*time.Second)
	if c.Converged || c.Seconds < 5 {
		t.Fatalf("converge = %+v", c)
	}
	for _, want := range []string{"1 moves in flight", "8 of 9 groups known", "1 groups under-replicated", "n3 down"} {
		if !strings.Contains(c.Detail, want) {
			t.Errorf("detail %q lacks %q", c.Detail, want)
		}
	}
	res := &Result{Summary: chaos.Summary{Verdict: chaos.VerdictOk}, Converge: c}
	if res.Passed() || !strings.Contains(res.Problem(), "did not settle") {
		t.Fatalf("an unsettled run passed: %q", res.Problem())
	}
	var line bytes.Buffer
	if err := res.WriteJSON(&line); err != nil || !strings.Contains(line.String(), `"converged":false`) || !strings.Contains(line.String(), `"converge_seconds":5`) {
		t.Fatalf("summary %s (%v)", line.String(), err)
	}
	res.Converge = &Convergence{Seconds: 1.5, Converged: true, Detail: "n1 up (9 replicas)"}
	line.Reset()
	if err := res.WriteJSON(&line); err != nil || !res.Passed() || !strings.Contains(line.String(), `"converge_seconds":1.5,"converged":true`) {
		t.Fatalf("summary %s (%v)", line.String(), err)
	}
	res.Converge = nil
	line.Reset()
	if err := res.WriteJSON(&line); err != nil || strings.Contains(line.String(), "converge") {
		t.Fatalf("a run without membership reports convergence: %s (%v)", line.String(), err)
	}
}
