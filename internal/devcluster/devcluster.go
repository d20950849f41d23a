package devcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Config configures a dev cluster.
type Config struct {
	Nodes   int    // default 3
	DataDir string // default ./cairn-dev
	Fresh   bool   // delete DataDir first
	Binary  string // the cairn executable to run as "cairn server"
	Out     io.Writer
	Logger  *slog.Logger
	// BasePort (--base-port) B gives node i RESP B+i−1, gRPC B+1000+i−1 and
	// HTTP B+2000+i−1. 0: DefaultBasePort, unless the ports below are set.
	BasePort int
	// Base ports of node 1 (DESIGN.md's defaults: RESP 6379, gRPC 7379,
	// HTTP 8379); node i adds i−1. Set, they win over BasePort (tests).
	RedisPort, GRPCPort, HTTPPort int
	// ReadyTimeout bounds the wait for every node's /readyz. Default 60s.
	ReadyTimeout time.Duration
	// Engine is the cluster's replication engine (--engine); "": the
	// server's default (raft). Fixed when the data directory is created.
	Engine string
	// PBMode is --pb-mode (sync or async) of a primary-backup cluster; "":
	// the server's default (sync).
	PBMode string
	// Extra arguments for every server (tests: a short tick, say).
	ServerArgs []string
}

