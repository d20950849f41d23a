package node

import (
	"context"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/auth/gate"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/tlsconf"
)

// Logins, permissions and join tokens are internal/auth/gate's; the
// Security service (users, join tokens) is grpcapi's. metaGroup is the
// meta group as both see it.
type metaGroup struct{ n *Node }

func (m metaGroup) Read(ctx context.Context, q kv.Query) (kv.Reply, error) {
	return m.n.router.Read(ctx, 0, replica.Linearizable, q)
}

func (m metaGroup) Propose(ctx context.Context, c kv.Command) (kv.Reply, error) {
	return m.n.propose(ctx, 0, c)
}

// newGate makes the node's user view and its doors' gate.
func newGate(n *Node, sec *tlsconf.State) (*gate.Users, *gate.Gate) {
	users := gate.NewUsers(gate.UsersConfig{
		Meta: metaGroup{n}, Clock: n.clock, Logger: n.log, Registry: n.registry,
		Closed: n.cfg.TLS.Enabled() || n.cfg.InitialAdminPassword != "", Timeout: n.cfg.RequestTimeout,
	})
	cfg := gate.Config{
		Users: users, Meta: metaGroup{n}, ClusterID: n.id.ClusterID.String(), Clock: n.clock, Logger: n.log,
		PeerMethod:  peerMethod,
		FromCluster: func(ctx context.Context) bool { return n.fromCluster(ctx, "") == nil },
	}
	if sec != nil {
		cfg.VerifyPeer = sec.VerifyPeer
	}
	return users, gate.New(cfg)
}

// newSecurity makes the node's Security service.
func newSecurity(n *Node) *grpcapi.Security {
	return grpcapi.NewSecurity(grpcapi.SecurityConfig{
		Meta: metaGroup{n}, Users: n.users, ClusterID: n.id.ClusterID.String(), Clock: n.clock, Logger: n.log,
	})
}
