package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
)

// Follower reads (and linearizable ones) under concurrent writes while
// leadership keeps moving: the recorded history is linearizable per key
// (porcupine, through internal/chaos).
func TestFollowerReadsLinearizableUnderLeaderChanges(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	c := newClient(t, tc.endpoints(), Options{Balance: "round-robin"})
	keys := keysPerPartition("lin-", 1)[:4]
	start := time.Now()
	rec := chaos.NewRecorder(func() int64 { return int64(time.Since(start)) })
	stop := make(chan struct{})
	var moves, followerReads atomic.Int64

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the nemesis: move the leadership of the keys' partitions around
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			p := partitionOf(keys[i%len(keys)], testPartitions)
			from := tc.leaderOf(p)
			if from == "" {
				continue
			}
			names := tc.running()
			to := names[(i+1)%len(names)]
			if to == from {
				to = names[(i+2)%len(names)]
			}
			mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if tc.node(from).TransferLeader(mctx, p, to) == nil {
				moves.Add(1)
			}
			cancel()
		}
	}()
	var unique atomic.Int64
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				key := keys[rng.IntN(len(keys))]
				if rng.IntN(2) == 0 {
					v := fmt.Sprintf("w%d-%d", w, unique.Add(1))
					h := rec.Invoke(w, chaos.Put, string(key), chaos.Input{Value: v})
					_, err := c.Put(ctx, key, []byte(v))
					rec.CompleteError(h, outcomeOf(err), err)
					continue
				}
				mode, kind := Follower, "follower"
				if rng.IntN(4) == 0 {
					mode, kind = Linearizable, "linearizable"
				}
				h := rec.Invoke(w, chaos.Get, string(key), chaos.Input{})
				it, found, err := c.Get(ctx, key, WithReadMode(mode))
				if err != nil {
					rec.CompleteError(h, chaos.Failed, err) // a failed read is dropped
					continue
				}
				if kind == "follower" {
					followerReads.Add(1)
				}
				rec.Complete(h, chaos.Output{Exists: found, Value: string(it.Value)}, chaos.OK)
			}
		}()
	}
	// At least 4 s, and on a busy machine as long as it takes (up to 30 s)
	// for enough moves and follower reads to mean something.
	for begun := time.Now(); time.Since(begun) < 30*time.Second; time.Sleep(50 * time.Millisecond) {
		if time.Since(begun) >= 4*time.Second && moves.Load() >= 3 && followerReads.Load() >= 100 {
			break
		}
	}
	close(stop)
	wg.Wait()
	res, err := chaos.CheckRegister(rec.History(), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != chaos.VerdictOk {
		path := t.TempDir() + "/history.html"
		_ = res.WriteVisualization(path)
		t.Fatalf("history of %d ops: %v (keys failing: %v; visualization %s)", res.Ops, res.Verdict, res.Failed(), path)
	}
	if moves.Load() < 3 || followerReads.Load() < 100 {
		t.Fatalf("%d leader moves and %d follower reads: too few for the test to mean anything", moves.Load(), followerReads.Load())
	}
	t.Logf("%d ops (%d follower reads) under %d leader moves: linearizable", res.Ops, followerReads.Load(), moves.Load())
}

// outcomeOf classifies a write's error as DESIGN.md's outcome table does.
func outcomeOf(err error) chaos.Outcome {
	switch {
	case err == nil:
		return chaos.OK
	case errors.Is(err, ErrNotApplied):
		return chaos.Failed
	default:
		return chaos.Indeterminate
	}
}
