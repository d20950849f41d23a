package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
)

// procState is what the harness last did to a server process.
type procState int

const (
	stopped procState = iota // never started, killed, or exited
	running
	paused // SIGSTOP
)

// server is one `cairn server` process of the cluster.
type server struct {
	name              string
	grpc, http, redis string // 127.0.0.1:port
	dataDir, logPath  string
	args              []string

	mu struct {
		sync.Mutex
		cmd      *exec.Cmd
		exited   chan struct{} // closed once cmd is reaped; nil when never started
		state    procState
		expected bool // the harness asked for the exit (kill -9)
		// retired: the node was drained and removed from the cluster and
		// the harness stopped it for good; it is never started again.
		retired bool
	}
}

// cluster runs the servers: start, kill -9, restart on the same flags and
// data directory, SIGSTOP/SIGCONT, add a node that joins the running
// cluster, retire one that left it, and kill everything at close. Every
// child is in its own process group (a terminal's Ctrl-C reaches only the
// harness, which then kills the children) and, on Linux, gets SIGKILL if
// the harness dies (Pdeathsig), so no server outlives a run.
type cluster struct {
	binary     string
	dir        string
	serverArgs []string
	env        []string
	spawn      *spawner
	log        *slog.Logger
	mu         struct {
		sync.Mutex
		// servers: the founders, then the nodes that joined, in order.
		// Only appended to; read with list.
		servers  []*server
		failures []string // servers that exited on their own
		closed   bool
	}
}

// clusterConfig is what newCluster needs.
type clusterConfig struct {
	Binary string
	Dir    string // data directories and logs go under it
	Names  []string
	// ServerArgs come after the per-node flags of every server, founders
	// and joiners alike: --partitions, ...
	ServerArgs []string
	// FounderArgs come after those of the founders only: flags that name
	// a new cluster, which a joined node must not be given (on a restart
	// they would name another cluster than the one its data belongs to).
	FounderArgs []string
	Logger      *slog.Logger
}

// newCluster lays out the servers (ports, directories, flags) without
// starting them.
func newCluster(cfg clusterConfig) (*cluster, error) {
	ports, err := freePorts(3*len(cfg.Names), nil)
	if err != nil {
		return nil, err
	}
	c := &cluster{binary: cfg.Binary, dir: cfg.Dir, serverArgs: cfg.ServerArgs, log: cfg.Logger, env: childEnv()}
	var initial []string
	for i, name := range cfg.Names {
		s := c.layout(name, ports[3*i:])
		c.mu.servers = append(c.mu.servers, s)
		initial = append(initial, name+"="+s.grpc)
	}
	for _, s := range c.mu.servers {
		s.args = append(s.args, "--initial-cluster", strings.Join(initial, ","))
		s.args = append(s.args, cfg.FounderArgs...)
	}
	return c, nil
}

// layout makes a server on ports[0:3] with the flags every server gets.
func (c *cluster) layout(name string, ports []int) *server {
	s := &server{
		name:    name,
		grpc:    "127.0.0.1:" + strconv.Itoa(ports[0]),
		http:    "127.0.0.1:" + strconv.Itoa(ports[1]),
		redis:   "127.0.0.1:" + strconv.Itoa(ports[2]),
		dataDir: filepath.Join(c.dir, name),
		logPath: filepath.Join(c.dir, name+".log"),
	}
	s.args = append([]string{"server",
		"--name", s.name, "--data-dir", s.dataDir,
		"--grpc-addr", s.grpc, "--http-addr", s.http, "--redis-addr", s.redis,
		"--fault-injection", "--log-format", "json"}, c.serverArgs...)
	return s
}