func (c *Config) setDefaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.DataDir == "" {
		c.DataDir = "./cairn-dev"
	}
	if c.BasePort == 0 {
		c.BasePort = DefaultBasePort
	}
	if c.RedisPort == 0 {
		c.RedisPort = c.BasePort
	}
	if c.GRPCPort == 0 {
		c.GRPCPort = c.BasePort + 1000
	}
	if c.HTTPPort == 0 {
		c.HTTPPort = c.BasePort + 2000
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 60 * time.Second
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// DefaultBasePort keeps DESIGN.md's default ports for node 1: RESP 6379,
// gRPC 7379, HTTP 8379.
const DefaultBasePort = 6379

// Node is one child's endpoints.
type Node struct {
	Name              string
	GRPC, HTTP, Redis string
	DataDir, LogFile  string
	PidFile           string // <data-dir>/<name>.pid while it runs
	cmd               *exec.Cmd
	exited            chan error
}

// Run starts the cluster, waits until it is ready, prints its endpoints and
// serves until ctx ends; then it stops every child cleanly.
func Run(ctx context.Context, cfg Config) error {
	nodes, err := Start(cfg)
	if err != nil {
		return err
	}
	cfg.setDefaults()
	printEndpoints(cfg.Out, nodes)
	select {
	case <-ctx.Done():
	case err = <-anyExit(nodes):
		err = fmt.Errorf("a node exited: %w", err)
	}
	fmt.Fprintln(cfg.Out, "\nstopping the nodes...")
	if serr := Stop(nodes, 15*time.Second); serr != nil && err == nil {
		err = serr
	}
	return err
}

// Start launches the children and waits until each is ready.
func Start(cfg Config) ([]*Node, error) {
	cfg.setDefaults()
	if cfg.Nodes < 1 || cfg.Nodes > 9 {
		return nil, fmt.Errorf("--nodes %d: want 1 to 9", cfg.Nodes)
	}
	if top := max(cfg.RedisPort, cfg.GRPCPort, cfg.HTTPPort) + cfg.Nodes - 1; min(cfg.RedisPort, cfg.GRPCPort, cfg.HTTPPort) < 1 || top > 65535 {
		return nil, fmt.Errorf("--base-port %d: the nodes' ports must lie in 1..65535 (node %d's HTTP port would be %d)", cfg.BasePort, cfg.Nodes, cfg.HTTPPort+cfg.Nodes-1)
	}
	// Servers of an earlier run still alive (cairn dev killed by kill -9,
	// or its terminal closed before Pdeathsig existed) hold the ports and
	// the data: refuse, naming them, also with --fresh.
	if err := refuseStale(cfg.DataDir); err != nil {
		return nil, err
	}
	if cfg.Fresh {
		if err := os.RemoveAll(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("--fresh: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
	}
	if err := checkLayout(cfg); err != nil {
		return nil, err
	}
	var nodes []*Node
	var initial []string
	for i := range cfg.Nodes {
		n := &Node{
			Name:   fmt.Sprintf("n%d", i+1),
			GRPC:   fmt.Sprintf("127.0.0.1:%d", cfg.GRPCPort+i),
			HTTP:   fmt.Sprintf("127.0.0.1:%d", cfg.HTTPPort+i),
			Redis:  fmt.Sprintf("127.0.0.1:%d", cfg.RedisPort+i),
			exited: make(chan error, 1),
		}
		n.DataDir = filepath.Join(cfg.DataDir, n.Name)
		n.LogFile = filepath.Join(cfg.DataDir, n.Name+".log")
		nodes = append(nodes, n)
		initial = append(initial, n.Name+"="+n.GRPC)
	}
	// Every port must be free before any child starts: a child that
	// cannot listen exits with the real cause in its log, but a process
	// already on the port would answer /readyz in its place.
	if err := checkPortsFree(nodes); err != nil {
		return nil, err
	}
	if err := writeLayout(cfg); err != nil {
		return nil, err
	}
	pgid := 0
	for _, n := range nodes {
		logf, err := os.OpenFile(n.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			Stop(nodes, 5*time.Second)
			return nil, err
		}
		args := append([]string{"server",
			"--name", n.Name, "--data-dir", n.DataDir,
			"--grpc-addr", n.GRPC, "--http-addr", n.HTTP, "--redis-addr", n.Redis,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "cairn-dev",
			"--log-format", "text"}, cfg.ServerArgs...)
		if cfg.Engine != "" {
			args = append(args, "--engine", cfg.Engine)
		}
		if cfg.PBMode != "" {
			args = append(args, "--pb-mode", cfg.PBMode)
		}
		n.cmd = exec.Command(cfg.Binary, args...)
		n.cmd.Stdout, n.cmd.Stderr = logf, logf
		n.cmd.SysProcAttr = childAttr(pgid)
		if err := n.cmd.Start(); err != nil {
			logf.Close()
			Stop(nodes, 5*time.Second)
			return nil, fmt.Errorf("starting %s: %w", n.Name, err)
		}
		if pgid == 0 {
			pgid = n.cmd.Process.Pid
		}
		go func() { n.exited <- n.cmd.Wait(); logf.Close() }()
		if err := writePid(cfg.DataDir, n); err != nil {
			Stop(nodes, 5*time.Second)
			return nil, err
		}
		cfg.Logger.Info("started", "node", n.Name, "pid", n.cmd.Process.Pid, "pgid", pgid, "log", n.LogFile)
	}
	deadline := time.Now().Add(cfg.ReadyTimeout)
	client := &http.Client{Timeout: time.Second}
	for _, n := range nodes {
		for !ready(client, n) {
			select {
			case err := <-n.exited:
				n.exited <- err
				Stop(nodes, 5*time.Second)
				return nil, fmt.Errorf("%s exited before it was ready (%v); its log %s ends:\n%s", n.Name, err, n.LogFile, tail(n.LogFile))
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				Stop(nodes, 5*time.Second)
				return nil, fmt.Errorf("%s not ready after %v (polling http://%s/readyz); its log %s ends:\n%s",
					n.Name, cfg.ReadyTimeout, n.HTTP, n.LogFile, tail(n.LogFile))
			}
		}
	}
	return nodes, nil
}

func ready(c *http.Client, n *Node) bool {
	resp, err := c.Get("http://" + n.HTTP + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func anyExit(nodes []*Node) <-chan error {
	ch := make(chan error, len(nodes))
	for _, n := range nodes {
		go func() {
			err := <-n.exited
			n.exited <- err
			ch <- fmt.Errorf("%s: %v (log: %s)", n.Name, err, n.LogFile)
		}()
	}
	return ch
}

// Stop sends SIGTERM to every running child and waits up to grace for
// each, then kills what is left.
func Stop(nodes []*Node, grace time.Duration) error {
	var errs []error
	for _, n := range nodes {
		if n.cmd != nil && n.cmd.Process != nil {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(grace)
	for _, n := range nodes {
		if n.cmd == nil || n.cmd.Process == nil {
			continue
		}
		select {
		case err := <-n.exited:
			n.exited <- err
			removePid(n)
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
			} else if err != nil && ee.ExitCode() != 0 {
				errs = append(errs, fmt.Errorf("%s exited with %v; log %s", n.Name, err, n.LogFile))
			}
		case <-deadline:
			_ = n.cmd.Process.Kill()
			removePid(n)
			errs = append(errs, fmt.Errorf("%s did not stop within %v; killed", n.Name, grace))
		}
	}
	return errors.Join(errs...)
}

func printEndpoints(w io.Writer, nodes []*Node) {
	fmt.Fprintf(w, "Cairn dev cluster: %d nodes ready.\n\n", len(nodes))
	fmt.Fprintf(w, "%-4s %-17s %-17s %-17s %s\n", "node", "redis", "grpc", "http", "data")
	for _, n := range nodes {
		fmt.Fprintf(w, "%-4s %-17s %-17s %-17s %s\n", n.Name, n.Redis, n.GRPC, n.HTTP, n.DataDir)
	}
	n := nodes[0]
	rhost, rport, _ := strings.Cut(n.Redis, ":")
	fmt.Fprintf(w, "\nTry:\n")
	fmt.Fprintf(w, "  redis-cli -h %s -p %s set hello world\n", rhost, rport)
	fmt.Fprintf(w, "  curl http://%s/v1/kv/hello\n", n.HTTP)
	fmt.Fprintf(w, "  curl -X PUT --data-binary 'from curl' http://%s/v1/kv/greeting\n", n.HTTP)
	fmt.Fprintf(w, "  cairn kv get greeting --endpoints %s\n", n.GRPC)
	fmt.Fprintf(w, "  curl http://%s/v1/cluster\n", n.HTTP)
	fmt.Fprintf(w, "\nCtrl-C stops every node; the data stays in its directory (--fresh starts over).\n")
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
