package runner

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testkit"
)

// fakeCluster lays out n fake servers (this test binary, see TestMain).
func fakeCluster(t *testing.T, mode string, n int) *cluster {
	t.Helper()
	t.Setenv("RUNNER_TEST_FAKE_SERVER", mode)
	names := []string{"n1", "n2", "n3", "n4", "n5"}[:n]
	c, err := newCluster(clusterConfig{Binary: os.Args[0], Dir: t.TempDir(), Names: names, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// gone reports whether pid no longer exists: killed and reaped (a zombie
// still answers signal 0).
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// procStateLetter reads a process's state letter from /proc (T: stopped).
func procStateLetter(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return f[0]
}

// The process faults and the cleanup, on real child processes: pause is
// SIGSTOP, kill is SIGKILL and reaps, a restart runs the same flags, an
// exit nobody asked for is a failure, and close leaves no process behind.
func TestClusterProcesses(t *testing.T) {
	c := fakeCluster(t, "serve", 3)
	defer c.close()
	ctx := context.Background()
	if err := c.start(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	servers := c.list()
	n1, n2, n3 := servers[0], servers[1], servers[2]
	for _, s := range servers {
		if !strings.Contains(strings.Join(s.args, " "), "--fault-injection") {
			t.Fatalf("%s runs without --fault-injection: %q", s.name, s.args)
		}
	}

	pid1 := n1.pid()
	if err := c.pause(n1); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "n1 to be stopped", func() bool { return procStateLetter(t, pid1) == "T" })
	if err := c.resume(n1); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "n1 to run again", func() bool { return procStateLetter(t, pid1) != "T" })

	pid2 := n2.pid()
	if err := c.kill(n2); err != nil {
		t.Fatal(err)
	}
	if !gone(pid2) || n2.state() != stopped {
		t.Fatalf("n2 (pid %d) not reaped after kill", pid2)
	}
	if err := c.startServer(n2); err != nil {
		t.Fatal(err)
	}
	if err := c.waitReady(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if p := n2.pid(); p == 0 || p == pid2 {
		t.Fatalf("n2 restarted as pid %d (was %d)", p, pid2)
	}
	if f := c.failures(); len(f) != 0 {
		t.Fatalf("a kill by the nemesis counted as a failure: %q", f)
	}

	// n3 dies behind the harness's back.
	pid3 := n3.pid()
	if err := syscall.Kill(pid3, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "n3's exit to be noticed", func() bool { return len(c.failures()) == 1 })
	if f := c.failures()[0]; !strings.Contains(f, "n3 exited on its own") {
		t.Fatalf("failure %q", f)
	}

	// A paused server is killed at close too.
	if err := c.pause(n1); err != nil {
		t.Fatal(err)
	}
	pids := []int{n1.pid(), n2.pid()}
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(pids, pid3) {
		if !gone(p) {
			t.Errorf("pid %d still exists after close", p)
		}
	}
	if err := c.startServer(n3); err == nil {
		t.Fatal("a closed cluster started a server")
	}
	if f := c.failures(); len(f) != 1 {
		t.Fatalf("close's kills counted as failures: %q", f)
	}
}

// A server that exits at once fails the start, with its log's tail.
func TestClusterStartFailure(t *testing.T) {
	c := fakeCluster(t, "exit", 3)
	err := c.start(context.Background(), 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("start = %v; want an error quoting the server's log", err)
	}
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := freePorts(15, nil)
	if err != nil {
		t.Fatal(err)
	}
	low := ephemeralLow()
	for i, p := range ports {
		if p != ports[0]+i || p >= low || p < 10000 {
			t.Fatalf("ports %v: want a run below %d", ports, low)
		}
	}
}

// A node added to a running cluster gets the flags of the others, --join
// and not the founders' flags, and ports no other server has, a stopped
// one's included; once retired it is never started again and no longer
// waited for.
func TestClusterJoinAndRetire(t *testing.T) {
	c := fakeCluster(t, "serve", 3)
	defer c.close()
	ctx := context.Background()
	if err := c.start(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	n1 := c.list()[0]
	if err := c.kill(c.list()[2]); err != nil { // its ports are free, but still its own
		t.Fatal(err)
	}
	j1, err := c.add("j1", n1.grpc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.add("j1", n1.grpc); err == nil {
		t.Fatal("a second j1 was added")
	}
	args := strings.Join(j1.args, " ")
	if !strings.Contains(args, "--join "+n1.grpc) || strings.Contains(args, "--initial-cluster") || !strings.Contains(args, "--fault-injection") {
		t.Fatalf("j1's flags: %s", args)
	}
	ports := map[string]string{}
	for _, s := range c.list() {
		for _, a := range []string{s.grpc, s.http, s.redis} {
			if other, dup := ports[a]; dup {
				t.Fatalf("%s and %s share %s", other, s.name, a)
			}
			ports[a] = s.name
		}
	}
	if err := c.startServer(c.list()[2]); err != nil {
		t.Fatal(err)
	}
	if err := c.waitReady(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	pid := j1.pid()
	if err := c.retire(j1); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Fatalf("j1 (pid %d) still runs after retire", pid)
	}
	if err := c.startServer(j1); err != nil || j1.state() != stopped {
		t.Fatalf("a retired server started again: %v, state %v", err, j1.state())
	}
	if err := c.waitReady(ctx, 5*time.Second); err != nil {
		t.Fatalf("waitReady waited for a retired server: %v", err)
	}
	if f := c.failures(); len(f) != 0 {
		t.Fatalf("failures %q", f)
	}
}
