package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/node"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// fakeAdmin is an Admin server that records its requests and answers
// with canned responses.
type fakeAdmin struct {
	pb.UnimplementedAdminServer
	plan     *pb.PlanResponse // Drain and Remove
	planErr  error
	join     *pb.JoinResponse
	statuses []*pb.StatusResponse // answered in turn; the last one again and again
	verify   *pb.VerifyResponse

	mu struct {
		sync.Mutex
		drains, removes []*pb.NodeRequest
		joins           []*pb.JoinRequest
		recovers        []*pb.UnsafeRecoverRequest
		verifies        []*pb.VerifyRequest
		statusCalls     int
	}
}

func (f *fakeAdmin) UnsafeRecover(_ context.Context, r *pb.UnsafeRecoverRequest) (*pb.UnsafeRecoverResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.recovers = append(f.mu.recovers, r)
	return &pb.UnsafeRecoverResponse{Group: 8, Partition: r.GetPartition(), Voters: []string{"n1", "n2", "n3"},
		Unreachable: []string{"n2", "n3"}, Survivor: "n1", Applied: 40, LastIndex: 42, Discarded: 2, Done: r.GetConfirm(),
		MembershipVersion: map[bool]uint64{true: 1004}[r.GetConfirm()]}, nil
}

func (f *fakeAdmin) Verify(_ context.Context, r *pb.VerifyRequest) (*pb.VerifyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.verifies = append(f.mu.verifies, r)
	return f.verify, nil
}

func (f *fakeAdmin) Drain(_ context.Context, r *pb.NodeRequest) (*pb.PlanResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.drains = append(f.mu.drains, r)
	return f.plan, f.planErr
}

func (f *fakeAdmin) Remove(_ context.Context, r *pb.NodeRequest) (*pb.PlanResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.removes = append(f.mu.removes, r)
	return f.plan, f.planErr
}

func (f *fakeAdmin) Join(_ context.Context, r *pb.JoinRequest) (*pb.JoinResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.joins = append(f.mu.joins, r)
	return f.join, nil
}

func (f *fakeAdmin) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := min(f.mu.statusCalls, len(f.statuses)-1)
	f.mu.statusCalls++
	return f.statuses[i], nil
}

// start serves f on a loopback port until the test ends.
func (f *fakeAdmin) start(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterAdminServer(srv, f)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String()
}

// runCairn runs the command line as main does and returns what it printed
// to stdout, its error line (as main prints it) and its exit status.
func runCairn(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := rootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		errb.WriteString(errorLine(err) + "\n")
		return out.String(), errb.String(), exitStatus(err)
	}
	return out.String(), errb.String(), 0
}

func fastPolls(t *testing.T) {
	old := adminPollInterval
	adminPollInterval = time.Millisecond
	t.Cleanup(func() { adminPollInterval = old })
}

var testMoves = []*pb.Move{
	{Group: 8, Partition: 7, Add: "n4", Remove: "n2"},
	{Group: 0, Partition: -1, Add: "n3", Remove: "n2"},
	{Group: 1, Partition: 0, Add: "n4"},
}

const testMovesText = `would move 3 replicas:
  partition 7 (group 8): add n4, remove n2
  meta group: add n3, remove n2
  partition 0 (group 1): add n4
`

func member(name, state string) *pb.MemberInfo {
	return &pb.MemberInfo{Name: name, State: state, GrpcAddr: name + ":7379"}
}

func TestAdminUsageErrors(t *testing.T) {
	addr := (&fakeAdmin{}).start(t)
	for _, args := range [][]string{
		{"admin", "bogus"},
		{"admin", "drain"},
		{"admin", "remove"},
		{"admin", "drain", "n1", "n2"},
		{"admin", "status", "extra"},
		{"admin", "status", "-o", "yaml"},
		{"admin", "status", "--no-such-flag"},
		{"admin", "status", "--timeout", "0s"},
		{"admin", "status", "--endpoints", ","},
		{"admin", "drain", "n2", "--dry-run", "--wait"},
		{"admin", "verify", "seven"},
		{"admin", "verify", "-1"},
		{"admin", "verify", "1", "2"},
		{"server", "--name", "n4", "--dry-run"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			full := args
			if args[0] == "admin" && !containsFlag(args, "--endpoints") {
				full = append(append([]string{}, args...), "--endpoints", addr)
			}
			out, errLine, code := runCairn(t, full...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q, stderr %q", code, out, errLine)
			}
			if args[0] == "admin" && !strings.HasPrefix(errLine, "cairn admin") {
				t.Errorf("error line %q does not name the command", errLine)
			}
		})
	}
}

func containsFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

func TestAdminMissingNodeSaysWhat(t *testing.T) {
	_, errLine, code := runCairn(t, "admin", "drain")
	if code != 2 || !strings.Contains(errLine, "cairn admin drain: missing NODE") {
		t.Fatalf("exit %d, %q; want 2 and a line naming NODE", code, errLine)
	}
}

func TestAdminDryRun(t *testing.T) {
	for _, verb := range []string{"drain", "remove"} {
		t.Run(verb, func(t *testing.T) {
			f := &fakeAdmin{plan: &pb.PlanResponse{Moves: testMoves, MetaLeader: "n1", State: "up"}}
			addr := f.start(t)
			out, errLine, code := runCairn(t, "admin", "--endpoints", addr, verb, "n2", "--dry-run")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errLine)
			}
			if out != testMovesText {
				t.Errorf("printed\n%s\nwant\n%s", out, testMovesText)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			reqs := f.mu.drains
			if verb == "remove" {
				reqs = f.mu.removes
			}
			if len(reqs) != 1 || reqs[0].GetNode() != "n2" || !reqs[0].GetDryRun() {
				t.Errorf("%s requests %v, want one dry run for n2", verb, reqs)
			}
			if f.mu.statusCalls != 0 {
				t.Errorf("a dry run asked for the status %d times", f.mu.statusCalls)
			}
		})
	}
}

func TestAdminDryRunNoMoves(t *testing.T) {
	var buf bytes.Buffer
	writeMoves(&buf, nil)
	if got := buf.String(); got != "would move 0 replicas\n" {
		t.Errorf("got %q", got)
	}
}

// The fake answers with queued moves twice, then with none: --wait polls
// three times and then prints the status.
func TestAdminDrainWait(t *testing.T) {
	fastPolls(t)
	busy := func(state string, replicas uint32) *pb.StatusResponse {
		return &pb.StatusResponse{MetaLeader: "n1", Epoch: 4, Groups: 5, GroupsKnown: 5, MovesDone: 1,
			InFlight: testMoves[:1], Queued: testMoves[1:],
			Nodes: []*pb.NodeStatus{{Member: member("n1", "up"), Replicas: 5}, {Member: member("n2", state), Replicas: replicas}}}
	}
	done := &pb.StatusResponse{MetaLeader: "n1", Epoch: 5, Groups: 5, GroupsKnown: 5, MovesDone: 4,
		Nodes: []*pb.NodeStatus{{Member: member("n1", "up"), Replicas: 5}, {Member: member("n2", cluster.NodeRemoved)}}}
	f := &fakeAdmin{
		plan:     &pb.PlanResponse{Moves: testMoves, MetaLeader: "n1", State: cluster.NodeDraining},
		statuses: []*pb.StatusResponse{busy(cluster.NodeDraining, 3), busy(cluster.NodeDraining, 2), done},
	}
	addr := f.start(t)
	out, stderr, code := runCairn(t, "admin", "--endpoints", addr, "drain", "n2", "--wait")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(out, "n2 is draining: 3 moves planned\n") {
		t.Errorf("stdout does not start with the new state:\n%s", out)
	}
	if !strings.Contains(out, "moves: 4 done, 0 in flight, 0 queued\n") {
		t.Errorf("stdout does not end with the converged status:\n%s", out)
	}
	progress := strings.Split(strings.TrimSpace(stderr), "\n")
	want := []string{
		"moves: 1 done, 1 in flight, 2 queued; n2 draining with 3 replicas",
		"moves: 1 done, 1 in flight, 2 queued; n2 draining with 2 replicas",
		"moves: 4 done, 0 in flight, 0 queued; n2 removed with 0 replicas",
	}
	if strings.Join(progress, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress\n%s\nwant\n%s", stderr, strings.Join(want, "\n"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.statusCalls != 3 {
		t.Errorf("status asked %d times, want 3", f.mu.statusCalls)
	}
	if len(f.mu.drains) != 1 || f.mu.drains[0].GetDryRun() {
		t.Errorf("drains %v, want one for real", f.mu.drains)
	}
}

