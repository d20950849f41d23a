package runner

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
)

// ErrConfig marks an error from Config.Validate: a usage error (exit 2).
var ErrConfig = errors.New("runner: invalid configuration")

// ErrInterrupted is returned by Run when its context ends before the run
// does (Ctrl-C): nothing was checked (exit 2).
var ErrInterrupted = errors.New("runner: interrupted")

// The workloads, as --workload spells them.
const (
	WorkloadRegister = "register"
	WorkloadSet      = "set"
	WorkloadTTL      = "ttl"
)

// Config is one `cairn check` run. DefaultConfig holds the flag defaults.
type Config struct {
	// Binary is the cairn executable run as "cairn server" (--binary).
	// Required; the command passes its own executable by default.
	Binary string
	// Nodes is the cluster size (--nodes): 3 or 5. Default 3, the smallest
	// cluster every partition shape fits.
	Nodes int
	// Engine is the replication engine (--engine): raft, paxos or
	// primary-backup.
	Engine string
	// PBMode is the primary-backup engine's --pb-mode: sync (the default
	// with that engine) or async; "" under another engine. An async run
	// takes the set workload only, and accounts for the acknowledged adds
	// a failover lost (PBMaxLag bounds how old they may be).
	PBMode string
	// PBMaxLag is the servers' --pb-max-lag in an async run. Default 10 s,
	// the server's.
	PBMaxLag time.Duration
	// Partitions (--partitions). Default 8, not the server's 64: fewer
	// groups means more operations and more leader changes per group in a
	// short run, and a faster start.
	Partitions int
	// Workload is register, set or ttl (--workload). Default register.
	Workload string
	// Nemesis is what to inject, as chaos.ParseNemesis reads it
	// (--nemesis). Default all, which leaves out membership: a run with
	// membership changes runs more processes and waits for replica moves
	// at the end, so it is asked for by name ("all,membership").
	Nemesis string
	// Time is how long clients run while the nemesis works (--time).
	// Default 60s: four or so faults of 5–10 s with quiet times between.
	Time time.Duration
	// Clients is the number of concurrent clients, one operation in flight
	// each (--clients). Default 16.
	Clients int
	// Keys is how many keys are in use at once by the register and ttl
	// workloads (--keys). Default 8. A key retires after KeyOps operations
	// or KeyIndeterminate indeterminate writes and a fresh one takes its
	// place, so every key's history stays small enough for porcupine.
	Keys int
	// KeyOps bounds the operations on one key. Default 200 (the note's
	// advice: checking is NP-complete).
	KeyOps int
	// KeyIndeterminate retires a key after this many indeterminate writes,
	// each of which porcupine must try at every point after its call.
	// Default 10. Writes in flight when the limit is reached may add up to
	// Clients−1 more.
	KeyIndeterminate int
	// MaxOps bounds the operations of the whole run; clients stop issuing
	// once it is reached. Default 500000 (about 150 MB of history).
	MaxOps int
	// Seed drives every random choice: the schedule, the clients' choices,
	// the disk delays (--seed). The command draws one when not given and
	// prints it.
	Seed int64
	// Out is the directory for histories, logs, data and visualizations
	// (--out). Default: a new temporary directory.
	Out string
	// OpTimeout bounds one client operation. Default 3s: above the
	// servers' 2 s --request-timeout, so a server answers "indeterminate"
	// before the client gives up, and a paused node costs a client 3 s.
	OpTimeout time.Duration
	// CheckTimeout bounds porcupine (--check-timeout). Default 60s. A key
	// that runs out of time is Unknown, which fails the run. NB: after an
	// Illegal verdict chaos.CheckRegister checks unfinished keys again, and
	// the visualization checks the failed keys once more, so a failed
	// check can take up to four times this.
	CheckTimeout time.Duration
	// MaxClockOffset is passed to the servers (--max-clock-offset, 500ms by
	// default); the ttl checker allows twice it as skew.
	MaxClockOffset time.Duration
	// Logger gets progress (stderr). Default: discard.
	Logger *slog.Logger
}

// DefaultConfig returns the flag defaults.
func DefaultConfig() Config {
	return Config{
		Nodes:            3,
		Engine:           "raft",
		Partitions:       8,
		Workload:         WorkloadRegister,
		Nemesis:          "all",
		Time:             60 * time.Second,
		Clients:          16,
		Keys:             8,
		KeyOps:           200,
		KeyIndeterminate: 10,
		MaxOps:           500000,
		OpTimeout:        3 * time.Second,
		CheckTimeout:     60 * time.Second,
		MaxClockOffset:   500 * time.Millisecond,
	}
}

