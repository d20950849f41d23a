//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
	"github.com/cairnkv/cairn/internal/chaos/runner"
)

// checkSummary is the part of `cairn check -o json` the tests read.
type checkSummary struct {
	Passed  bool   `json:"passed"`
	Verdict string `json:"verdict"`
	Seed    int64  `json:"seed"`
	Out     string `json:"out"`
	Ops     struct {
		Total, OK int
	} `json:"ops"`
	Faults    map[string]struct{ Count int } `json:"faults"`
	Histories []struct {
		Name, Verdict string
		Keys, Ops     int
	} `json:"histories"`
	Visualization string `json:"visualization"`
}

// runCheck runs `cairn check args...` and returns its exit status, stdout
// and stderr.
func runCheck(t *testing.T, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"check"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("cairn check %v: %v\nstderr:\n%s", args, err, stderr.String())
	return 0, "", ""
}

// checkSummary's membership fields.
type convergeSummary struct {
	ConvergeSeconds *float64 `json:"converge_seconds"`
	Converged       *bool    `json:"converged"`
	ConvergeDetail  string   `json:"converge_detail"`
}

// A short run under faults passes, and its summary adds up: kill, partition
// and pause on 3 and 5 nodes, kill and partition with membership changes on
// 5 (a node joins, and one of a replica move is killed; the other faults hit
// the joined node too), and on 3 nodes membership alone with all three of
// its actions (join, drain, kill during a move). The seed of each is the
// first whose schedule holds what the case wants, found by the same
// function the run uses, so the test is the same every time.
func TestCheckRegisterUnderFaults(t *testing.T) {
	for _, c := range []struct {
		name    string
		engine  string
		nodes   int
		nemesis string
		kinds   []string // fault kinds the schedule must hold
		actions []string // and membership steps, as action/change
	}{
		{"3 nodes", "raft", 3, "kill,partition,pause", []string{"kill", "partition", "pause"}, nil},
		{"5 nodes", "raft", 5, "kill,partition,membership", []string{"kill", "partition", "membership"}, []string{"kill/join"}},
		{"3 nodes membership", "raft", 3, "membership", []string{"membership"}, []string{"join/join", "drain/drain", "kill/join"}},
		{"3 paxos nodes", "paxos", 3, "kill,partition,membership", []string{"kill", "partition", "membership"}, []string{"join/join"}},
	} {
		t.Run(c.name, func(t *testing.T) { checkRegisterUnderFaults(t, c.engine, c.nodes, c.nemesis, c.kinds, c.actions) })
	}
}

