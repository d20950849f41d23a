package node

import (
	"context"
	"github.com/cairnkv/cairn/internal/testkit"
	"strings"
	"testing"
	"time"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// A cluster with users takes a new node only with a join token, once; the
// issue's "evil" join (a stranger with the address alone) is refused and
// changes nothing.
func TestJoinNeedsAToken(t *testing.T) {
	tn := startNodes(t, 1, 2, func(c *Config) { c.InitialAdminPassword = "pw" })
	tn.ready()
	n1 := tn.nodes["n1"]
	testkit.WaitFor(t, 10*time.Second, "logins to be required", n1.users.Required)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sec := newSecurity(n1)
	tok, err := sec.CreateJoinToken(ctx, &cairnv1.CreateJoinTokenRequest{TtlSeconds: 600})
	if err != nil {
		t.Fatal(err)
	}
	joiner := func(name, token string) (*Node, error) {
		return Start(Config{Name: name, DataDir: t.TempDir(), GRPCAddr: "127.0.0.1:0", Join: n1.GRPCAddr(), JoinToken: token,
			Logger: testLogger(), TickInterval: 20 * time.Millisecond, LeaderBalanceInterval: -1})
	}
	for _, c := range []struct{ name, token, want string }{
		{"evil", "", "joining needs a join token"},
		{"evil", "cairn-join1.bogus", "join token malformed"},
		{"evil", tok.Token[:len(tok.Token)-4] + "AAAA", "join token unknown"},
	} {
		if n, err := joiner(c.name, c.token); err == nil {
			n.Stop(ctx)
			t.Fatalf("joined with token %q", c.token)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Fatalf("token %q: %v, want %q", c.token, err, c.want)
		}
	}
	if nodes := n1.Cluster().Nodes; len(nodes) != 1 {
		t.Fatalf("members after the refused joins: %+v", nodes)
	}
	n2, err := joiner("n2", tok.Token)
	if err != nil {
		t.Fatalf("join with a token: %v", err)
	}
	defer n2.Stop(ctx)
	if n, err := joiner("n3", tok.Token); err == nil {
		n.Stop(ctx)
		t.Fatal("a used token let a second node join")
	} else if !strings.Contains(err.Error(), "already used") {
		t.Fatalf("reused token: %v", err)
	}
	list, err := sec.ListJoinTokens(ctx, &cairnv1.ListJoinTokensRequest{})
	if err != nil || len(list.Tokens) != 0 {
		t.Fatalf("unused tokens after the join: %v %v", list, err)
	}
}
