package devcluster

import (
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A port taken by anything else (a local Redis on 6379) stops cairn dev
// before any child starts, with the real cause and the flag that helps.
func TestStartRefusesABusyPort(t *testing.T) {
	// A busy port whose neighbour below (n1's RESP port) is free: CI once
	// drew one whose neighbour something else held.
	var l net.Listener
	var port int
	for range 50 {
		c, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		below, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(c.Addr().(*net.TCPAddr).Port-1))
		if err == nil {
			below.Close()
			l, port = c, c.Addr().(*net.TCPAddr).Port
			break
		}
		c.Close()
	}
	if l == nil {
		t.Fatal("no busy port with a free neighbour in 50 tries")
	}
	defer l.Close()
	dir := t.TempDir()
	// n2's RESP port is the busy one.
	_, err := Start(Config{Nodes: 3, DataDir: dir, Binary: "/nonexistent", Logger: quiet(),
		RedisPort: port - 1, GRPCPort: 40000, HTTPPort: 40100})
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "--base-port") ||
		!strings.Contains(err.Error(), "n2's RESP port 127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("Start = %v; want n2's RESP port named, the cause and --base-port", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dev.json")); err == nil {
		t.Error("dev.json written by a run that never started")
	}
}

func TestBasePort(t *testing.T) {
	c := Config{BasePort: 20000}
	c.setDefaults()
	if c.RedisPort != 20000 || c.GRPCPort != 21000 || c.HTTPPort != 22000 {
		t.Fatalf("--base-port 20000: RESP %d gRPC %d HTTP %d", c.RedisPort, c.GRPCPort, c.HTTPPort)
	}
	c = Config{}
	c.setDefaults()
	if c.RedisPort != 6379 || c.GRPCPort != 7379 || c.HTTPPort != 8379 {
		t.Fatalf("default: RESP %d gRPC %d HTTP %d; want DESIGN.md's 6379, 7379, 8379", c.RedisPort, c.GRPCPort, c.HTTPPort)
	}
	c = Config{BasePort: 64000, Nodes: 3, DataDir: t.TempDir(), Logger: quiet()}
	if _, err := Start(c); err == nil || !strings.Contains(err.Error(), "--base-port 64000") {
		t.Fatalf("ports past 65535: %v", err)
	}
}

// After a 5-node run, a plain 3-node one is refused with the flags that
// match the data, not the server's "drop those flags" (flags the user
// never typed: cairn dev makes them).
func TestLayoutRefusal(t *testing.T) {
	dir := t.TempDir()
	five := Config{Nodes: 5, DataDir: dir}
	five.setDefaults()
	if err := writeLayout(five); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string // "" means accepted
	}{
		{"same", Config{Nodes: 5}, ""},
		{"fewer nodes", Config{Nodes: 3}, "use --fresh to start over, or --nodes 5"},
		{"other base port", Config{Nodes: 5, BasePort: 16379}, "use --fresh to start over, or --base-port 6379"},
		{"both", Config{Nodes: 3, BasePort: 16379}, "or --nodes 5 --base-port 6379"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.DataDir = dir
			cfg.setDefaults()
			err := checkLayout(cfg)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("checkLayout = %v; want %q", err, c.want)
			case err != nil && strings.Contains(err.Error(), "drop"):
				t.Fatalf("%v: still tells the user to drop flags", err)
			}
		})
	}
	t.Run("data from before dev.json", func(t *testing.T) {
		old := t.TempDir()
		for _, n := range []string{"n1", "n2", "n3", "n4", "n5"} {
			if err := os.Mkdir(filepath.Join(old, n), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cfg := Config{Nodes: 3, DataDir: old}
		cfg.setDefaults()
		if err := checkLayout(cfg); err == nil || !strings.Contains(err.Error(), "--nodes 5") {
			t.Fatalf("checkLayout = %v; want --nodes 5", err)
		}
	})
}

// A pid file naming a live "cairn server" of that node's data directory
// stops the next run, naming the node, its pid and how to stop it; a pid
// file of a process that is gone (or is something else) is cleared.
func TestRefuseStale(t *testing.T) {
	dir := t.TempDir()
	// A stand-in for a left-behind server: its command line is that of
	// "cairn server --data-dir <dir>/n1".
	cmd := exec.Command("sh", "-c", "sleep 60", "server", "--data-dir", filepath.Join(dir, "n1"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	write := func(name string, pid int) {
		if err := os.WriteFile(pidPath(dir, name), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("n1", cmd.Process.Pid)
	write("n2", other.Process.Pid) // alive, but not a server of n2
	write("n3", 1<<22+7)           // no such process

	err := refuseStale(dir)
	if err == nil || !strings.Contains(err.Error(), "n1 (pid "+strconv.Itoa(cmd.Process.Pid)+")") ||
		!strings.Contains(err.Error(), "kill "+strconv.Itoa(cmd.Process.Pid)) || strings.Contains(err.Error(), "n2") {
		t.Fatalf("refuseStale = %v; want n1 alone, with its pid and a kill command", err)
	}
	for _, n := range []string{"n2", "n3"} {
		if _, err := os.Stat(pidPath(dir, n)); err == nil {
			t.Errorf("%s's pid file was kept", n)
		}
	}
	_, err = Start(Config{Nodes: 3, DataDir: dir, Fresh: true, Binary: "/nonexistent", Logger: quiet(), BasePort: 30000})
	if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("Start with --fresh over a live server = %v; want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "n1.pid")); err != nil {
		t.Fatal("--fresh deleted the data of a running server")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for refuseStale(dir) != nil {
		if time.Now().After(deadline) {
			t.Fatal("still refused after the server exited")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
