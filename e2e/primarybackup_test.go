//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cairnkv/cairn/internal/keyspace"
)

// pbKills is how many times TestPrimaryBackupKillPrimary kills a primary:
// CAIRN_E2E_PB_KILLS, default 3 (the failover timings use 20).
func pbKills(t *testing.T) int {
	if v := os.Getenv("CAIRN_E2E_PB_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CAIRN_E2E_PB_KILLS=%q: want a positive count", v)
		}
		return n
	}
	return 3
}

// A primary-backup cluster in sync mode, its primary of partition 0 killed
// with SIGKILL again and again under a write load through go-redis: each
// time a backup takes over at a higher epoch and writes to the partition
// are served again, and no acknowledged write is lost. The time from the
// kill to the first write served again is logged (not asserted).
func TestPrimaryBackupKillPrimary(t *testing.T) {
	const P = 4
	c := startCluster(t, 3, "--partitions", strconv.Itoa(P), "--engine", "primary-backup")
	ctx := context.Background()
	byName := map[string]*proc{}
	for _, p := range c.procs {
		byName[p.name] = p
	}
	var keySeq struct {
		sync.Mutex
		n int
	}
	nextKey := func() string { // a fresh key of partition 0
		keySeq.Lock()
		defer keySeq.Unlock()
		for {
			keySeq.n++
			k := fmt.Sprintf("pb-%d", keySeq.n)
			if keyspace.PartitionOf([]byte(k), P) == 0 {
				return k
			}
		}
	}
	clients := map[string]*redis.Client{}
	for _, p := range c.procs {
		clients[p.name] = redis.NewClient(&redis.Options{Addr: p.redis, MaxRetries: -1, DialTimeout: time.Second,
			ReadTimeout: 3 * time.Second, WriteTimeout: time.Second})
		defer clients[p.name].Close()
	}
	var liveMu sync.Mutex
	down := map[string]bool{}
	liveClient := func(r *rand.Rand, but string) *redis.Client {
		liveMu.Lock()
		defer liveMu.Unlock()
		var names []string
		for _, p := range c.procs {
			if !down[p.name] && p.name != but {
				names = append(names, p.name)
			}
		}
		return clients[names[r.IntN(len(names))]]
	}

	// Writers: unique keys of partition 0 through any live node.
	var ackMu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := nextKey()
				if err := liveClient(r, "").Set(ctx, k, k, 0).Err(); err == nil {
					ackMu.Lock()
					acked[k] = true
					ackMu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	primary := func() (string, uint64) {
		var view struct {
			Partitions []struct {
				Leader string `json:"leader"`
				Term   uint64 `json:"term"`
			} `json:"partitions"`
		}
		for _, p := range c.procs {
			liveMu.Lock()
			isDown := down[p.name]
			liveMu.Unlock()
			if isDown {
				continue
			}
			if code, body := httpDo(t, "GET", "http://"+p.http+"/v1/cluster", ""); code == 200 && json.Unmarshal([]byte(body), &view) == nil {
				if l := view.Partitions[0]; l.Leader != "" {
					return l.Leader, l.Term
				}
			}
		}
		return "", 0
	}

	var took []time.Duration
	r := rand.New(rand.NewPCG(7, 7))
	for round := range pbKills(t) {
		time.Sleep(time.Second) // some writes under this primary
		var victim string
		var epoch uint64
		c.waitFor(30*time.Second, "partition 0 to have a primary", func() bool { victim, epoch = primary(); return victim != "" })
		liveMu.Lock()
		down[victim] = true
		liveMu.Unlock()
		killed := time.Now()
		if err := c.kill(byName[victim], syscall.SIGKILL); err == nil {
			t.Fatalf("%s exited cleanly after SIGKILL", victim)
		}
		c.waitFor(60*time.Second, "a write to partition 0 served after its primary was killed", func() bool {
			k := nextKey()
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := liveClient(r, victim).Set(wctx, k, k, 0).Err(); err != nil {
				return false
			}
			ackMu.Lock()
			acked[k] = true
			ackMu.Unlock()
			return true
		})
		d := time.Since(killed)
		took = append(took, d)
		now, newEpoch := primary()
		t.Logf("kill %d: %s (primary at epoch %d) killed; writes served again after %v by %s at epoch %d",
			round+1, victim, epoch, d.Round(time.Millisecond), now, newEpoch)
		if newEpoch <= epoch || now == victim {
			t.Fatalf("after the kill partition 0's primary is %s at epoch %d (was %s at %d)", now, newEpoch, victim, epoch)
		}
		c.start(byName[victim])
		c.waitReady()
		liveMu.Lock()
		down[victim] = false
		liveMu.Unlock()
	}
	close(stop)
	wg.Wait()

	// Every acknowledged write is there, read through every node.
	ackMu.Lock()
	defer ackMu.Unlock()
	for _, p := range c.procs {
		rdb := clients[p.name]
		for k := range acked {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			v, err := rdb.Get(rctx, k).Result()
			cancel()
			if err != nil || v != k {
				t.Fatalf("acknowledged write %s lost: GET on %s = %q, %v", k, p.name, v, err)
			}
		}
	}
	slices.Sort(took)
	t.Logf("%d acknowledged writes to partition 0, all present on every node after %d kills of its primary; "+
		"kill -9 to writes served again: p50 %v, max %v (all: %v)",
		len(acked), len(took), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), took)
}

