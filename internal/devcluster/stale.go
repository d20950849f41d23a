package devcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// pidPath is where a node's pid is kept while it runs: beside its data
// directory, so the next cairn dev on the same --data-dir finds it.
func pidPath(dataDir, name string) string { return filepath.Join(dataDir, name+".pid") }

func writePid(dataDir string, n *Node) error {
	n.PidFile = pidPath(dataDir, n.Name)
	if err := os.WriteFile(n.PidFile, []byte(strconv.Itoa(n.cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", n.PidFile, err)
	}
	return nil
}

func removePid(n *Node) {
	if n.PidFile != "" {
		_ = os.Remove(n.PidFile)
	}
}

// staleServer is a server of an earlier cairn dev that is still running.
type staleServer struct {
	name      string
	pid, pgid int
}

// refuseStale finds servers that an earlier cairn dev on dataDir started
// and that still run (its pid files name them, and the process with that
// pid is a cairn server of that node's data directory), and refuses to
// start while any does. Pid files of processes that are gone are removed.
func refuseStale(dataDir string) error {
	files, _ := filepath.Glob(filepath.Join(dataDir, "*.pid"))
	var stale []staleServer
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || !isServerOf(pid, filepath.Join(dataDir, name)) {
			_ = os.Remove(f)
			continue
		}
		pgid, _ := syscall.Getpgid(pid)
		stale = append(stale, staleServer{name: name, pid: pid, pgid: pgid})
	}
	if len(stale) == 0 {
		return nil
	}
	var names, pids []string
	groups := map[int]bool{}
	for _, s := range stale {
		names = append(names, fmt.Sprintf("%s (pid %d)", s.name, s.pid))
		pids = append(pids, strconv.Itoa(s.pid))
		groups[s.pgid] = true
	}
	advice := "kill " + strings.Join(pids, " ")
	if len(groups) == 1 && stale[0].pgid > 0 {
		advice += fmt.Sprintf(" (or the whole group: kill -- -%d)", stale[0].pgid)
	}
	return fmt.Errorf("servers of an earlier cairn dev on --data-dir %s are still running: %s; they hold its ports and data. Stop them first: %s",
		dataDir, strings.Join(names, ", "), advice)
}

// isServerOf reports whether process pid runs "cairn server" on the data
// directory dir. It reads /proc; where there is none, a live process with
// that pid counts, to be safe.
func isServerOf(pid int, dir string) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return !dirExists("/proc/self")
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	isServer := false
	for i, a := range args {
		if a == "server" {
			isServer = true
		}
		var d string
		switch {
		case a == "--data-dir" && i+1 < len(args):
			d = args[i+1]
		case strings.HasPrefix(a, "--data-dir="):
			d = strings.TrimPrefix(a, "--data-dir=")
		default:
			continue
		}
		if !filepath.IsAbs(d) {
			cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
			if err != nil {
				return isServer
			}
			d = filepath.Join(cwd, d)
		}
		abs, _ := filepath.Abs(dir)
		return isServer && filepath.Clean(d) == abs
	}
	return false
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// checkPortsFree refuses to start when any node's port is taken, naming
// the port, the node and the cause (a local Redis on 6379, say).
func checkPortsFree(nodes []*Node) error {
	for _, n := range nodes {
		for _, d := range []struct{ door, addr string }{{"RESP", n.Redis}, {"gRPC", n.GRPC}, {"HTTP", n.HTTP}} {
			l, err := net.Listen("tcp", d.addr)
			if err != nil {
				return fmt.Errorf("%s's %s port %s is not free (%w); something else listens there (a local Redis on 6379?): choose other ports with --base-port",
					n.Name, d.door, d.addr, err)
			}
			l.Close()
		}
	}
	return nil
}

// layout is what a dev cluster's nodes were founded with, kept in
// <data-dir>/dev.json: another node count or other ports would make
// another --initial-cluster, which the nodes' data refuses.
type layout struct {
	Nodes     int `json:"nodes"`
	RedisPort int `json:"redis_port"`
	GRPCPort  int `json:"grpc_port"`
	HTTPPort  int `json:"http_port"`
}

func layoutOf(cfg Config) layout {
	return layout{Nodes: cfg.Nodes, RedisPort: cfg.RedisPort, GRPCPort: cfg.GRPCPort, HTTPPort: cfg.HTTPPort}
}

// checkLayout refuses a run whose --nodes or ports differ from those the
// data directory's cluster was founded with, saying which flags would
// match it and that --fresh starts over.
func checkLayout(cfg Config) error {
	want := layoutOf(cfg)
	var had layout
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, "dev.json"))
	switch {
	case err == nil:
		if json.Unmarshal(b, &had) != nil {
			return nil // unreadable: the servers judge
		}
	case errors.Is(err, os.ErrNotExist):
		// Made before dev.json existed: count the nodes' directories.
		for i := 1; i <= 9; i++ {
			if dirExists(filepath.Join(cfg.DataDir, fmt.Sprintf("n%d", i))) {
				had.Nodes = i
			}
		}
		if had.Nodes == 0 {
			return nil
		}
		had.RedisPort, had.GRPCPort, had.HTTPPort = want.RedisPort, want.GRPCPort, want.HTTPPort
	default:
		return nil
	}
	if had == want {
		return nil
	}
	var use []string
	if had.Nodes != want.Nodes {
		use = append(use, fmt.Sprintf("--nodes %d", had.Nodes))
	}
	if had.RedisPort != want.RedisPort || had.GRPCPort != want.GRPCPort || had.HTTPPort != want.HTTPPort {
		if had.GRPCPort == had.RedisPort+1000 && had.HTTPPort == had.RedisPort+2000 {
			use = append(use, fmt.Sprintf("--base-port %d", had.RedisPort))
		} else {
			use = append(use, fmt.Sprintf("the ports it had (RESP %d, gRPC %d, HTTP %d)", had.RedisPort, had.GRPCPort, had.HTTPPort))
		}
	}
	return fmt.Errorf("--data-dir %s holds a %d-node dev cluster on RESP %d, gRPC %d, HTTP %d (node 1), founded that way: use --fresh to start over, or %s",
		cfg.DataDir, had.Nodes, had.RedisPort, had.GRPCPort, had.HTTPPort, strings.Join(use, " "))
}

func writeLayout(cfg Config) error {
	b, _ := json.Marshal(layoutOf(cfg))
	return os.WriteFile(filepath.Join(cfg.DataDir, "dev.json"), append(b, '\n'), 0o644)
}
