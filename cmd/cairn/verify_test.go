package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/node"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func protojsonUnmarshal(line string, m proto.Message) error {
	return protojson.Unmarshal([]byte(line), m)
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

func TestAdminVerifyTable(t *testing.T) {
	f := &fakeAdmin{verify: verifyMismatch}
	addr := f.start(t)
	out, errLine, code := runCairn(t, "admin", "verify", "--endpoints", addr)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a partition differs); stderr %q", code, errLine)
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
	if errLine != "cairn admin verify: 2 of 3 partitions did not agree\n" {
		t.Errorf("error line %q", errLine)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.mu.verifies) != 1 || len(f.mu.verifies[0].GetPartitions()) != 0 {
		t.Errorf("requests %v, want one for every partition", f.mu.verifies)
	}
}

func TestAdminVerifyJSON(t *testing.T) {
	f := &fakeAdmin{verify: verifyMismatch}
	addr := f.start(t)
	out, _, code := runCairn(t, "admin", "verify", "1", "-o", "json", "--endpoints", addr)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 3 partition lines and a summary, got %q", out)
	}
	var pc pb.PartitionCheck
	if err := protojsonUnmarshal(lines[1], &pc); err != nil || !proto.Equal(&pc, verifyMismatch.Partitions[1]) {
		t.Fatalf("line %q read back as %v (%v)", lines[1], &pc, err)
	}
	var sum verifySummary
	if err := json.Unmarshal([]byte(lines[3]), &sum); err != nil ||
		sum != (verifySummary{Partitions: 3, Agree: 1, Mismatch: 1, Errors: 1, OK: false}) {
		t.Fatalf("summary %q: %+v %v", lines[3], sum, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.mu.verifies) != 1 || !proto.Equal(f.mu.verifies[0], &pb.VerifyRequest{Partitions: []int32{1}}) {
		t.Errorf("requests %v, want partition 1", f.mu.verifies)
	}
}

// cairn admin verify against a real in-process cluster: every partition's
// replicas agree, exit 0.
func TestAdminVerifyCluster(t *testing.T) {
	addrs := startTestCluster(t, 3, 2)
	out, errLine, code := runCairn(t, "admin", "verify", "--endpoints", addrs[1])
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errLine)
	}
	if !strings.HasSuffix(out, "2 partitions: 2 agree, 0 mismatch, 0 no-majority, 0 incomplete, 0 errors\n") ||
		strings.Count(out, " agree ") != 6 {
		t.Fatalf("printed\n%s\nwant 3 replicas agreeing in each of 2 partitions", out)
	}
	out, _, code = runCairn(t, "admin", "verify", "0", "-o", "json", "--endpoints", addrs[0])
	if code != 0 || !strings.HasSuffix(out, `{"partitions":1,"agree":1,"mismatch":0,"no_majority":0,"incomplete":0,"errors":0,"ok":true}`+"\n") {
		t.Fatalf("exit %d, printed %q", code, out)
	}
}

// startTestCluster starts n nodes in this process, on loopback ports, with
// p partitions, and returns their gRPC addresses once every node is ready.
func startTestCluster(t *testing.T, n, p int) []string {
	t.Helper()
	dir := t.TempDir()
	var members []cluster.Member
	var liss []net.Listener
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		liss = append(liss, lis)
		members = append(members, cluster.Member{Name: fmt.Sprintf("n%d", i+1), Addr: lis.Addr().String()})
	}
	var nodes []*node.Node
	t.Cleanup(func() {
		for _, nd := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = nd.Stop(ctx)
			cancel()
		}
	})
	var addrs []string
	for i, m := range members {
		nd, err := node.Start(node.Config{Name: m.Name, DataDir: filepath.Join(dir, m.Name), GRPCListener: liss[i],
			InitialCluster: members, Settings: cluster.Settings{Partitions: p}, TickInterval: 20 * time.Millisecond,
			LeaderBalanceInterval: -1, ConsistencyCheckInterval: -1, Logger: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, nd)
		addrs = append(addrs, m.Addr)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range nodes {
		for !allReady(nd) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready: %v", nd.Name(), nd.Ready())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return addrs
}

func allReady(nd *node.Node) bool {
	for _, c := range nd.Ready() {
		if !c.OK {
			return false
		}
	}
	return true
}
