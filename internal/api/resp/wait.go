package resp

import (
	"context"
	"slices"
	"time"
)

// cmdWait is WAIT numreplicas timeout: a barrier (it runs after the
// connection's earlier commands have been answered) that waits until
// numreplicas of the other replicas of every partition the connection
// wrote to hold its writes durably, or timeout milliseconds (0: no limit,
// as in Redis), and answers how many do: the least over those partitions.
// Meaningful on an async primary-backup cluster, where a write is
// acknowledged on the primary's own fsync; on Raft, Paxos and sync
// primary-backup a write is already on a quorum, or every in-sync
// replica, when acknowledged. A connection that wrote nothing gets R−1
// (every other replica has all of nothing), as Redis answers the replicas
// it has.
func cmdWait(s *Server, c *client, o *op) {
	need, ok1 := parseInt(o.args[1])
	ms, ok2 := parseInt(o.args[2])
	switch {
	case !ok1 || !ok2:
		o.fail(errNotInt)
		return
	case ms < 0:
		o.fail("ERR timeout is negative")
		return
	case need < 0:
		need = 0
	}
	o.barrier = func(s *Server, c *client, o *op) {
		var parts []int
		for p := range c.sessions {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		if len(parts) == 0 {
			o.out = appendInt(o.out[:0], int64(max(s.b.Cluster().Settings.Replicas-1, 0)))
			return
		}
		ctx, cancel := s.ctx, context.CancelFunc(func() {})
		if ms > 0 {
			ctx, cancel = context.WithTimeout(s.ctx, time.Duration(ms)*time.Millisecond)
		}
		defer cancel()
		least := -1
		for _, p := range parts {
			n, err := s.b.Replicated(ctx, p, int(need))
			if err != nil {
				n = 0 // no leader known: none is known to hold the writes
			}
			if least < 0 || n < least {
				least = n
			}
		}
		o.out = appendInt(o.out[:0], int64(least))
	}
}