// A drained node still holding replicas is not done, even with nothing
// queued (the rebalancer may not have planned yet).
func TestAdminWaitNeedsNodeEmpty(t *testing.T) {
	st := &pb.StatusResponse{Groups: 3, GroupsKnown: 3,
		Nodes: []*pb.NodeStatus{{Member: member("n2", cluster.NodeRemoved), Replicas: 1}}}
	for _, c := range []struct {
		name string
		node string
		want bool
	}{
		{"status --wait", "", true},
		{"drain still holds a replica", "n2", false},
		{"node gone from the list", "n9", true},
	} {
		if got := converged(st, c.node); got != c.want {
			t.Errorf("%s: converged = %v, want %v", c.name, got, c.want)
		}
	}
	if converged(&pb.StatusResponse{Groups: 3, GroupsKnown: 2}, "") {
		t.Error("converged with a group the rebalancer has not seen")
	}
}

func TestAdminStatusWait(t *testing.T) {
	fastPolls(t)
	busy := &pb.StatusResponse{MetaLeader: "n1", Groups: 5, GroupsKnown: 4, Queued: testMoves}
	done := &pb.StatusResponse{MetaLeader: "n1", Groups: 5, GroupsKnown: 5, MovesDone: 3}
	f := &fakeAdmin{statuses: []*pb.StatusResponse{busy, busy, done}}
	addr := f.start(t)
	out, stderr, code := runCairn(t, "admin", "status", "--wait", "--endpoints", addr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stderr, "moves: "); n != 3 {
		t.Errorf("%d progress lines, want 3:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "moves: 0 done, 0 in flight, 3 queued, 4 of 5 groups known\n") {
		t.Errorf("progress does not say what it waits for:\n%s", stderr)
	}
	if !strings.Contains(out, "moves: 3 done, 0 in flight, 0 queued") {
		t.Errorf("status not printed:\n%s", out)
	}
}

func TestAdminStatusTable(t *testing.T) {
	now := time.Unix(1000, 0)
	st := &pb.StatusResponse{MetaLeader: "n1", Epoch: 7, Groups: 65, GroupsKnown: 65, MovesDone: 3,
		PlacementRelaxed: "none",
		Nodes: []*pb.NodeStatus{
			{Member: &pb.MemberInfo{Name: "n1", State: "up", Zone: "a", Capacity: 2}, Replicas: 64, TargetReplicas: 64,
				Cap: 80, Leaders: 21, LastHeardUnixNanos: now.Add(-1200 * time.Millisecond).UnixNano()},
			{Member: &pb.MemberInfo{Name: "n4", State: "joining"}},
		},
		InFlight: testMoves[:1], Queued: testMoves[1:]}
	var buf bytes.Buffer
	writeStatus(&buf, st, now)
	want := `meta leader: n1
epoch: 7
groups: 65, 65 known, 0 under-replicated
NAME  STATE    ZONE  CAPACITY  REPLICAS  TARGET  CAP  LEADERS  LAST-HEARD
n1    up       a     2         64        64      80   21       1.2s ago
n4    joining  -     1         0         0       0    0        -
moves: 3 done, 1 in flight, 2 queued
  partition 7 (group 8): add n4, remove n2
`
	if buf.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestAdminLastHeard(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, c := range []struct {
		ago  time.Duration
		want string
	}{
		{1200 * time.Millisecond, "1.2s ago"},
		{0, "0.0s ago"},
		{-time.Second, "0.0s ago"}, // another node's clock ahead
		{3*time.Minute + 4*time.Second + 400*time.Millisecond, "3m4s ago"},
	} {
		if got := lastHeard(now.Add(-c.ago).UnixNano(), now); got != c.want {
			t.Errorf("%v ago: %q, want %q", c.ago, got, c.want)
		}
	}
	if got := lastHeard(0, now); got != "-" {
		t.Errorf("never heard: %q, want -", got)
	}
}

func TestAdminJSON(t *testing.T) {
	st := &pb.StatusResponse{MetaLeader: "n1", Epoch: 7, Groups: 2, GroupsKnown: 2,
		Nodes: []*pb.NodeStatus{{Member: member("n1", "up"), Replicas: 2, LastHeardUnixNanos: 12345}}}
	plan := &pb.PlanResponse{Moves: testMoves, MetaLeader: "n1", State: cluster.NodeDraining}
	f := &fakeAdmin{plan: plan, statuses: []*pb.StatusResponse{st}}
	addr := f.start(t)
	for _, c := range []struct {
		args []string
		want proto.Message
	}{
		{[]string{"status"}, st},
		{[]string{"drain", "n2", "--dry-run"}, plan},
		{[]string{"remove", "n2"}, plan},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out, stderr, code := runCairn(t, append([]string{"admin", "-o", "json", "--endpoints", addr}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if strings.Count(out, "\n") != 1 {
				t.Fatalf("want one line, got %q", out)
			}
			var fields map[string]any
			if err := json.Unmarshal([]byte(out), &fields); err != nil {
				t.Fatalf("not JSON: %v: %q", err, out)
			}
			if fields["meta_leader"] != "n1" {
				t.Errorf("meta_leader = %v in %q", fields["meta_leader"], out)
			}
			got := c.want.ProtoReflect().New().Interface()
			if err := protojson.Unmarshal([]byte(out), got); err != nil || !proto.Equal(got, c.want) {
				t.Errorf("read back %v (%v), want %v", got, err, c.want)
			}
		})
	}
}

func TestAdminRPCErrorVerbatim(t *testing.T) {
	const msg = "cannot drain n2: 2 live nodes would remain, fewer than the 3 replicas of each partition; add a node first"
	f := &fakeAdmin{planErr: status.Error(codes.FailedPrecondition, msg)}
	addr := f.start(t)
	out, errLine, code := runCairn(t, "admin", "--endpoints", addr, "drain", "n2")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if want := "cairn admin drain: " + msg + "\n"; errLine != want {
		t.Errorf("error line %q, want %q", errLine, want)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}

	out, _, code = runCairn(t, "admin", "--endpoints", addr, "-o", "json", "drain", "n2")
	var line struct{ Error string }
	if err := json.Unmarshal([]byte(out), &line); err != nil || line.Error != msg || code != 1 {
		t.Errorf("-o json: exit %d, %q; want exit 1 and {\"error\":%q}", code, out, msg)
	}
}

func TestAdminEndpointsTriedInOrder(t *testing.T) {
	// Reserve a port and close it, so that nothing answers there.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()

	f := &fakeAdmin{statuses: []*pb.StatusResponse{{MetaLeader: "n1"}}}
	addr := f.start(t)
	out, errLine, code := runCairn(t, "admin", "--endpoints", dead+","+addr, "status")
	if code != 0 || !strings.Contains(out, "meta leader: n1") {
		t.Fatalf("exit %d, %q, %q; want the second endpoint's status", code, out, errLine)
	}

	_, errLine, code = runCairn(t, "admin", "--endpoints", dead, "status")
	if code != 1 || !strings.HasPrefix(errLine, "cairn admin status: "+dead+": ") {
		t.Errorf("exit %d, %q; want 1 and a line naming %s", code, errLine, dead)
	}
}

func TestAdminServerJoinDryRun(t *testing.T) {
	f := &fakeAdmin{join: &pb.JoinResponse{ClusterId: "c1", Moves: testMoves}}
	addr := f.start(t)
	dir := t.TempDir()
	out, stderr, code := runCairn(t, "server", "--name", "n4", "--data-dir", dir, "--grpc-addr", "127.0.0.1:7390",
		"--join", addr, "--dry-run", "--capacity", "2", "--zone", "z1", "--vnodes", "64", "--log-level", "error")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if out != testMovesText {
		t.Errorf("printed\n%s\nwant\n%s", out, testMovesText)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := &pb.JoinRequest{Name: "n4", GrpcAddr: "127.0.0.1:7390", Capacity: 2, Zone: "z1", DryRun: true,
		Settings: &pb.ClusterSettings{Vnodes: 64}} // only the settings given
	if len(f.mu.joins) != 1 || !proto.Equal(f.mu.joins[0], want) {
		t.Errorf("joins %v, want %v", f.mu.joins, want)
	}
}

func TestAdminServerFlags(t *testing.T) {
	cmd := serverCmd()
	if err := cmd.Flags().Parse([]string{"--name", "n4", "--join", "10.0.0.1:7379", "--capacity", "2.5", "--zone", "eu-1",
		"--vnodes", "64", "--load-factor", "1.5", "--dead-after", "10s", "--max-concurrent-moves", "4", "--snapshot-rate", "64MiB/s"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := serverConfig(cmd, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Join != "10.0.0.1:7379" || cfg.Capacity != 2.5 || cfg.Zone != "eu-1" || cfg.Settings.VNodes != 64 ||
		cfg.Settings.LoadFactor != 1.5 || cfg.DeadAfter != 10*time.Second || cfg.MaxConcurrentMoves != 4 || cfg.SnapshotRate != 64<<20 {
		t.Errorf("config %+v", cfg)
	}

	cmd = serverCmd()
	if err := cmd.Flags().Parse([]string{"--name", "n1"}); err != nil {
		t.Fatal(err)
	}
	cfg, err = serverConfig(cmd, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Join != "" || cfg.Capacity != 1 || cfg.Zone != "" || cfg.Settings.VNodes != cluster.DefaultVNodes ||
		cfg.Settings.LoadFactor != cluster.DefaultLoadFactor || cfg.DeadAfter != 30*time.Second ||
		cfg.MaxConcurrentMoves != node.DefaultMaxConcurrentMoves || cfg.SnapshotRate != node.DefaultSnapshotRate {
		t.Errorf("defaults %+v", cfg)
	}
}

func TestAdminServerFlagsRefuseNonsense(t *testing.T) {
	for _, args := range [][]string{
		{"--join", "10.0.0.1"},
		{"--join", ":7379"},
		{"--join", "10.0.0.1:0"},
		{"--join", "10.0.0.1:http"},
		{"--capacity", "0"},
		{"--capacity", "-1"},
		{"--zone", "eu 1"},
		{"--vnodes", "0"},
		{"--load-factor", "0.5"},
		{"--dead-after", "0s"},
		{"--max-concurrent-moves", "0"},
		{"--snapshot-rate", "lots"},
		{"--snapshot-rate", "0"},
		{"--dry-run"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := serverCmd()
			if err := cmd.Flags().Parse(append([]string{"--name", "n4"}, args...)); err != nil {
				t.Fatal(err)
			}
			_, err := serverConfig(cmd, map[string]bool{})
			if exitStatus(err) != 2 {
				t.Fatalf("%v: exit %d (%v), want 2", args, exitStatus(err), err)
			}
			if flag := strings.TrimPrefix(args[0], "--"); !strings.Contains(err.Error(), "--"+flag) {
				t.Errorf("%q does not name --%s", err, flag)
			}
		})
	}
}

// unsafe-recover reports first, changes nothing unless the partition number
// is typed back (or --yes), and --dry-run stops after the report.
func TestAdminUnsafeRecover(t *testing.T) {
	run := func(t *testing.T, stdin string, args ...string) (*fakeAdmin, string, string, int) {
		f := &fakeAdmin{}
		addr := f.start(t)
		root := rootCmd()
		var out, errb bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errb)
		root.SetIn(strings.NewReader(stdin))
		root.SetArgs(append([]string{"admin", "--endpoints", addr, "unsafe-recover"}, args...))
		code := 0
		if err := root.Execute(); err != nil {
			errb.WriteString(errorLine(err) + "\n")
			code = exitStatus(err)
		}
		return f, out.String(), errb.String(), code
	}
	confirms := func(f *fakeAdmin) (n int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, r := range f.mu.recovers {
			if r.GetConfirm() {
				n++
			}
		}
		return n
	}
	t.Run("typed back", func(t *testing.T) {
		f, out, errs, code := run(t, "7\n", "7")
		if code != 0 || confirms(f) != 1 || !strings.Contains(out, "partition 7 recovered on n1") {
			t.Fatalf("code %d, confirms %d, out %q, err %q", code, confirms(f), out, errs)
		}
		for _, want := range []string{"not answering: n2, n3", "recovered from n1", "2 entries above that are dropped", "Type the partition number (7)"} {
			if !strings.Contains(errs, want) {
				t.Errorf("the report lacks %q: %s", want, errs)
			}
		}
	})
	t.Run("not confirmed", func(t *testing.T) {
		f, _, errs, code := run(t, "8\n", "7")
		if code != 1 || confirms(f) != 0 || !strings.Contains(errs, "not confirmed: nothing changed") {
			t.Fatalf("code %d, confirms %d, err %q", code, confirms(f), errs)
		}
	})
	t.Run("yes", func(t *testing.T) {
		f, _, _, code := run(t, "", "7", "--yes")
		if code != 0 || confirms(f) != 1 {
			t.Fatalf("code %d, confirms %d", code, confirms(f))
		}
	})
	t.Run("dry run", func(t *testing.T) {
		f, out, _, code := run(t, "", "7", "--dry-run")
		if code != 0 || confirms(f) != 0 || !strings.Contains(out, "recovered from n1") {
			t.Fatalf("code %d, confirms %d, out %q", code, confirms(f), out)
		}
	})
	t.Run("bad partition", func(t *testing.T) {
		_, _, errs, code := run(t, "", "x")
		if code != 2 || !strings.Contains(errs, "want a partition number") {
			t.Fatalf("code %d, err %q", code, errs)
		}
	})
}
