package node

import (
	"context"
	"time"

	"github.com/cairnkv/cairn/internal/rebalance"
)

// Run starts a node with every front door and serves until ctx ends, then
// shuts down gracefully (bounded by 10 s).
//
// A signal during start-up (opening storage, replaying its log, which on a
// slow or nearly full disk may take long) ends Run at once: start-up
// cannot be interrupted part way, so Run stops waiting for it and the
// process exits, which storage survives as it survives a crash.
func Run(ctx context.Context, cfg Config) error {
	type started struct {
		n   *Node
		err error
	}
	ch := make(chan started, 1)
	go func() {
		n, err := Start(cfg)
		ch <- started{n, err}
	}()
	var n *Node
	select {
	case s := <-ch:
		if s.err != nil {
			return s.err
		}
		n = s.n
	case <-ctx.Done():
		if cfg.Logger != nil {
			cfg.Logger.Warn("stopping during start-up: not waiting for it to finish", "node", cfg.Name)
		}
		go func() { // NB: only if the process outlives Run (tests)
			if s := <-ch; s.err == nil {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = s.n.Stop(sctx)
			}
		}()
		return nil
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
	rebalance.HandOff(sctx, rebalanceNode{n}, n.log)
	doors.close() // requests in flight finish (bounded), then the doors close
	return n.Stop(sctx)
}
