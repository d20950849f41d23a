package raftengine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// powerLossResult is what a whole-cluster power loss left behind.
type powerLossResult struct {
	acked, lost      int
	overApplied      []string // counters above their attempts: an entry applied twice
	underAcked       []string // counters below their acknowledged increments
	ackedIncrs, seen int64
}

// runPowerLoss runs a write load on a 3-node cluster whose stores share one
// crashable in-memory FS, cuts the power of every node at once at a random
// point (CrashClone keeps exactly what was fsynced), restarts the cluster
// from the clone and checks every write acknowledged before the cut.
func runPowerLoss(t *testing.T, seed uint64, unsafeAck bool) powerLossResult {
	rng := rand.New(rand.NewPCG(seed, seed))
	fs := vfs.NewCrashableMem()
	tweak := func(_ string, cfg *Config) { cfg.UnsafeAckBeforeSync = unsafeAck; cfg.TruncateAfter = 50 }
	c := newTestCluster(t, 3, 2, fs, tweak)
	for g := range replica.GroupID(c.groups) {
		c.leader(g)
	}

	const writers = 4
	var (
		cut       atomic.Bool
		mu        sync.Mutex
		acked     = map[string]string{} // key → value acknowledged before the cut
		ackedIncr = map[string]int64{}  // counter → increments acknowledged before the cut
		tried     = map[string]int64{}  // counter → increments attempted
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := replica.GroupID(1 + w%2)
			counter := "counter-" + strconv.Itoa(w)
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				val := fmt.Sprintf("v%d-%d-%d", seed, w, i)
				cmd := kv.NewCommand(kv.Put([]byte(key), []byte(val)))
				if _, _, err := c.propose(ctx, g, cmd); err == nil && !cut.Load() {
					mu.Lock()
					acked[key] = val
					mu.Unlock()
				}
				mu.Lock()
				tried[counter]++
				mu.Unlock()
				rep, _, err := c.propose(ctx, g, kv.NewCommand(kv.IncrBy([]byte(counter), 1)))
				if err == nil && rep.Code == kv.CodeOK && !cut.Load() {
					mu.Lock()
					ackedIncr[counter]++
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
	mu.Lock() // no acknowledgement is recorded while the power goes
	clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	cut.Store(true)
	mu.Unlock()
	cancel()
	wg.Wait()
	c.stopAll()

	// Power back: the same nodes on what the disks kept.
	r := newTestCluster(t, 3, 2, clone, func(_ string, cfg *Config) { cfg.TruncateAfter = 50 })
	var res powerLossResult
	res.acked = len(acked)
	for key, val := range acked {
		w, _ := strconv.Atoi(key[1:2])
		g := replica.GroupID(1 + w%2)
		leader := r.leader(g)
		got, ok, err := r.read(leader, g, replica.Linearizable, key)
		if err != nil {
			t.Fatalf("reading %s after power loss: %v", key, err)
		}
		if !ok || got != val {
			res.lost++
		}
	}
	for w := range writers {
		g := replica.GroupID(1 + w%2)
		counter := "counter-" + strconv.Itoa(w)
		got, ok, err := r.read(r.leader(g), g, replica.Linearizable, counter)
		if err != nil {
			t.Fatalf("reading %s: %v", counter, err)
		}
		var n int64
		if ok {
			n, _ = strconv.ParseInt(got, 10, 64)
		}
		res.ackedIncrs += ackedIncr[counter]
		res.seen += n
		if n > tried[counter] {
			res.overApplied = append(res.overApplied, fmt.Sprintf("%s=%d > %d attempted", counter, n, tried[counter]))
		}
		if n < ackedIncr[counter] {
			res.underAcked = append(res.underAcked, fmt.Sprintf("%s=%d < %d acknowledged", counter, n, ackedIncr[counter]))
		}
	}
	t.Logf("seed %d: %d writes acknowledged before the cut, %d lost; counters %d seen, %d acknowledged",
		seed, res.acked, res.lost, res.seen, res.ackedIncrs)
	return res
}

func TestPowerLossKeepsAcknowledgedWrites(t *testing.T) {
	seed := rand.Uint64()
	res := runPowerLoss(t, seed, false)
	if res.acked == 0 {
		t.Fatalf("seed %d: no write was acknowledged before the cut; the test proved nothing", seed)
	}
	if res.lost > 0 || len(res.underAcked) > 0 {
		t.Fatalf("seed %d: %d of %d acknowledged writes lost after power loss; counters %v", seed, res.lost, res.acked, res.underAcked)
	}
	if len(res.overApplied) > 0 {
		t.Fatalf("seed %d: entries applied twice: %v", seed, res.overApplied)
	}
}

// The deliberately broken mode (acknowledge before fsync) must be caught.
func TestPowerLossCatchesAckBeforeSync(t *testing.T) {
	seed := rand.Uint64()
	res := runPowerLoss(t, seed, true)
	if res.acked == 0 {
		t.Fatalf("seed %d: no write was acknowledged before the cut; the test proved nothing", seed)
	}
	if res.lost == 0 && len(res.underAcked) == 0 {
		t.Fatalf("seed %d: acknowledging before fsync lost nothing: the power-loss test cannot see a missing fsync", seed)
	}
}