// add lays out a new server, name, that joins the running cluster through
// the member at join (a gRPC address), on fresh ports, and starts it. On a
// restart the server finds its data and ignores --join.
func (c *cluster) add(name, join string) (*server, error) {
	if _, err := c.server(name); err == nil {
		return nil, fmt.Errorf("runner: a server is named %s already", name)
	}
	// NB: the ports of stopped servers are free now but theirs when the
	// heal restarts them: never hand them out.
	taken := make(map[int]bool)
	for _, s := range c.list() {
		for _, a := range []string{s.grpc, s.http, s.redis} {
			if _, p, err := net.SplitHostPort(a); err == nil {
				if n, err := strconv.Atoi(p); err == nil {
					taken[n] = true
				}
			}
		}
	}
	ports, err := freePorts(3, taken)
	if err != nil {
		return nil, err
	}
	s := c.layout(name, ports)
	s.args = append(s.args, "--join", join)
	c.mu.Lock()
	c.mu.servers = append(c.mu.servers, s)
	c.mu.Unlock()
	return s, c.startServer(s)
}

// list returns the servers: the founders, then the nodes that joined.
func (c *cluster) list() []*server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.mu.servers)
}

// childEnv is the harness's environment without CAIRN_* variables: the
// servers get exactly the flags the run chose, so a run replays from its
// flags alone.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAIRN_") {
			env = append(env, kv)
		}
	}
	return env
}

// start starts every server and waits until each is ready.
func (c *cluster) start(ctx context.Context, timeout time.Duration) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	c.spawn = newSpawner()
	for _, s := range c.list() {
		if err := c.startServer(s); err != nil {
			return err
		}
	}
	return c.waitReady(ctx, timeout)
}

func (c *cluster) server(name string) (*server, error) {
	for _, s := range c.list() {
		if s.name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("runner: no server %q", name)
}

func (c *cluster) startServer(s *server) error {
	// c.mu is held throughout, so close cannot slip in between the check
	// and the fork and miss a child.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return errors.New("runner: cluster closed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.state != stopped || s.mu.retired {
		return nil
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("runner: %s's log: %w", s.name, err)
	}
	cmd := exec.Command(c.binary, s.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = c.env
	cmd.SysProcAttr = sysProcAttr()
	if err := c.spawn.start(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("runner: starting %s (%s): %w", s.name, c.binary, err)
	}
	exited := make(chan struct{})
	s.mu.cmd, s.mu.exited, s.mu.state, s.mu.expected = cmd, exited, running, false
	go func() {
		err := cmd.Wait()
		logf.Close()
		s.mu.Lock()
		expected := s.mu.expected
		s.mu.state = stopped
		s.mu.Unlock()
		if !expected {
			c.failed(fmt.Sprintf("%s exited on its own (%v); its log %s ends: %s", s.name, err, s.logPath, tail(s.logPath, 1)))
		}
		close(exited)
	}()
	c.log.Debug("started", "node", s.name, "pid", cmd.Process.Pid)
	return nil
}

func (c *cluster) failed(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return
	}
	c.mu.failures = append(c.mu.failures, msg)
	c.log.Error("node failure", "what", msg)
}

// failures returns the servers that exited without being told to.
func (c *cluster) failures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.mu.failures...)
}

// kill sends SIGKILL and waits until the process is reaped.
func (c *cluster) kill(s *server) error {
	s.mu.Lock()
	if s.mu.state == stopped {
		s.mu.Unlock()
		return nil
	}
	s.mu.expected = true
	proc, exited := s.mu.cmd.Process, s.mu.exited
	s.mu.Unlock()
	_ = proc.Signal(syscall.SIGKILL)
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("runner: %s (pid %d) not reaped 30s after SIGKILL", s.name, proc.Pid)
	}
}

// pause sends SIGSTOP to a running server; resume sends SIGCONT.
func (c *cluster) pause(s *server) error { return c.signal(s, running, paused, syscall.SIGSTOP) }

func (c *cluster) resume(s *server) error { return c.signal(s, paused, running, syscall.SIGCONT) }

func (c *cluster) signal(s *server, from, to procState, sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.state != from {
		return nil
	}
	if err := s.mu.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("runner: %v to %s: %w", sig, s.name, err)
	}
	s.mu.state = to
	return nil
}

func (s *server) state() procState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.state
}

