package node

import (
	"context"
	"time"
)

// Run starts a node with every front door and serves until ctx ends, then
// shuts down gracefully (bounded by 10 s).
func Run(ctx context.Context, cfg Config) error {
	n, err := Start(cfg)
	if err != nil {
		return err
	}
	doors, err := n.serveDoors()
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(sctx)
		return err
	}
	<-ctx.Done()
	n.log.Info("stopping: failing /readyz, handing leadership away, draining")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.draining.Store(true)
	n.transferLeadership(sctx)
	doors.close() // requests in flight finish (bounded), then the doors close
	return n.Stop(sctx)
}
