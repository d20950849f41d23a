package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/admincli/admintest"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/node"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

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

func TestAdminUsageErrors(t *testing.T) {
	addr := (&admintest.Fake{}).Start(t)
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

func TestAdminServerJoinDryRun(t *testing.T) {
	f := &admintest.Fake{JoinResp: &pb.JoinResponse{ClusterId: "c1", Moves: admintest.Moves}}
	addr := f.Start(t)
	dir := t.TempDir()
	out, stderr, code := runCairn(t, "server", "--name", "n4", "--data-dir", dir, "--grpc-addr", "127.0.0.1:7390",
		"--join", addr, "--dry-run", "--capacity", "2", "--zone", "z1", "--vnodes", "64", "--log-level", "error")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if out != admintest.MovesText {
		t.Errorf("printed\n%s\nwant\n%s", out, admintest.MovesText)
	}
	want := &pb.JoinRequest{Name: "n4", GrpcAddr: "127.0.0.1:7390", Capacity: 2, Zone: "z1", DryRun: true,
		Settings: &pb.ClusterSettings{Vnodes: 64}} // only the settings given
	if len(f.Requests().Joins) != 1 || !proto.Equal(f.Requests().Joins[0], want) {
		t.Errorf("joins %v, want %v", f.Requests().Joins, want)
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

// The cobra wiring of cairn admin: flags reach admincli, its answers and
// errors reach stdout, the error line (after the command's path) and the
// exit status. admincli's own tests cover the commands.
func TestAdminWiring(t *testing.T) {
	const refused = "cannot drain n2: add a node first"
	f := &admintest.Fake{
		Plan:       &pb.PlanResponse{Moves: admintest.Moves, MetaLeader: "n1", State: "up"},
		Statuses:   []*pb.StatusResponse{{MetaLeader: "n1", Groups: 2, GroupsKnown: 2}},
		VerifyResp: &pb.VerifyResponse{Partitions: []*pb.PartitionCheck{{Partition: 0, Group: 1, Verdict: "error", Error: "no leader"}}},
	}
	addr := f.Start(t)
	t.Setenv("CAIRN_ENDPOINTS", addr) // flags also come from the environment

	out, errLine, code := runCairn(t, "admin", "drain", "n2", "--dry-run")
	if code != 0 || out != admintest.MovesText {
		t.Fatalf("drain --dry-run: exit %d, %q, %q", code, out, errLine)
	}
	if len(f.Requests().Drains) != 1 || f.Requests().Drains[0].GetNode() != "n2" || !f.Requests().Drains[0].GetDryRun() {
		t.Errorf("drains %v, want one dry run of n2", f.Requests().Drains)
	}

	out, errLine, code = runCairn(t, "admin", "status", "--wait", "-o", "json")
	if code != 0 || !strings.Contains(out, `"meta_leader":"n1"`) || !strings.Contains(errLine, "moves: 0 done") {
		t.Fatalf("status --wait -o json: exit %d, %q, %q", code, out, errLine)
	}

	f.SetPlanErr(status.Error(codes.FailedPrecondition, refused))
	out, errLine, code = runCairn(t, "admin", "remove", "n2", "--timeout", "3s")
	if code != 1 || errLine != "cairn admin remove: "+refused+"\n" || out != "" {
		t.Fatalf("refused remove: exit %d, %q, %q", code, out, errLine)
	}
	out, _, code = runCairn(t, "admin", "-o", "json", "drain", "n2")
	var line struct{ Error string }
	if err := json.Unmarshal([]byte(out), &line); err != nil || line.Error != refused || code != 1 {
		t.Errorf("-o json: exit %d, %q; want exit 1 and {\"error\":%q}", code, out, refused)
	}

	out, errLine, code = runCairn(t, "admin", "verify")
	if code != 1 || errLine != "cairn admin verify: 1 of 1 partition did not agree\n" || !strings.Contains(out, "no leader") {
		t.Fatalf("verify: exit %d, %q, %q", code, out, errLine)
	}

	root := rootCmd()
	var outb, errb bytes.Buffer
	root.SetOut(&outb)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader("7\n"))
	root.SetArgs([]string{"admin", "unsafe-recover", "7"})
	if err := root.Execute(); err != nil || !strings.Contains(outb.String(), "partition 7 recovered on n1") ||
		!strings.Contains(errb.String(), "Type the partition number (7)") {
		t.Fatalf("unsafe-recover typed back: %v, %q, %q", err, outb.String(), errb.String())
	}
	if _, errLine, code = runCairn(t, "admin", "unsafe-recover", "7", "--dry-run", "--yes"); code != 0 {
		t.Fatalf("unsafe-recover --dry-run --yes: exit %d, %q", code, errLine)
	}
}
