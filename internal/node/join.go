package node

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cairnkv/cairn/internal/auth/gate"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/storage"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// join asks the cluster at cfg.Join to add this new node, carrying
// --join-token when given, and creates its identity from the answer
// (cluster.JoinVia).
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
	withToken := func(ctx context.Context) context.Context {
		if cfg.JoinToken == "" {
			return ctx
		}
		return metadata.AppendToOutgoingContext(ctx, gate.JoinTokenHeader, cfg.JoinToken)
	}
	return cluster.JoinVia(store, conn, cfg.Join, req, withToken, cfg.Clock, log)
}
