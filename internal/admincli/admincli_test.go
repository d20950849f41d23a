package admincli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/admincli/admintest"
	"github.com/cairnkv/cairn/internal/cluster"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runAdmin runs cmd against addr with table output, the default timeout
// and fast polls unless o says otherwise, and returns what it printed to
// Out and Err.
func runAdmin(t *testing.T, addr string, o Options, cmd string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	o.Out, o.Err = &out, &errb
	if o.Endpoints == nil {
		o.Endpoints = []string{addr}
	}
	if o.Output == "" {
		o.Output = "table"
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Millisecond
	}
	err = Run(context.Background(), o, cmd, args)
	return out.String(), errb.String(), err
}

func member(name, state string) *pb.MemberInfo {
	return &pb.MemberInfo{Name: name, State: state, GrpcAddr: name + ":7379"}
}

func TestUsageErrors(t *testing.T) {
	addr := (&admintest.Fake{}).Start(t)
	for _, c := range []struct {
		name string
		o    Options
		cmd  string
		args []string
	}{
		{"unknown command", Options{}, "bogus", nil},
		{"-o yaml", Options{Output: "yaml"}, "status", nil},
		{"--timeout 0s", Options{Timeout: -1}, "status", nil},
		{"--endpoints ,", Options{Endpoints: []string{"", " "}}, "status", nil},
		{"--dry-run --wait", Options{DryRun: true, Wait: true}, "drain", []string{"n2"}},
		{"verify seven", Options{}, "verify", []string{"seven"}},
		{"verify -1", Options{}, "verify", []string{"-1"}},
		{"unsafe-recover x", Options{}, "unsafe-recover", []string{"x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, _, err := runAdmin(t, addr, c.o, c.cmd, c.args...)
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("err = %v, want a usage error; stdout %q", err, out)
			}
		})
	}
	// Under -o json even a usage error prints its line.
	out, _, err := runAdmin(t, addr, Options{Output: "json", Endpoints: []string{"", ""}}, "status")
	if !errors.Is(err, ErrUsage) || out != `{"error":"--endpoints: want at least one gRPC address, e.g. 127.0.0.1:7379"}`+"\n" {
		t.Fatalf("-o json --endpoints ,: %v, %q", err, out)
	}
}

func TestDryRun(t *testing.T) {
	for _, verb := range []string{"drain", "remove"} {
		t.Run(verb, func(t *testing.T) {
			f := &admintest.Fake{Plan: &pb.PlanResponse{Moves: admintest.Moves, MetaLeader: "n1", State: "up"}}
			addr := f.Start(t)
			out, _, err := runAdmin(t, addr, Options{DryRun: true}, verb, "n2")
			if err != nil {
				t.Fatal(err)
			}
			if out != admintest.MovesText {
				t.Errorf("printed\n%s\nwant\n%s", out, admintest.MovesText)
			}
			reqs := f.Requests().Drains
			if verb == "remove" {
				reqs = f.Requests().Removes
			}
			if len(reqs) != 1 || reqs[0].GetNode() != "n2" || !reqs[0].GetDryRun() {
				t.Errorf("%s requests %v, want one dry run for n2", verb, reqs)
			}
			if f.Requests().StatusCalls != 0 {
				t.Errorf("a dry run asked for the status %d times", f.Requests().StatusCalls)
			}
		})
	}
}

func TestDryRunNoMoves(t *testing.T) {
	var buf bytes.Buffer
	writeMoves(&buf, nil)
	if got := buf.String(); got != "would move 0 replicas\n" {
		t.Errorf("got %q", got)
	}
}

// The fake answers with queued moves twice, then with none: --wait polls
// three times and then prints the status.
func TestDrainWait(t *testing.T) {
	busy := func(state string, replicas uint32) *pb.StatusResponse {
		return &pb.StatusResponse{MetaLeader: "n1", Epoch: 4, Groups: 5, GroupsKnown: 5, MovesDone: 1,
			InFlight: admintest.Moves[:1], Queued: admintest.Moves[1:],
			Nodes: []*pb.NodeStatus{{Member: member("n1", "up"), Replicas: 5}, {Member: member("n2", state), Replicas: replicas}}}
	}
	done := &pb.StatusResponse{MetaLeader: "n1", Epoch: 5, Groups: 5, GroupsKnown: 5, MovesDone: 4,
		Nodes: []*pb.NodeStatus{{Member: member("n1", "up"), Replicas: 5}, {Member: member("n2", cluster.NodeRemoved)}}}
	f := &admintest.Fake{
		Plan:     &pb.PlanResponse{Moves: admintest.Moves, MetaLeader: "n1", State: cluster.NodeDraining},
		Statuses: []*pb.StatusResponse{busy(cluster.NodeDraining, 3), busy(cluster.NodeDraining, 2), done},
	}
	addr := f.Start(t)
	out, stderr, err := runAdmin(t, addr, Options{Wait: true}, "drain", "n2")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
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
	if f.Requests().StatusCalls != 3 {
		t.Errorf("status asked %d times, want 3", f.Requests().StatusCalls)
	}
	if len(f.Requests().Drains) != 1 || f.Requests().Drains[0].GetDryRun() {
		t.Errorf("drains %v, want one for real", f.Requests().Drains)
	}
}

