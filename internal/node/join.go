package node

import (
	"fmt"
	"log/slog"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
)

// join asks the cluster at cfg.Join to add this new node, and creates its
// identity from the answer (cluster.JoinVia).
func join(cfg Config, store storage.Store, log *slog.Logger) (*cluster.Identity, error) {
	conn, err := grpc.NewClient(cfg.Join, transport.DialOptions()...)
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
	return cluster.JoinVia(store, conn, cfg.Join, req, cfg.Clock, log)
}
