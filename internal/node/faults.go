package node

import (
	"context"
	"fmt"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/replica"
)

// The FaultInjection service (--fault-injection) is transport.FaultService:
// link faults, clock skew, slow fsync and a request delay, which the node
// waits out here.

// injectedDelay waits out the injected request delay, or until ctx ends.
func (n *Node) injectedDelay(ctx context.Context) error {
	d := n.faults.RequestDelay()
	if d <= 0 {
		return nil
	}
	if err := clock.Sleep(ctx, d); err != nil {
		return fmt.Errorf("%w: %w", replica.ErrNotApplied, err)
	}
	return nil
}
