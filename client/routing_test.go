package client

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/cluster"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// The client maps keys to partitions exactly as the server does, hash tags
// included.
func TestPartitionMatchesServer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab{}x")
	keys := [][]byte{nil, {}, []byte("{}"), []byte("{a}"), []byte("x{a}y"), []byte("{a}{b}"), []byte("{{a}}"), []byte("}{a"), []byte("{a")}
	for range 5000 {
		k := make([]byte, rng.IntN(12))
		for i := range k {
			if rng.IntN(2) == 0 {
				k[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				k[i] = byte(rng.Uint32())
			}
		}
		keys = append(keys, k)
	}
	for _, parts := range []int{1, 4, 64, 1000} {
		for _, k := range keys {
			if got, want := partitionOf(k, parts), cluster.PartitionOf(k, parts); got != want {
				t.Fatalf("partitionOf(%q, %d) = %d, the server says %d", k, parts, got, want)
			}
		}
	}
}

// The ErrorInfo reasons the client branches on are the server's.
func TestReasonsMatchServer(t *testing.T) {
	for _, c := range [][2]string{
		{errorDomain, grpcapi.Domain},
		{reasonNotApplied, grpcapi.ReasonNotApplied},
		{reasonConditionFailed, grpcapi.ReasonConditionFailed},
		{reasonNotInteger, grpcapi.ReasonNotInteger},
		{reasonOverflow, grpcapi.ReasonOverflow},
		{reasonSessionExpired, grpcapi.ReasonSessionExpired},
		{reasonSequenceBelowWindow, grpcapi.ReasonSequenceBelowWindow},
		{reasonNoSpace, grpcapi.ReasonNoSpace},
	} {
		if c[0] != c[1] {
			t.Errorf("client uses %q where the server says %q", c[0], c[1])
		}
	}
	if hashXXHash64 != cluster.HashXXHash64 {
		t.Errorf("client knows hash %q, the server %q", hashXXHash64, cluster.HashXXHash64)
	}
}

func part(p int, version, term uint64, leader string, local string) *pb.PartitionInfo {
	pi := &pb.PartitionInfo{Partition: uint32(p), MembershipVersion: version, Term: term, Leader: leader,
		Replicas: []string{"n1", "n2", "n3"}, Voters: []string{"n1", "n2", "n3"}}
	if local != "" {
		pi.Local = &pb.LocalReplica{Role: local}
	}
	return pi
}

func answer1(node string, parts ...*pb.PartitionInfo) *pb.ClusterInfo {
	return &pb.ClusterInfo{ClusterId: "c1", Node: node, Settings: &pb.ClusterSettings{Partitions: 2, Hash: "xxhash64"},
		Nodes: []*pb.NodeInfo{
			{Name: "n1", State: "up", GrpcAddr: "10.0.0.1:7379"},
			{Name: "n2", State: "up", GrpcAddr: "10.0.0.2:7379"},
			{Name: "n3", State: "down", GrpcAddr: "10.0.0.3:7379"},
			{Name: "n4", State: "up"},
		},
		Partitions: parts}
}