// retire kills a server for good: it left the cluster (drained and
// removed), and heals no longer restart it.
func (c *cluster) retire(s *server) error {
	s.mu.Lock()
	s.mu.retired = true
	s.mu.Unlock()
	return c.kill(s)
}

func (s *server) retired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.retired
}

// pid is the process ID of the running or paused server, 0 when stopped.
func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.state == stopped {
		return 0
	}
	return s.mu.cmd.Process.Pid
}

// close kills every server (paused ones included: SIGKILL needs no
// SIGCONT) and waits until each is reaped. Safe to call more than once.
func (c *cluster) close() error {
	c.mu.Lock()
	c.mu.closed = true
	c.mu.Unlock()
	var errs []error
	for _, s := range c.list() {
		errs = append(errs, c.kill(s))
	}
	if c.spawn != nil {
		c.spawn.stop()
	}
	return errors.Join(errs...)
}

// waitReady polls every server's /readyz, retired ones aside, until each
// answers 200, a server exits, ctx ends, or timeout passes.
func (c *cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	for _, s := range c.list() {
		if s.retired() {
			continue
		}
		for !ready(ctx, hc, s) {
			if s.state() == stopped {
				return fmt.Errorf("runner: %s is not running; its log %s ends:\n%s", s.name, s.logPath, tail(s.logPath, 20))
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("runner: %s not ready after %v (http://%s/readyz); its log %s ends:\n%s",
					s.name, timeout, s.http, s.logPath, tail(s.logPath, 20))
			}
			if err := clock.Sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

func ready(ctx context.Context, hc *http.Client, s *server) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.http+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// freePorts finds n consecutive free loopback ports below the kernel's
// ephemeral range, none of them in taken, so that no outgoing connection
// takes one while a killed server is down and it can restart on its own
// ports (the e2e suite's freeRun, generalised).
func freePorts(n int, taken map[int]bool) ([]int, error) {
	low := ephemeralLow()
	const floor = 10000
	if low-floor < 4*n {
		return nil, fmt.Errorf("runner: no room for %d ports between %d and the ephemeral range at %d", n, floor, low)
	}
	for range 200 {
		base := floor + rand.IntN(low-floor-n) // not from the seed: ports are the machine's business
		var ls []net.Listener
		for p := base; p < base+n; p++ {
			if taken[p] {
				break
			}
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == n {
			ports := make([]int, n)
			for i := range ports {
				ports[i] = base + i
			}
			return ports, nil
		}
	}
	return nil, fmt.Errorf("runner: no run of %d free ports found below %d", n, low)
}

// ephemeralLow is the first port of Linux's ephemeral range, 32768 when it
// cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 1024 {
				return v
			}
		}
	}
	return 32768
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// spawner starts every child from one goroutine locked to its OS thread.
// NB: Linux delivers Pdeathsig when the thread that forked the child ends,
// not the process; Go may end a thread whose goroutine exits while locked to
// it. Forking from one locked thread that lives as long as the cluster makes
// "parent died" mean exactly "the harness died or closed the cluster".
type spawner struct {
	reqs chan spawnReq
	done chan struct{}
	mu   struct {
		sync.Mutex
		stopped bool
	}
}

type spawnReq struct {
	cmd   *exec.Cmd
	reply chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go func() {
		// Never unlocked: when this goroutine returns, its thread ends,
		// and any child still alive gets its Pdeathsig.
		runtime.LockOSThread()
		defer close(s.done)
		for r := range s.reqs {
			r.reply <- r.cmd.Start()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	reply := make(chan error, 1)
	s.mu.Lock()
	if s.mu.stopped {
		s.mu.Unlock()
		return errors.New("runner: spawner stopped")
	}
	s.reqs <- spawnReq{cmd: cmd, reply: reply} // the goroutine receives until stop
	s.mu.Unlock()
	return <-reply
}

func (s *spawner) stop() {
	s.mu.Lock()
	if !s.mu.stopped {
		s.mu.stopped = true
		close(s.reqs)
	}
	s.mu.Unlock()
	<-s.done
}