// A drained node still holding replicas is not done, even with nothing
// queued (the rebalancer may not have planned yet).
func TestWaitNeedsNodeEmpty(t *testing.T) {
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

func TestStatusWait(t *testing.T) {
	busy := &pb.StatusResponse{MetaLeader: "n1", Groups: 5, GroupsKnown: 4, Queued: admintest.Moves}
	done := &pb.StatusResponse{MetaLeader: "n1", Groups: 5, GroupsKnown: 5, MovesDone: 3}
	f := &admintest.Fake{Statuses: []*pb.StatusResponse{busy, busy, done}}
	addr := f.Start(t)
	out, stderr, err := runAdmin(t, addr, Options{Wait: true}, "status")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
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

func TestStatusTable(t *testing.T) {
	now := time.Unix(1000, 0)
	st := &pb.StatusResponse{MetaLeader: "n1", Epoch: 7, Groups: 65, GroupsKnown: 65, MovesDone: 3,
		PlacementRelaxed: "none",
		Nodes: []*pb.NodeStatus{
			{Member: &pb.MemberInfo{Name: "n1", State: "up", Zone: "a", Capacity: 2}, Replicas: 64, TargetReplicas: 64,
				Cap: 80, Leaders: 21, LastHeardUnixNanos: now.Add(-1200 * time.Millisecond).UnixNano()},
			{Member: &pb.MemberInfo{Name: "n4", State: "joining"}},
		},
		InFlight: admintest.Moves[:1], Queued: admintest.Moves[1:]}
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

func TestLastHeard(t *testing.T) {
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

func TestJSON(t *testing.T) {
	st := &pb.StatusResponse{MetaLeader: "n1", Epoch: 7, Groups: 2, GroupsKnown: 2,
		Nodes: []*pb.NodeStatus{{Member: member("n1", "up"), Replicas: 2, LastHeardUnixNanos: 12345}}}
	plan := &pb.PlanResponse{Moves: admintest.Moves, MetaLeader: "n1", State: cluster.NodeDraining}
	f := &admintest.Fake{Plan: plan, Statuses: []*pb.StatusResponse{st}}
	addr := f.Start(t)
	for _, c := range []struct {
		name string
		o    Options
		cmd  string
		args []string
		want proto.Message
	}{
		{"status", Options{}, "status", nil, st},
		{"drain n2 --dry-run", Options{DryRun: true}, "drain", []string{"n2"}, plan},
		{"remove n2", Options{}, "remove", []string{"n2"}, plan},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Output = "json"
			out, stderr, err := runAdmin(t, addr, c.o, c.cmd, c.args...)
			if err != nil {
				t.Fatalf("%v: %s", err, stderr)
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

func TestRPCErrorVerbatim(t *testing.T) {
	const msg = "cannot drain n2: 2 live nodes would remain, fewer than the 3 replicas of each partition; add a node first"
	f := &admintest.Fake{PlanErr: status.Error(codes.FailedPrecondition, msg)}
	addr := f.Start(t)
	out, _, err := runAdmin(t, addr, Options{}, "drain", "n2")
	if err == nil || err.Error() != msg || errors.Is(err, ErrUsage) {
		t.Fatalf("err %v, want %q", err, msg)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}

	out, _, err = runAdmin(t, addr, Options{Output: "json"}, "drain", "n2")
	var line struct{ Error string }
	if jerr := json.Unmarshal([]byte(out), &line); jerr != nil || line.Error != msg || err == nil {
		t.Errorf("-o json: %v, %q; want an error and {\"error\":%q}", err, out, msg)
	}
}

func TestEndpointsTriedInOrder(t *testing.T) {
	// Reserve a port and close it, so that nothing answers there.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()

	f := &admintest.Fake{Statuses: []*pb.StatusResponse{{MetaLeader: "n1"}}}
	addr := f.Start(t)
	out, _, err := runAdmin(t, "", Options{Endpoints: []string{dead, " " + addr}}, "status")
	if err != nil || !strings.Contains(out, "meta leader: n1") {
		t.Fatalf("%v, %q; want the second endpoint's status", err, out)
	}

	_, _, err = runAdmin(t, dead, Options{}, "status")
	if !errors.Is(err, ErrUnreachable) || !strings.HasPrefix(err.Error(), "no endpoint answered: "+dead+": ") {
		t.Errorf("%v; want ErrUnreachable naming %s", err, dead)
	}
}

// A call that ctx's end cuts short is ErrInterrupted.
func TestInterrupted(t *testing.T) {
	f := &admintest.Fake{Statuses: []*pb.StatusResponse{{MetaLeader: "n1", Groups: 2, GroupsKnown: 1}}}
	addr := f.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Options{Endpoints: []string{addr}, Output: "table", Timeout: DefaultTimeout, Wait: true,
			PollInterval: time.Millisecond, Out: &out, Err: &errb}, "status", nil)
	}()
	time.Sleep(20 * time.Millisecond) // some polls
	cancel()
	if err := <-errc; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
}

func TestJoinDryRun(t *testing.T) {
	f := &admintest.Fake{JoinResp: &pb.JoinResponse{ClusterId: "c1", Moves: admintest.Moves}}
	addr := f.Start(t)
	var out, errb bytes.Buffer
	err := JoinDryRun(context.Background(), &out, &errb, Join{Join: addr, DataDir: t.TempDir(), Name: "n4", Addr: "127.0.0.1:7390",
		Capacity: 2, Zone: "z1", Settings: cluster.Settings{Partitions: 64, VNodes: 64}, Explicit: map[string]bool{cluster.FlagVNodes: true}})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != admintest.MovesText || errb.String() != "" {
		t.Errorf("printed\n%s\nwant\n%s(stderr %q)", out.String(), admintest.MovesText, errb.String())
	}
	want := &pb.JoinRequest{Name: "n4", GrpcAddr: "127.0.0.1:7390", Capacity: 2, Zone: "z1", DryRun: true,
		Settings: &pb.ClusterSettings{Vnodes: 64}} // only the settings given
	if len(f.Requests().Joins) != 1 || !proto.Equal(f.Requests().Joins[0], want) {
		t.Errorf("joins %v, want %v", f.Requests().Joins, want)
	}

	err = JoinDryRun(context.Background(), &out, &errb, Join{Join: addr, Name: "n4", Addr: "127.0.0.1:7390",
		Settings: cluster.Settings{Replicas: -1}, Explicit: map[string]bool{cluster.FlagReplicas: true}})
	if !errors.Is(err, ErrUsage) || err.Error() != "--replicas -1: must be positive" {
		t.Errorf("negative --replicas: %v, want a usage error naming it", err)
	}
}

// unsafe-recover reports first, changes nothing unless the partition number
// is typed back (or --yes), and --dry-run stops after the report.
func TestUnsafeRecover(t *testing.T) {
	run := func(t *testing.T, stdin string, o Options) (*admintest.Fake, string, string, error) {
		f := &admintest.Fake{}
		addr := f.Start(t)
		o.In = strings.NewReader(stdin)
		out, errs, err := runAdmin(t, addr, o, "unsafe-recover", "7")
		return f, out, errs, err
	}
	confirms := func(f *admintest.Fake) (n int) {
		for _, r := range f.Requests().Recovers {
			if r.GetConfirm() {
				n++
			}
		}
		return n
	}
	t.Run("typed back", func(t *testing.T) {
		f, out, errs, err := run(t, "7\n", Options{})
		if err != nil || confirms(f) != 1 || !strings.Contains(out, "partition 7 recovered on n1") {
			t.Fatalf("err %v, confirms %d, out %q, stderr %q", err, confirms(f), out, errs)
		}
		for _, want := range []string{"not answering: n2, n3", "recovered from n1", "2 entries above that are dropped", "Type the partition number (7)"} {
			if !strings.Contains(errs, want) {
				t.Errorf("the report lacks %q: %s", want, errs)
			}
		}
	})
	t.Run("not confirmed", func(t *testing.T) {
		f, _, _, err := run(t, "8\n", Options{})
		if err == nil || errors.Is(err, ErrUsage) || confirms(f) != 0 || !strings.Contains(err.Error(), "not confirmed: nothing changed") {
			t.Fatalf("err %v, confirms %d", err, confirms(f))
		}
	})
	t.Run("yes", func(t *testing.T) {
		f, _, _, err := run(t, "", Options{Yes: true})
		if err != nil || confirms(f) != 1 {
			t.Fatalf("err %v, confirms %d", err, confirms(f))
		}
	})
	t.Run("dry run", func(t *testing.T) {
		f, out, _, err := run(t, "", Options{DryRun: true})
		if err != nil || confirms(f) != 0 || !strings.Contains(out, "recovered from n1") {
			t.Fatalf("err %v, confirms %d, out %q", err, confirms(f), out)
		}
	})
	t.Run("json", func(t *testing.T) {
		_, out, _, err := run(t, "", Options{Yes: true, Output: "json"})
		var resp pb.UnsafeRecoverResponse
		if err != nil || protojson.Unmarshal([]byte(out), &resp) != nil || resp.GetMembershipVersion() != 1004 {
			t.Fatalf("err %v, out %q", err, out)
		}
	})
}

func digestOf(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }

var verifyMismatch = &pb.VerifyResponse{Partitions: []*pb.PartitionCheck{
	{Partition: 0, Group: 1, Leader: "n1", Index: 42, Verdict: "agree", Replicas: []*pb.ReplicaDigest{
		{Replica: 1, Node: "n1", Voter: true, Reported: true, Index: 42, Digest: digestOf(0xab)},
		{Replica: 2, Node: "n2", Voter: true, Reported: true, Index: 42, Digest: digestOf(0xab)},
	}},
	{Partition: 1, Group: 2, Leader: "n2", Index: 1042, Verdict: "mismatch", Replicas: []*pb.ReplicaDigest{
		{Replica: 1, Node: "n1", Voter: true, Reported: true, Index: 1042, Digest: digestOf(0x3f)},
		{Replica: 2, Node: "n2", Voter: true, Reported: true, Index: 1042, Digest: digestOf(0x3f)},
		{Replica: 3, Node: "n3", Voter: true, Reported: true, Index: 1042, Digest: digestOf(0x9a), Differs: true},
	}},
	{Partition: 2, Group: 3, Verdict: "error", Error: "partition 2 has no known leader"},
}}

func TestVerifyTable(t *testing.T) {
	f := &admintest.Fake{VerifyResp: verifyMismatch}
	addr := f.Start(t)
	out, _, err := runAdmin(t, addr, Options{}, "verify")
	if err == nil || errors.Is(err, ErrUsage) {
		t.Fatalf("err %v, want a failure (a partition differs)", err)
	}
	want := `PARTITION  VERDICT   REPLICA  NODE  INDEX  DIGEST        NOTE
0          agree     1        n1    42     abababababab  leader
0          agree     2        n2    42     abababababab
1          mismatch  1        n1    1042   3f3f3f3f3f3f
1          mismatch  2        n2    1042   3f3f3f3f3f3f  leader
1          mismatch  3        n3    1042   9a9a9a9a9a9a  DIFFERS
2          error     -        -     -      -             partition 2 has no known leader
3 partitions: 1 agree, 1 mismatch, 0 no-majority, 0 incomplete, 1 errors
`
	if out != want {
		t.Errorf("printed\n%s\nwant\n%s", out, want)
	}
	if err.Error() != "2 of 3 partitions did not agree" {
		t.Errorf("error %q", err)
	}
	if len(f.Requests().Verifies) != 1 || len(f.Requests().Verifies[0].GetPartitions()) != 0 {
		t.Errorf("requests %v, want one for every partition", f.Requests().Verifies)
	}
}

func TestVerifyJSON(t *testing.T) {
	f := &admintest.Fake{VerifyResp: verifyMismatch}
	addr := f.Start(t)
	out, _, err := runAdmin(t, addr, Options{Output: "json"}, "verify", "1")
	if err == nil {
		t.Fatal("no error, want one (a partition differs)")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 3 partition lines and a summary (and no error line), got %q", out)
	}
	var pc pb.PartitionCheck
	if err := protojson.Unmarshal([]byte(lines[1]), &pc); err != nil || !proto.Equal(&pc, verifyMismatch.Partitions[1]) {
		t.Fatalf("line %q read back as %v (%v)", lines[1], &pc, err)
	}
	var sum verifySummary
	if err := json.Unmarshal([]byte(lines[3]), &sum); err != nil ||
		sum != (verifySummary{Partitions: 3, Agree: 1, Mismatch: 1, Errors: 1, OK: false}) {
		t.Fatalf("summary %q: %+v %v", lines[3], sum, err)
	}
	if len(f.Requests().Verifies) != 1 || !proto.Equal(f.Requests().Verifies[0], &pb.VerifyRequest{Partitions: []int32{1}}) {
		t.Errorf("requests %v, want partition 1", f.Requests().Verifies)
	}
}