// An async primary-backup cluster (cairn server --engine primary-backup
// --pb-mode async): Redis's WAIT through go-redis on every node answers
// that both backups hold the connection's writes; the primaries' nodes
// export the loss window and the lag; cairn admin status shows the
// primary-backup section.
func TestPrimaryBackupAsyncWait(t *testing.T) {
	c := startCluster(t, 3, "--partitions", "4", "--engine", "primary-backup", "--pb-mode", "async")
	ctx := context.Background()
	for i, p := range c.procs {
		rdb := redis.NewClient(&redis.Options{Addr: p.redis})
		for j := range 20 {
			k := fmt.Sprintf("wait-%d-%d", i, j)
			if err := rdb.Set(ctx, k, k, 0).Err(); err != nil {
				t.Fatalf("SET on %s: %v", p.name, err)
			}
		}
		n, err := rdb.Wait(ctx, 2, 5*time.Second).Result()
		_ = rdb.Close()
		if err != nil || n != 2 {
			t.Fatalf("WAIT 2 5000 on %s after 20 writes = %d, %v; want 2 (both backups hold them)", p.name, n, err)
		}
	}
	var view struct {
		Settings struct {
			PBMode string `json:"pb_mode"`
		} `json:"settings"`
	}
	_, body := httpDo(t, "GET", "http://"+c.procs[0].http+"/v1/cluster", "")
	if err := json.Unmarshal([]byte(body), &view); err != nil || view.Settings.PBMode != "async" {
		t.Fatalf("/v1/cluster settings: %v %s", err, body)
	}
	found := map[string]bool{}
	for _, p := range c.procs {
		_, metrics := httpDo(t, "GET", "http://"+p.http+"/metrics", "")
		for _, m := range []string{"cairn_pb_lag_entries{", "cairn_pb_lag_bytes{", "cairn_pb_lag_seconds{", "cairn_pb_loss_window_entries{"} {
			if strings.Contains(metrics, m) {
				found[m] = true
			}
		}
	}
	if len(found) != 4 {
		t.Fatalf("the primaries' nodes export only %v of the lag and loss window metrics", found)
	}
	out, err := cairn(t, "admin", "status", "--endpoints", c.procs[0].grpc)
	if err != nil || !strings.Contains(out, "LOSS-WINDOW") || !strings.Contains(out, "IN-SYNC") {
		t.Fatalf("cairn admin status: %v\n%s", err, out)
	}
	t.Logf("cairn admin status on an async primary-backup cluster:\n%s", out)
}