// setDefaults fills zero fields from DefaultConfig.
func (c *Config) setDefaults() {
	d := DefaultConfig()
	if c.Nodes == 0 {
		c.Nodes = d.Nodes
	}
	if c.Engine == "" {
		c.Engine = d.Engine
	}
	if c.Engine == "primary-backup" && c.PBMode == "" {
		c.PBMode = "sync"
	}
	if c.PBMode == "async" && c.PBMaxLag == 0 {
		c.PBMaxLag = 10 * time.Second
	}
	if c.Partitions == 0 {
		c.Partitions = d.Partitions
	}
	if c.Workload == "" {
		c.Workload = d.Workload
	}
	if c.Time == 0 {
		c.Time = d.Time
	}
	if c.Clients == 0 {
		c.Clients = d.Clients
	}
	if c.Keys == 0 {
		c.Keys = d.Keys
	}
	if c.KeyOps == 0 {
		c.KeyOps = d.KeyOps
	}
	if c.KeyIndeterminate == 0 {
		c.KeyIndeterminate = d.KeyIndeterminate
	}
	if c.MaxOps == 0 {
		c.MaxOps = d.MaxOps
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = d.OpTimeout
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = d.CheckTimeout
	}
	if c.MaxClockOffset == 0 {
		c.MaxClockOffset = d.MaxClockOffset
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate rejects bad flags, naming them. It does not look at Binary or
// Out, which Run checks when it uses them.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case c.Nodes != 3 && c.Nodes != 5:
		return bad("--nodes %d: want 3 or 5", c.Nodes)
	case c.Partitions < 1 || c.Partitions > 4096:
		return bad("--partitions %d: want 1 to 4096", c.Partitions)
	case c.Time < time.Second || c.Time > 24*time.Hour:
		return bad("--time %v: want 1s to 24h", c.Time)
	case c.Clients < 1 || c.Clients > 1024:
		return bad("--clients %d: want 1 to 1024", c.Clients)
	case c.Keys < 1 || c.Keys > 100000:
		return bad("--keys %d: want 1 to 100000", c.Keys)
	case c.KeyOps < 1 || c.KeyIndeterminate < 1 || c.MaxOps < 1:
		return bad("key limits %d ops, %d indeterminate and run limit %d ops must be positive", c.KeyOps, c.KeyIndeterminate, c.MaxOps)
	case c.OpTimeout <= 0 || c.CheckTimeout < 0 || c.MaxClockOffset <= 0:
		return bad("timeouts must be positive")
	}
	switch c.Engine {
	case "raft", "paxos":
		if c.PBMode != "" {
			return bad("--pb-mode %s: only with --engine primary-backup", c.PBMode)
		}
	case "primary-backup":
		switch c.PBMode {
		case "sync":
		case "async":
			if c.Workload != WorkloadSet {
				return bad("--workload %s with --pb-mode async: an async primary acknowledges writes a failover may lose, so a %s history is not expected to pass; "+
					"use --workload set, which accounts for each lost write", c.Workload, c.Workload)
			}
			if c.PBMaxLag < time.Second {
				return bad("--pb-max-lag %v: want at least 1s", c.PBMaxLag)
			}
		default:
			return bad("--pb-mode %q: want sync or async", c.PBMode)
		}
	default:
		return bad("--engine %q: want raft, paxos or primary-backup", c.Engine)
	}
	switch c.Workload {
	case WorkloadRegister, WorkloadSet, WorkloadTTL:
	default:
		return bad("--workload %q: want register, set or ttl", c.Workload)
	}
	if _, err := chaos.ParseNemesis(c.Nemesis); err != nil {
		return bad("--nemesis: %v", err)
	}
	return nil
}

// nodeNames are the servers' names, n1..nN.
func (c *Config) nodeNames() []string {
	names := make([]string, c.Nodes)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return names
}

// Schedule returns the nemesis schedule Run will follow for cfg: a pure
// function of Seed, Time, Nodes and Nemesis, so a test (or a user) can see
// which faults a seed brings before running it.
func Schedule(cfg Config) (chaos.Schedule, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return chaos.Schedule{}, err
	}
	nem, _ := chaos.ParseNemesis(cfg.Nemesis)
	// NB: the servers are not given --replicas, so R is their default,
	// min(3, nodes), which is also GenerateSchedule's.
	s, err := chaos.GenerateSchedule(chaos.ScheduleConfig{Seed: cfg.Seed, Duration: cfg.Time, Nodes: cfg.nodeNames(), Nemesis: nem})
	if err != nil {
		return chaos.Schedule{}, fmt.Errorf("%w: --nemesis: %v", ErrConfig, err)
	}
	return s, nil
}