// Per partition the entry with the highest (membership version, term)
// wins, whichever node said it and in whatever order the answers came.
func TestMerge(t *testing.T) {
	base, err := (*table)(nil).merge(answer1("n1", part(0, 1, 5, "n1", "leader"), part(1, 1, 5, "n2", "follower")), "seed:1")
	if err != nil {
		t.Fatal(err)
	}
	if got := base.names; !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("entry candidates %v, want n1 n2 (n3 is down, n4 has no address)", got)
	}
	for _, tc := range []struct {
		name   string
		from   *table
		answer *pb.ClusterInfo
		want   [2]string // leaders of partitions 0 and 1
	}{
		{"higher term wins", base, answer1("n2", part(0, 1, 6, "n2", "leader"), part(1, 1, 6, "", "follower")), [2]string{"n2", ""}},
		{"lower term loses", base, answer1("n3", part(0, 1, 4, "n3", "follower"), part(1, 1, 4, "n3", "")), [2]string{"n1", "n2"}},
		{"higher membership version wins over term", base, answer1("n2", part(0, 2, 1, "n3", "follower"), part(1, 0, 9, "n3", "")), [2]string{"n3", "n2"}},
		{"equal fills an unknown leader", mustMerge(t, base, answer1("n2", part(1, 1, 6, "", "follower"))),
			answer1("n1", part(1, 1, 6, "n1", "follower")), [2]string{"n1", "n1"}},
		{"a hint survives an equal answer", base.withLeader(0, "n2"), answer1("n3", part(0, 1, 5, "n1", "follower")), [2]string{"n2", "n2"}},
		{"the leader itself beats a hint", base.withLeader(0, "n2"), answer1("n1", part(0, 1, 5, "n1", "leader")), [2]string{"n1", "n2"}},
		{"no replica, no opinion", base, answer1("n4", part(0, 0, 0, "", ""), part(1, 0, 0, "", "")), [2]string{"n1", "n2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nt, err := tc.from.merge(tc.answer, "x:1")
			if err != nil {
				t.Fatal(err)
			}
			if got := [2]string{nt.routes[0].leader, nt.routes[1].leader}; got != tc.want {
				t.Fatalf("leaders %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("answering node without an address is reached via", func(t *testing.T) {
		nt := mustMerge(t, base, answer1("n4"))
		if got := nt.addr("n4"); got != "x:1" {
			t.Fatalf("n4 at %q, want x:1", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for name, a := range map[string]*pb.ClusterInfo{
			"other cluster": {ClusterId: "c2", Settings: &pb.ClusterSettings{Partitions: 2, Hash: "xxhash64"}},
			"other P":       {ClusterId: "c1", Settings: &pb.ClusterSettings{Partitions: 3, Hash: "xxhash64"}},
			"other hash":    {ClusterId: "c1", Settings: &pb.ClusterSettings{Partitions: 2, Hash: "fnv"}},
			"no partitions": {ClusterId: "c1", Settings: &pb.ClusterSettings{Hash: "xxhash64"}},
		} {
			if _, err := base.merge(a, "x:1"); err == nil {
				t.Errorf("%s: merged", name)
			}
		}
	})
	// The table merged from is never changed.
	if base.routes[0].leader != "n1" || base.routes[0].hinted {
		t.Fatalf("merge changed its receiver: %+v", base.routes[0])
	}
}

func mustMerge(t *testing.T, from *table, a *pb.ClusterInfo) *table {
	t.Helper()
	nt, err := from.merge(a, "x:1")
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

func TestSession(t *testing.T) {
	s := newSession(7)
	a, b, c := s.begin(), s.begin(), s.begin()
	if a.seq != 1 || b.seq != 2 || c.seq != 3 || a.client != 7 {
		t.Fatalf("tickets %+v %+v %+v", a, b, c)
	}
	check := func(tk ticket, want uint64) {
		t.Helper()
		if got := s.lowUnacked(tk); got != want {
			t.Fatalf("low unacked for seq %d = %d, want %d", tk.seq, got, want)
		}
	}
	check(c, 1)
	s.end(b) // answered out of order: 1 is still pending
	check(c, 1)
	s.end(a)
	check(c, 3) // 1 and 2 answered
	d := s.renew(c, 9)
	if d.client != 9 || d.seq != 1 || s.lowUnacked(d) != 1 {
		t.Fatalf("after renew: %+v low %d", d, s.lowUnacked(d))
	}
	check(c, c.low0)    // a ticket of the old session keeps its own low
	e := s.renew(c, 11) // a second write of the old session renews no further
	if e.client != 9 || e.seq != 2 {
		t.Fatalf("second renew from the old epoch: %+v, want client 9 seq 2", e)
	}
	s.end(c) // ends nothing in the new session
	check(e, 1)
	s.end(d)
	check(e, 2)
	for range 100 {
		if id := newClientID(); id == 0 {
			t.Fatal("client ID 0")
		}
	}
}

func TestParseReadMode(t *testing.T) {
	for _, m := range []ReadMode{Linearizable, Follower, Stale} {
		if got, err := ParseReadMode(m.String()); err != nil || got != m {
			t.Errorf("ParseReadMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseReadMode("eventual"); err == nil {
		t.Error("ParseReadMode(eventual) succeeded")
	}
	if got := fmt.Sprint(ReadMode(9)); got != "ReadMode(9)" {
		t.Errorf("ReadMode(9) prints %q", got)
	}
}
