//go:build e2e

package e2e

import (
	"log/slog"
	"net"
	"strconv"
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