func checkRegisterUnderFaults(t *testing.T, engine string, nodes int, nemesis string, kinds, actions []string) {
	cfg := runner.DefaultConfig()
	cfg.Time, cfg.Nemesis, cfg.Nodes, cfg.Engine = 20*time.Second, nemesis, nodes, engine
	var sched chaos.Schedule
	for cfg.Seed = 1; ; cfg.Seed++ {
		s, err := runner.Schedule(cfg)
		if err != nil {
			t.Fatal(err)
		}
		has := map[string]bool{}
		for _, st := range s.Steps {
			if !st.Heal {
				has[string(st.Kind)] = true
				if st.Kind == chaos.Membership {
					has[string(st.Action)+"/"+string(st.Change)] = true
				}
			}
		}
		missing := func(w string) bool { return !has[w] }
		if !slices.ContainsFunc(kinds, missing) && !slices.ContainsFunc(actions, missing) {
			sched = s
			break
		}
		if cfg.Seed == 10000 {
			t.Fatalf("no seed up to %d gives a schedule with %v and %v", cfg.Seed, kinds, actions)
		}
	}
	t.Logf("%v", sched)
	membership := strings.Contains(nemesis, "membership")
	out := t.TempDir()
	code, stdout, stderr := runCheck(t, 2*time.Minute, "--engine", engine, "--time", cfg.Time.String(), "--nodes", strconv.Itoa(nodes),
		"--workload", "register", "--nemesis", cfg.Nemesis, "--seed", strconv.FormatInt(cfg.Seed, 10),
		"--out", out, "-o", "json", "--log-format", "text")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Count(stdout, "\n") != 1 {
		t.Fatalf("-o json printed %q, want one line", stdout)
	}
	var sum checkSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	t.Logf("summary: %s", stdout)
	if !sum.Passed || sum.Verdict != "ok" || sum.Seed != cfg.Seed || sum.Out != out {
		t.Errorf("summary: passed %v, verdict %s, seed %d, out %s", sum.Passed, sum.Verdict, sum.Seed, sum.Out)
	}
	if sum.Ops.Total < 1000 || sum.Ops.OK < 500 {
		t.Errorf("only %d operations (%d ok) in %v", sum.Ops.Total, sum.Ops.OK, cfg.Time)
	}
	for _, k := range kinds {
		if sum.Faults[k].Count < 1 {
			t.Errorf("no %s fault injected: %+v", k, sum.Faults)
		}
	}
	if len(sum.Histories) != 1 || sum.Histories[0].Verdict != "ok" || sum.Histories[0].Keys < 2 {
		t.Errorf("histories %+v", sum.Histories)
	}
	for _, f := range []string{"history.jsonl", "faults.json", "schedule.json", "summary.json", "nodes/n1.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("the run left no %s: %v", f, err)
		}
	}
	if !strings.Contains(stderr, "seed "+strconv.FormatInt(cfg.Seed, 10)) {
		t.Errorf("the seed is not printed on stderr:\n%s", stderr)
	}
	var conv convergeSummary
	if err := json.Unmarshal([]byte(stdout), &conv); err != nil {
		t.Fatal(err)
	}
	if !membership {
		if conv.ConvergeSeconds != nil {
			t.Errorf("a run without membership reports convergence: %s", stdout)
		}
		return
	}
	checkMembership(t, out, sched, conv, stderr)
}

// checkMembership checks what a membership run reports: the cluster
// settled, every membership step is a fault with what it did, the joined
// nodes logged, and the drained ones were stopped once removed.
func checkMembership(t *testing.T, out string, sched chaos.Schedule, conv convergeSummary, stderr string) {
	t.Helper()
	if conv.ConvergeSeconds == nil || conv.Converged == nil || !*conv.Converged {
		t.Fatalf("the membership did not settle: %+v", conv)
	}
	t.Logf("converged in %.1fs: %s", *conv.ConvergeSeconds, conv.ConvergeDetail)
	b, err := os.ReadFile(filepath.Join(out, "faults.json"))
	if err != nil {
		t.Fatal(err)
	}
	var faults []chaos.Fault
	if err := json.Unmarshal(b, &faults); err != nil {
		t.Fatal(err)
	}
	var recorded []chaos.Fault
	for _, f := range faults {
		if f.Kind == chaos.Membership {
			recorded = append(recorded, f)
		}
	}
	var steps []chaos.Step
	for _, st := range sched.Steps {
		if !st.Heal && st.Kind == chaos.Membership {
			steps = append(steps, st)
		}
	}
	if len(recorded) != len(steps) {
		t.Fatalf("%d membership faults recorded for %d steps: %+v\nthe nemesis said:\n%s", len(recorded), len(steps), recorded, nemesisLines(stderr))
	}
	for i, st := range steps {
		f := recorded[i]
		t.Logf("membership fault on %s: %s", f.Node, f.Detail)
		if !strings.Contains(f.Detail, string(st.Change)+" "+st.Member) || f.End <= f.Start {
			t.Errorf("step %v recorded as %+v", st, f)
		}
		if st.Change == chaos.Join {
			if _, err := os.Stat(filepath.Join(out, "nodes", st.Member+".log")); err != nil {
				t.Errorf("joined node %s left no log: %v", st.Member, err)
			}
		}
		if st.Change == chaos.Drain {
			if !strings.Contains(f.Detail, "removed, and stopped") {
				t.Errorf("drained node %s not stopped: %s", st.Member, f.Detail)
			}
		}
		if st.Action == chaos.Kill && !strings.HasPrefix(f.Detail, "kill ") {
			t.Errorf("kill-during-move step %v killed nothing: %s", st, f.Detail)
		}
	}
}

