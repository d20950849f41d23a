package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cairnkv/cairn/internal/chaos/runner"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/spf13/cobra"
)

func checkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Inject faults into a local cluster and check linearizability",
		Long: `Start --nodes real "cairn server" processes on 127.0.0.1 (this executable,
or --binary) with fault injection on, run --clients concurrent clients of
--workload against them for --time while a nemesis injects --nemesis faults,
heal, wait for the cluster to be quiet, make final reads, and check the
recorded history:

  register  get, put, delete, swap and compare-and-swap per key; porcupine
            checks linearizability key by key (--keys keys in use at once,
            each retired after 200 operations or 10 indeterminate writes)
  set       adds of unique elements and reads of the set; nothing
            acknowledged may be lost, nothing unwritten may appear
  ttl       writes with short TTLs read back; no early expiry or resurrection

Nemeses (comma-separated): kill, pause, partition (or partition-isolate,
-split, -ring, -bridge), leader (kill, pause or isolate the current leader),
clock (skew), disk (slow fsync), membership, all, none. Faults alternate with
heals. "all" leaves membership out; ask for "all,membership". A membership
step joins a new node (j1, j2, ...: "cairn server --join"), drains a node
(one that joined, or with 5 nodes a founder when none has; never below 3
nodes) and stops it once it is removed, or does either and then kills -9 a
node of a replica move in flight, which the heal restarts. Other faults hit
joined nodes too; the clients talk to the founders. After the final heal a
membership run waits up to 60s for the replica moves to end and reports
converge_seconds; a cluster that does not settle fails the run.

Everything random derives from --seed, which is printed with a replay line.
Histories, logs and (on a failure) porcupine's HTML with the faults drawn on
it go to --out. Progress goes to stderr, the summary to stdout (-o json: one
line). Exit status: 0 pass, 1 an anomaly, a loss, an Unknown verdict, a
server that died or a membership that did not settle, 2 a usage or harness
error (or Ctrl-C). --history checks a history.jsonl from an earlier run
again instead of running one.

--report FILE.html also writes the run as one self-contained page: the
summary, operations per second by outcome and the p99 over time with every
fault drawn where it was in force and every stretch of a second or more
without a successful operation marked, and the faults and gaps as tables.`,
		Args: cobra.NoArgs,
	}
	d := runner.DefaultConfig()
	f := cmd.Flags()
	f.Int("nodes", d.Nodes, "servers: 3 or 5")
	f.String("engine", d.Engine, "replication engine: raft, paxos or primary-backup")
	f.String("pb-mode", "sync", "with --engine primary-backup: sync (checked like raft) or async (--workload set only: every acknowledged add a failover lost must lie within --pb-max-lag of a failover the checker saw)")
	f.Duration("pb-max-lag", 10*time.Second, "with --pb-mode async: the servers' --pb-max-lag, the bound on what a failover may lose")
	f.Int("partitions", d.Partitions, "partitions of the cluster")
	f.String("workload", d.Workload, "register, set or ttl")
	f.String("nemesis", d.Nemesis, "faults: kill, pause, partition[-isolate|-split|-ring|-bridge], leader, clock, disk, membership, all (all but membership), none")
	f.Duration("time", d.Time, "how long the clients and the nemesis run")
	f.Int("clients", d.Clients, "concurrent clients, one operation in flight each")
	f.Int("keys", d.Keys, "register and ttl: keys in use at once")
	f.Int64("seed", 0, "seed of every random choice (default: a random one, printed)")
	f.String("out", "", "directory for histories, logs and visualizations (default: a new temporary directory)")
	f.StringP("output", "o", "table", "summary: table or json")
	f.String("binary", "", "cairn executable to run as the servers (default: this one)")
	f.Duration("check-timeout", d.CheckTimeout, "time limit of the linearizability check; keys it cannot finish are Unknown, a failure")
	f.String("history", "", "check this history.jsonl of an earlier run instead of running one")
	f.String("report", "", "also write the run as a self-contained HTML page to this file (faults and unavailability on a timeline)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		explicit, err := applyEnv(cmd.Flags())
		if err != nil {
			return err
		}
		out, _ := f.GetString("output")
		if out != "table" && out != "json" {
			return usageError{fmt.Errorf("-o %q: want table or json", out)}
		}
		log, err := newLogger(cmd)
		if err != nil {
			return err
		}
		cfg := d
		cfg.Nodes, _ = f.GetInt("nodes")
		cfg.Engine, _ = f.GetString("engine")
		if explicit["pb-mode"] || cfg.Engine == cluster.EnginePrimaryBackup {
			cfg.PBMode, _ = f.GetString("pb-mode")
		}
		if explicit["pb-max-lag"] || cfg.PBMode == cluster.PBModeAsync {
			cfg.PBMaxLag, _ = f.GetDuration("pb-max-lag")
		}
		cfg.Partitions, _ = f.GetInt("partitions")
		cfg.Workload, _ = f.GetString("workload")
		cfg.Nemesis, _ = f.GetString("nemesis")
		cfg.Time, _ = f.GetDuration("time")
		cfg.Clients, _ = f.GetInt("clients")
		cfg.Keys, _ = f.GetInt("keys")
		cfg.Seed, _ = f.GetInt64("seed")
		cfg.Out, _ = f.GetString("out")
		cfg.Binary, _ = f.GetString("binary")
		cfg.CheckTimeout, _ = f.GetDuration("check-timeout")
		cfg.Logger = log
		history, _ := f.GetString("history")
		var page *os.File
		if path, _ := f.GetString("report"); path != "" {
			if page, err = os.Create(path); err != nil {
				return usageError{fmt.Errorf("--report: %w", err)}
			}
			defer page.Close()
		}

		var res *runner.Result
		if history != "" {
			res, err = runner.CheckHistory(runner.HistoryConfig{History: history, Workload: cfg.Workload,
				Out: cfg.Out, CheckTimeout: cfg.CheckTimeout})
		} else {
			if !explicit["seed"] {
				cfg.Seed = randomSeed()
			}
			if cfg.Binary == "" {
				if cfg.Binary, err = os.Executable(); err != nil {
					return exitError{2, fmt.Errorf("finding this executable (use --binary): %w", err)}
				}
			}
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			fmt.Fprintf(os.Stderr, "cairn check: seed %d\n", cfg.Seed)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err = runner.Run(ctx, cfg)
		}
		if err == nil && page != nil {
			if err := writeReport(page, func(w io.Writer) error { return res.WriteHTML(w, flagFacts(f, "output", "report", "seed")) }); err != nil {
				return err
			}
		}
		return printResult(os.Stdout, res, err, out)
	}
	return cmd
}

// printResult prints the result to w and turns it into the exit status.
func printResult(w io.Writer, res *runner.Result, err error, out string) error {
	if err != nil && out == "json" {
		// Scripts get their one line even when there is no summary.
		b, _ := json.Marshal(map[string]any{"passed": false, "error": err.Error()})
		fmt.Fprintf(w, "%s\n", b)
	}
	switch {
	case errors.Is(err, runner.ErrConfig):
		return usageError{err}
	case err != nil:
		return exitError{2, err}
	}
	if out == "json" {
		err = res.WriteJSON(w)
	} else {
		err = res.WriteTable(w)
	}
	if err != nil {
		return exitError{2, err}
	}
	if !res.Passed() {
		return exitError{1, fmt.Errorf("check failed: %s", res.Problem())}
	}
	return nil
}

func randomSeed() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:]) >> 1) // positive: easier to copy
}
