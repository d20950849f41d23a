//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var binary string

// afterAll runs once every test has run (the container tests' image).
var afterAll []func()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "cairn")
	// Built once, without -race: the servers are the product, not the test.
	build := exec.Command("go", "build", "-o", binary, "../cmd/cairn")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building cairn: %v\n%s", err, out)
		os.Exit(2)
	}
	code := 0
	func() {
		defer os.RemoveAll(dir)
		code = m.Run()
		for _, f := range afterAll {
			f()
		}
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is one `cairn server` process.
type proc struct {
	name              string
	grpc, http, redis string
	dir, log          string
	args              []string
	cmd               *exec.Cmd
	// exited is closed once the process has been reaped; exitErr is set
	// before. Nothing else reads cmd.ProcessState, which cmd.Wait writes
	// from another goroutine.
	exited  chan struct{}
	exitErr error
}

// running reports whether the process was started and has not exited.
func (p *proc) running() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// exitedWithin waits up to d for the process to exit and reports whether
// it did, with its exit error.
func (p *proc) exitedWithin(d time.Duration) (bool, error) {
	select {
	case <-p.exited:
		return true, p.exitErr
	case <-time.After(d):
		return false, nil
	}
}

type cluster struct {
	t     *testing.T
	procs []*proc
	// web reaches the nodes' HTTP doors at scheme://addr: plain HTTP
	// unless the cluster serves TLS (startClusterTLS).
	web    *http.Client
	scheme string
}

var (
	portsMu sync.Mutex
	// portsGiven holds every port freePort has handed out in this run: the
	// kernel may offer a port again once its probe listener is closed, and
	// two servers told the same port collide (CI saw --grpc-addr and
	// --redis-addr get one port).
	portsGiven = map[string]bool{}
)

// freePort returns a loopback address whose port is free now and was not
// handed out before in this test binary.
func freePort(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if !portsGiven[addr] {
			portsGiven[addr] = true
			return addr
		}
	}
	t.Fatal("no fresh loopback port after 100 tries")
	return ""
}

// startCluster starts n founders with extra server args, and waits until
// every node is ready.
func startCluster(t *testing.T, n int, extra ...string) *cluster {
	return startClusterWeb(t, n, http.DefaultClient, "http", extra...)
}

// startClusterWeb is startCluster whose HTTP doors are reached with web at
// scheme://.
func startClusterWeb(t *testing.T, n int, web *http.Client, scheme string, extra ...string) *cluster {
	c := &cluster{t: t, web: web, scheme: scheme}
	base := t.TempDir()
	var initial []string
	for i := range n {
		p := &proc{name: fmt.Sprintf("n%d", i+1), grpc: freePort(t), http: freePort(t), redis: freePort(t)}
		p.dir = filepath.Join(base, p.name)
		p.log = filepath.Join(base, p.name+".log")
		c.procs = append(c.procs, p)
		initial = append(initial, p.name+"="+p.grpc)
	}
	for _, p := range c.procs {
		p.args = append([]string{"server", "--name", p.name, "--data-dir", p.dir,
			"--grpc-addr", p.grpc, "--http-addr", p.http, "--redis-addr", p.redis,
			"--initial-cluster", strings.Join(initial, ","), "--log-format", "text"}, extra...)
		c.start(p)
	}
	t.Cleanup(func() {
		for _, p := range c.procs {
			c.kill(p, syscall.SIGKILL)
		}
		if t.Failed() {
			for _, p := range c.procs {
				b, _ := os.ReadFile(p.log)
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if len(lines) > 15 {
					lines = lines[len(lines)-15:]
				}
				t.Logf("--- %s log tail:\n%s", p.name, strings.Join(lines, "\n"))
			}
		}
	})
	c.waitReady()
	return c
}

func (c *cluster) start(p *proc) {
	c.t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	p.cmd = exec.Command(binary, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = append(os.Environ(), "CAIRN_MIN_FREE_DISK=1")
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan struct{})
	p.exited = exited
	cmd := p.cmd
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.exitErr = err
		close(exited)
	}()
}

// kill sends sig and waits for the process to exit.
func (c *cluster) kill(p *proc, sig syscall.Signal) error {
	if !p.running() {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	if done, err := p.exitedWithin(20 * time.Second); done {
		return err
	}
	_ = p.cmd.Process.Kill()
	c.t.Errorf("%s did not exit within 20s of %v", p.name, sig)
	<-p.exited
	return p.exitErr
}

func (c *cluster) waitReady() {
	c.t.Helper()
	for _, p := range c.procs {
		if !p.running() {
			continue
		}
		c.waitFor(60*time.Second, p.name+" ready", func() bool {
			if !p.running() {
				c.t.Fatalf("%s exited: %v", p.name, p.exitErr)
			}
			resp, err := c.web.Get(c.scheme + "://" + p.http + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}
}

func (c *cluster) waitFor(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpDo runs one HTTP request and returns status and body.
func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// cairn runs the CLI and returns stdout and the error.
func cairn(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).Output()
	return string(out), err
}
