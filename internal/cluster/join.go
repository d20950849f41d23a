package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/storage"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// JoinVia is --join: it asks the cluster behind conn (any member's gRPC
// address, named via in errors) to add this new node (Admin.Join) and
// creates the node's identity in store from the answer (CreateJoined).
// A cluster that does not answer yet (UNAVAILABLE, a deadline) is asked
// again every second by clk for up to a minute; any other refusal ends it
// with the cluster's message.
func JoinVia(store storage.Store, conn grpc.ClientConnInterface, via string, req *cairnv1.JoinRequest, outgoing func(context.Context) context.Context, clk clock.Clock, log *slog.Logger) (*Identity, error) {
	var resp *cairnv1.JoinResponse
	deadline := clk.Monotonic() + joinTimeout
	for {
		ctx, cancel := context.WithTimeout(context.Background(), joinCallTimeout)
		if outgoing != nil {
			ctx = outgoing(ctx)
		}
		var err error
		resp, err = cairnv1.NewAdminClient(conn).Join(ctx, req)
		cancel()
		if err == nil {
			break
		}
		if tlsRefused(err) {
			return nil, fmt.Errorf("--join %s: the TLS handshake failed: the member does not take this node's certificate (--peer-cert-file, signed by the cluster's CA) or this node does not trust the member's (--peer-trusted-ca-file): %s", via, status.Convert(err).Message())
		}
		if status.Code(err) == codes.PermissionDenied {
			return nil, fmt.Errorf("--join %s: refused: %s", via, status.Convert(err).Message())
		}
		if c := status.Code(err); (c != codes.Unavailable && c != codes.DeadlineExceeded) || clk.Monotonic() > deadline {
			return nil, fmt.Errorf("--join %s: %s", via, status.Convert(err).Message())
		}
		log.Warn("join: the cluster is not answering yet; retrying", "join", via, "err", status.Convert(err).Message())
		_ = clock.SleepOn(context.Background(), clk, time.Second)
	}
	id, err := ParseID(resp.GetClusterId())
	if err != nil {
		return nil, fmt.Errorf("--join %s: %w", via, err)
	}
	var members []Member
	for _, m := range resp.GetMembers() {
		if m.GetState() == NodeRemoved {
			continue
		}
		members = append(members, Member{Name: m.GetName(), Addr: m.GetGrpcAddr(), Capacity: m.GetCapacity(), Zone: m.GetZone()})
	}
	ident, err := CreateJoined(store, JoinOptions{Name: req.GetName(), ClusterID: id, Settings: SettingsOf(resp.GetSettings()), Members: members})
	if err != nil {
		return nil, err
	}
	log.Info("joined the cluster", "cluster_id", id, "via", via, "moves_planned", len(resp.GetMoves()))
	return ident, nil
}

// joinTimeout bounds how long a joining node retries a cluster that does
// not answer; joinCallTimeout bounds one call.
const (
	joinTimeout     = time.Minute
	joinCallTimeout = 10 * time.Second
)

// tlsRefused says whether a call failed in the TLS handshake, which no
// retry mends: a certificate the other side does not trust.
func tlsRefused(err error) bool {
	if status.Code(err) != codes.Unavailable {
		return false
	}
	m := status.Convert(err).Message()
	return strings.Contains(m, "authentication handshake failed") || strings.Contains(m, "remote error: tls:") ||
		strings.Contains(m, "tls: failed to verify") || strings.Contains(m, "certificate")
}
