//go:build e2e

package e2e

import (
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/devcluster"
)

// cairn dev's machinery: real child processes, ready by /readyz, stopped
// cleanly by SIGTERM, data kept between runs and dropped with Fresh.
func TestDevCluster(t *testing.T) {
	base := freeRun(t)
	cfg := devcluster.Config{
		Nodes: 3, DataDir: t.TempDir(), Binary: binary, Logger: slog.New(slog.DiscardHandler),
		GRPCPort: base, HTTPPort: base + 3, RedisPort: base + 6,
	}
	nodes, err := devcluster.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := httpDo(t, "PUT", "http://"+nodes[0].HTTP+"/v1/kv/kept", "yes"); code != 201 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if code, body := httpDo(t, "GET", "http://"+nodes[2].HTTP+"/v1/kv/kept", ""); code != 200 || body != "yes" {
		t.Fatalf("GET on n3: %d %q", code, body)
	}
	if err := devcluster.Stop(nodes, 20*time.Second); err != nil {
		t.Fatalf("stopping cleanly: %v", err)
	}
	nodes, err = devcluster.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := httpDo(t, "GET", "http://"+nodes[1].HTTP+"/v1/kv/kept", ""); code != 200 || body != "yes" {
		t.Fatalf("GET after a restart: %d %q (the data directory is kept between runs)", code, body)
	}
	if err := devcluster.Stop(nodes, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	cfg.Fresh = true
	nodes, err = devcluster.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer devcluster.Stop(nodes, 20*time.Second)
	if code, _ := httpDo(t, "GET", "http://"+nodes[1].HTTP+"/v1/kv/kept", ""); code != 404 {
		t.Fatalf("GET after --fresh: %d, want 404", code)
	}
}

// freeRun finds nine consecutive free ports below Linux's ephemeral range
// (32768 and up), so no outgoing connection takes one meanwhile; cairn dev
// gives node i the base ports plus i-1.
func freeRun(t *testing.T) int {
	t.Helper()
	for base := 12000 + time.Now().Nanosecond()%1000*20; base < 32000; base += 20 {
		ok := true
		for p := base; p < base+9 && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no run of nine free ports below 32000")
	return 0
}

// freeBase finds a --base-port B whose nodes' ports (B, B+1000, B+2000,
// each plus 0..2) are free now.
func freeBase(t *testing.T) int {
	t.Helper()
	for b := 12000 + time.Now().Nanosecond()%500*10; b < 29000; b += 10 {
		ok := true
		for _, p := range []int{b, b + 1, b + 2, b + 1000, b + 1001, b + 1002, b + 2000, b + 2001, b + 2002} {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return b
		}
	}
	t.Fatal("no free --base-port below 29000")
	return 0
}

// cairn dev killed with kill -9 takes its servers with it (Pdeathsig), so
// the next cairn dev on the same ports and data starts.
func TestDevKilledTakesItsServers(t *testing.T) {
	dir := t.TempDir()
	base := strconv.Itoa(freeBase(t))
	start := func() (*exec.Cmd, *syncBuffer) {
		var out syncBuffer
		cmd := exec.Command(binary, "dev", "--base-port", base, "--data-dir", dir, "--log-format", "json")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(90 * time.Second)
		for !strings.Contains(out.String(), "3 nodes ready") {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("cairn dev not ready after 90s:\n%s", out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		return cmd, &out
	}
	dev, _ := start()
	var pids []int
	for _, n := range []string{"n1", "n2", "n3"} {
		b, err := os.ReadFile(filepath.Join(dir, n+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		pids = append(pids, pid)
	}
	_ = dev.Process.Kill()
	_ = dev.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				for _, p := range pids {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
				t.Fatalf("server pid %d still runs 30s after cairn dev was killed", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	dev, out := start()
	_ = dev.Process.Signal(syscall.SIGTERM)
	if err := dev.Wait(); err != nil {
		t.Fatalf("cairn dev after SIGTERM: %v\n%s", err, out.String())
	}
}
