package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/storage"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// join asks the cluster at cfg.Join to add this new node, and creates its
// identity from the answer.
func join(cfg Config, store storage.Store, log *slog.Logger, dial []grpc.DialOption) (*cluster.Identity, error) {
	conn, err := grpc.NewClient(cfg.Join, dial...)
	if err != nil {
		return nil, fmt.Errorf("--join %s: %w", cfg.Join, err)
	}
	defer conn.Close()
	settings, err := cluster.ExplicitSettings(cfg.Settings, cfg.Explicit)
	if err != nil {
		return nil, err
	}
	req := &cairnv1.JoinRequest{Name: cfg.Name, GrpcAddr: cfg.AdvertiseGRPC, Capacity: cfg.Capacity, Zone: cfg.Zone,
		Settings: settings}
	var resp *cairnv1.JoinResponse
	deadline := cfg.Clock.Monotonic() + joinTimeout
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if cfg.JoinToken != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, joinTokenHeader, cfg.JoinToken)
		}
		resp, err = cairnv1.NewAdminClient(conn).Join(ctx, req)
		cancel()
		if err == nil {
			break
		}
		if tlsRefused(err) {
			return nil, fmt.Errorf("--join %s: the TLS handshake failed: the member does not take this node's certificate (--peer-cert-file, signed by the cluster's CA) or this node does not trust the member's (--peer-trusted-ca-file): %s", cfg.Join, status.Convert(err).Message())
		}
		if status.Code(err) == codes.PermissionDenied {
			return nil, fmt.Errorf("--join %s: refused: %s", cfg.Join, status.Convert(err).Message())
		}
		if c := status.Code(err); (c != codes.Unavailable && c != codes.DeadlineExceeded) || cfg.Clock.Monotonic() > deadline {
			return nil, fmt.Errorf("--join %s: %s", cfg.Join, status.Convert(err).Message())
		}
		log.Warn("join: the cluster is not answering yet; retrying", "join", cfg.Join, "err", status.Convert(err).Message())
		_ = clock.SleepOn(context.Background(), cfg.Clock, time.Second)
	}
	id, err := cluster.ParseID(resp.GetClusterId())
	if err != nil {
		return nil, fmt.Errorf("--join %s: %w", cfg.Join, err)
	}
	s := cluster.SettingsOf(resp.GetSettings())
	var members []cluster.Member
	for _, m := range resp.GetMembers() {
		if m.GetState() == cluster.NodeRemoved {
			continue
		}
		members = append(members, cluster.Member{Name: m.GetName(), Addr: m.GetGrpcAddr(), Capacity: m.GetCapacity(), Zone: m.GetZone()})
	}
	ident, err := cluster.CreateJoined(store, cluster.JoinOptions{Name: cfg.Name, ClusterID: id, Settings: s, Members: members})
	if err != nil {
		return nil, err
	}
	log.Info("joined the cluster", "cluster_id", id, "via", cfg.Join, "moves_planned", len(resp.GetMoves()))
	return ident, nil
}

// joinTimeout bounds how long a joining node retries a cluster that does
// not answer.
const joinTimeout = time.Minute

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