// nemesisLines is what the nemesis logged on a run's stderr.
func nemesisLines(stderr string) string {
	var b strings.Builder
	for line := range strings.Lines(stderr) {
		if strings.Contains(line, "nemesis") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// The failure path of the real binary: a known-bad history (a stale read)
// exits 1 with the visualization written and named.
func TestCheckFailsABadHistory(t *testing.T) {
	dir := t.TempDir()
	bad := `{"client":0,"process":0,"kind":"put","key":"k","input":{"value":"1"},"output":{},"call":0,"return":10,"outcome":"ok"}
{"client":0,"process":0,"kind":"put","key":"k","input":{"value":"2"},"output":{},"call":20,"return":30,"outcome":"ok"}
{"client":1,"process":1,"kind":"get","key":"k","input":{},"output":{"exists":true,"value":"1"},"call":40,"return":50,"outcome":"ok"}
`
	path := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCheck(t, time.Minute, "--history", path, "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var sum checkSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if sum.Passed || sum.Verdict != "illegal" || sum.Visualization == "" {
		t.Fatalf("summary %s", stdout)
	}
	if _, err := os.Stat(sum.Visualization); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCheck(t, time.Minute, "--nodes", "4"); code != 2 {
		t.Fatalf("--nodes 4: exit %d, want 2 (usage)", code)
	}
}

// serversOf returns the PIDs of live processes whose command line mentions
// dir: the servers of a run whose --out is dir. (A zombie has an empty
// command line, so only processes still running count.)
func serversOf(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if args := string(b); strings.Contains(args, "server\x00") && strings.Contains(args, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// No server outlives `cairn check`: not on Ctrl-C (the harness kills and
// reaps them, exit 2), not when the harness itself is killed (Pdeathsig),
// not when a server cannot start.
func TestCheckLeavesNoServersBehind(t *testing.T) {
	for _, c := range []struct {
		name string
		sig  syscall.Signal
	}{{"ctrl-c", syscall.SIGINT}, {"harness killed", syscall.SIGKILL}} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command(binary, "check", "--time", "60s", "--nemesis", "pause", "--seed", "3", "--out", out, "--log-format", "text")
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			deadline := time.Now().Add(60 * time.Second)
			for !strings.Contains(stderr.String(), "cluster ready") {
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					<-done
					t.Fatalf("the cluster did not get ready:\n%s", stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := len(serversOf(t, out)); n != 3 {
				t.Fatalf("%d servers running, want 3", n)
			}
			_ = cmd.Process.Signal(c.sig)
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("cairn check did not exit within 30s of %v:\n%s", c.sig, stderr.String())
			}
			if c.sig == syscall.SIGINT {
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 2 {
					t.Errorf("exit after Ctrl-C: %v, want status 2", err)
				}
				// Reaped before the harness exited: nothing to wait for.
				if pids := serversOf(t, out); len(pids) != 0 {
					t.Fatalf("servers %v outlived cairn check", pids)
				}
				return
			}
			// The kernel kills them when their parent dies; give it a
			// moment to deliver.
			deadline = time.Now().Add(10 * time.Second)
			for len(serversOf(t, out)) != 0 {
				if time.Now().After(deadline) {
					pids := serversOf(t, out)
					for _, p := range pids {
						_ = syscall.Kill(p, syscall.SIGKILL)
					}
					t.Fatalf("servers %v outlived a killed cairn check", pids)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	t.Run("server cannot start", func(t *testing.T) {
		out := t.TempDir()
		code, _, stderr := runCheck(t, time.Minute, "--binary", "/bin/false", "--time", "5s", "--out", out)
		if code != 2 || !strings.Contains(stderr, "not running") {
			t.Fatalf("exit %d, want 2 with the reason:\n%s", code, stderr)
		}
		if pids := serversOf(t, out); len(pids) != 0 {
			t.Fatalf("servers %v left behind", pids)
		}
	})
}
