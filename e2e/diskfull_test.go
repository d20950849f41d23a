//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// mountSmall mounts a tmpfs of size bytes for the test, or skips saying
// why (mounting needs root).
func mountSmall(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs for the disk-full test (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func fill(t *testing.T, path string, mib int) {
	t.Helper()
	if err := os.WriteFile(path, make([]byte, mib<<20), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A node whose disk fills under a fast writer stops without losing an
// acknowledged write; restarted with a little space freed it either
// serves or refuses at once, saying space is short — it never hangs in
// start-up, and answers SIGTERM within 5 s; with enough space freed it
// serves every acknowledged write.
func TestDiskFillsAndRecovers(t *testing.T) {
	small := mountSmall(t, "192m")
	c := &cluster{t: t, web: http.DefaultClient, scheme: "http"}
	p := &proc{name: "n1", grpc: freePort(t), http: freePort(t), redis: freePort(t), dir: filepath.Join(small, "n1"), log: filepath.Join(t.TempDir(), "n1.log")}
	p.args = []string{"server", "--name", p.name, "--data-dir", p.dir, "--grpc-addr", p.grpc, "--http-addr", p.http,
		"--redis-addr", p.redis, "--initial-cluster", p.name + "=" + p.grpc, "--partitions", "4", "--log-format", "text"}
	c.procs = []*proc{p}
	t.Cleanup(func() {
		c.kill(p, syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			t.Logf("--- log tail:\n%s", strings.Join(lines[max(0, len(lines)-20):], "\n"))
		}
	})
	c.start(p)
	c.waitReady()
	// What the writer may fill, kept apart so that freeing it is exact.
	fill(t, filepath.Join(small, "spare1"), 12)
	fill(t, filepath.Join(small, "spare2"), 40)

	// A fast writer: 16 clients, 64 KiB values, until the node stops
	// answering writes.
	acked := &ackedWrites{m: map[string]ackedWrite{}}
	rdb := redis.NewClient(&redis.Options{Addr: p.redis, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, MaxRetries: -1, PoolSize: 16})
	defer rdb.Close()
	value := strings.Repeat("v", 64<<10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	refusals := map[string]int{}
	deadline := time.Now().Add(60 * time.Second)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fails := 0
			for i := 0; fails < 20 && time.Now().Before(deadline); i++ {
				key := fmt.Sprintf("w%02d-%06d", w, i)
				v := key + value
				err := rdb.Set(context.Background(), key, v, 0).Err()
				if err == nil {
					acked.add(key, v, "writer") // NB: not a node name: verifyAcked reads through a node other than the writer's
					fails = 0
					continue
				}
				fails++
				msg := err.Error()
				if strings.Contains(msg, "connection refused") {
					return // the node stopped (fail-stop on ENOSPC)
				}
				mu.Lock()
				refusals[strings.SplitN(msg, " ", 2)[0]]++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d writes acknowledged before the disk filled; refusals by first word: %v", acked.len(), refusals)
	if acked.len() == 0 {
		t.Fatal("no write was acknowledged")
	}
	// Stop it, whatever state it is in (it may have stopped itself on ENOSPC).
	c.kill(p, syscall.SIGKILL)

	// A little space back: start-up must not hang.
	if err := os.Remove(filepath.Join(small, "spare1")); err != nil {
		t.Fatal(err)
	}
	c.start(p)
	startedBy := time.Now().Add(15 * time.Second)
	outcome := ""
	for outcome == "" && time.Now().Before(startedBy) {
		if !p.running() {
			outcome = fmt.Sprintf("exited (%v)", p.exitErr)
			break
		}
		if code, err := httpDoQuiet("GET", "http://"+p.http+"/livez", ""); err == nil && code == 200 {
			outcome = "serving"
		}
		time.Sleep(100 * time.Millisecond)
	}
	switch outcome {
	case "":
		t.Fatal("restarted with a little space freed, the node neither served nor exited within 15 s")
	case "serving":
	default:
		b, _ := os.ReadFile(p.log)
		if !strings.Contains(string(b), "free some space") {
			t.Fatalf("the node %s without saying that space is short", outcome)
		}
	}
	t.Logf("restarted with 12 MiB freed: %s", outcome)
	if p.running() {
		start := time.Now()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if done, _ := p.exitedWithin(5 * time.Second); !done {
			t.Fatal("the node did not answer SIGTERM within 5 s")
		}
		t.Logf("SIGTERM answered in %v", time.Since(start).Round(time.Millisecond))
	}

	// Enough space back: every acknowledged write is there.
	if err := os.Remove(filepath.Join(small, "spare2")); err != nil {
		t.Fatal(err)
	}
	c.start(p)
	c.waitReady()
	verifyAcked(t, c.procs, acked)
}
