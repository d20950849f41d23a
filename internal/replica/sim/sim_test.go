package sim

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	_ "github.com/cairnkv/cairn/internal/replica/paxos" // the engines simulated here
	"github.com/cairnkv/cairn/internal/replica/primarybackup"
	_ "github.com/cairnkv/cairn/internal/replica/raftengine"
	"github.com/cairnkv/cairn/internal/storage"
)

var (
	flagSeed   = flag.String("sim.seed", "", "replay one seed (also CAIRN_SIM_SEED)")
	flagSeeds  = flag.Int("sim.seeds", 0, "run this many seeds, whatever the budget (also CAIRN_SIM_SEEDS)")
	flagBudget = flag.Duration("sim.budget", 20*time.Second, "run seeds for this long (also CAIRN_SIM_BUDGET); raise it for a soak (with -timeout)")
	flagTrace  = flag.Bool("sim.trace", false, "print every event of a replayed seed, and the hosts' logs")
	flagEngine = flag.String("sim.engine", DefaultEngine, "the registered engine to simulate (also CAIRN_SIM_ENGINE)")
	flagPBMode = flag.String("sim.pbmode", "sync", "with -sim.engine=primary-backup: sync, or async (the engine registered as "+pbAsync+", the checker allowing the loss window)")
)

// pbAsync is primary-backup in async mode as this test registers it:
// --pb-max-lag 3 s (the default lease, 3 s, and the simulation's 1 s
// election timeout), its rollbacks kept in pbRollbacks.
const pbAsync = "primary-backup-async"

// pbAsyncLoss is the loss window the checker allows async mode: a write
// may be lost only if acknowledged within it before the failover that
// lost it (or before its primary's node stopped). The failover's own
// waits make it: a backup notices the silence after an election timeout
// (1–2 s), watches the record for a whole lease (3 s), and defers once to
// a member that reported more (a lease less an election timeout, 2 s);
// a primary acknowledges only while a backup answered within the max lag
// (3 s). So max(max lag, 2 election timeouts + lease + lease − election
// timeout) + 1 s = 8 s. NB: the engine does not yet keep a backup that
// answers but lags in the in-sync set only within --pb-max-lag (doc.go,
// "Not built yet"), so the bound holds by these waits, not by
// construction, when an in-sync backup lags behind by more.
const pbAsyncLoss = 8 * time.Second

// pbRollbacks keeps the commands async primary-backup reported rolled
// back in the current run (seeds run one at a time).
var pbRollbacks struct {
	sync.Mutex
	cmds map[string]bool
}

type simRollbacks struct{}

func (simRollbacks) Record(r primarybackup.Rollback) error {
	pbRollbacks.Lock()
	defer pbRollbacks.Unlock()
	for _, e := range r.Entries {
		if _, _, cmd, err := driver.Unframe(e.Data); err == nil {
			pbRollbacks.cmds[string(cmd)] = true
		}
	}
	return nil
}

func init() {
	replica.Register(primarybackup.Registration(pbAsync, primarybackup.Options{
		Mode: primarybackup.ModeAsync, MaxLagTicks: 3 * electionTicks, Rollbacks: simRollbacks{},
	}))
}

// configFor is the Config of one seed of eng (pbAsync: with its loss window).
func configFor(seed uint64, eng string) Config {
	cfg := Config{Seed: seed, Engine: eng}
	if eng == pbAsync {
		pbRollbacks.Lock()
		pbRollbacks.cmds = map[string]bool{}
		pbRollbacks.Unlock()
		cfg.AsyncLoss = pbAsyncLoss
		cfg.RolledBack = func(cmd []byte) bool {
			pbRollbacks.Lock()
			defer pbRollbacks.Unlock()
			return pbRollbacks.cmds[string(cmd)]
		}
	}
	return cfg
}

func flagSet(name string) (set bool) {
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func envOr(flagVal, env string) string {
	if flagVal != "" {
		return flagVal
	}
	return os.Getenv(env)
}

// engine is the engine TestSimulation runs: -sim.engine, else
// CAIRN_SIM_ENGINE, else raft.
func engine() string {
	e := *flagEngine
	if env := os.Getenv("CAIRN_SIM_ENGINE"); env != "" && !flagSet("sim.engine") {
		e = env
	}
	if e == primarybackup.Name && *flagPBMode == "async" {
		return pbAsync
	}
	return e
}

// runSeed runs one seed with the process's crypto/rand seeded too, so that
// an engine that draws from it (raft's election timeouts) replays.
func runSeed(t *testing.T, cfg Config) Result {
	t.Helper()
	cryptotest.SetGlobalRandom(t, cfg.Seed)
	return Run(cfg)
}

func replayHint(engine string, seed uint64) string {
	hint := "replay: go test ./internal/replica/sim -run 'TestSimulation$' -sim.seed=" + strconv.FormatUint(seed, 10)
	if engine == pbAsync {
		hint += " -sim.engine=" + primarybackup.Name + " -sim.pbmode=async"
	} else if engine != DefaultEngine {
		hint += " -sim.engine=" + engine
	}
	return hint + " -sim.trace"
}

// TestSimulation runs seeds until the budget is spent; a failure prints
// its seed and how to replay it.
func TestSimulation(t *testing.T) {
	if s := envOr(*flagSeed, "CAIRN_SIM_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("-sim.seed %q: %v", s, err)
		}
		cfg := configFor(seed, engine())
		if *flagTrace {
			cfg.Trace = os.Stderr
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		res := runSeed(t, cfg)
		t.Logf("seed %d, engine %s: %d steps, %v simulated, stats %+v", seed, res.Engine, res.Steps, res.SimTime, res.Stats)
		if res.Violation != nil {
			t.Fatalf("%s\n%s", res.Report(), replayHint(res.Engine, seed))
		}
		return
	}
	budget := *flagBudget
	if s := os.Getenv("CAIRN_SIM_BUDGET"); s != "" && !flagSet("sim.budget") {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("CAIRN_SIM_BUDGET %q: %v", s, err)
		}
		budget = d
	}
	count := *flagSeeds
	if s := os.Getenv("CAIRN_SIM_SEEDS"); s != "" && count == 0 {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("CAIRN_SIM_SEEDS %q: %v", s, err)
		}
		count = n
	}
	if testing.Short() && count == 0 {
		budget /= 4
	}
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) { simulateSeeds(t, eng, budget, count) })
	}
}

// engines are the engines TestSimulation runs: the one -sim.engine (or
// CAIRN_SIM_ENGINE) names, else every engine this package simulates.
func engines() []string {
	if flagSet("sim.engine") || os.Getenv("CAIRN_SIM_ENGINE") != "" {
		return []string{engine()}
	}
	return []string{"raft", "paxos", "primary-backup"}
}

// simulateSeeds runs count seeds of eng, or seeds until budget is spent.
func simulateSeeds(t *testing.T, eng string, budget time.Duration, count int) {
	base := uint64(time.Now().UnixNano())
	t.Logf("engine %s, seeds from %d", eng, base)
	start := time.Now()
	var total Stats
	n := 0
	for ; count > 0 && n < count || count == 0 && time.Since(start) < budget; n++ {
		seed := base + uint64(n)
		res := runSeed(t, configFor(seed, eng))
		total.add(res.Stats)
		if res.Violation != nil {
			t.Fatalf("%s\n%s", res.Report(), replayHint(res.Engine, seed))
		}
	}
	el := time.Since(start)
	t.Logf("%d seeds in %v (%.1f/s): %+v", n, el.Round(time.Millisecond), float64(n)/el.Seconds(), total)
	// Enough seeds that every fault must have come up: if one never did,
	// the simulation lost a fault and the runs proved less than they say.
	if n >= 20 {
		for what, count := range map[string]int{
			"acknowledged commands": total.Acked, "reads": total.Reads, "crashes": total.Crashes,
			"power cuts inside an fsync": total.PowerCuts, "whole-cluster power losses": total.PowerLosses,
			"partitions": total.Partitions, "snapshots": total.Snapshots, "leader transfers": total.Transfers,
			"completed membership changes": total.MembershipDone, "dropped messages": total.Dropped,
			"duplicated messages": total.Duplicated, "pauses": total.Pauses, "expired TTL keys": total.Expired,
		} {
			if count == 0 && !slices.Contains(unbuilt[eng], what) {
				t.Errorf("%d seeds and no %s", n, what)
			}
		}
	}
}

// unbuilt are, per engine, what the simulation asks of it that the engine
// does not do yet, so that its runs need not show them (none now: every
// engine does everything the simulation asks).
var unbuilt = map[string][]string{}

// ackBeforeSyncSeed is a seed whose run of the raft engine, with every
// node committing its log without fsync (Config.UnsafeAckBeforeSync, so
// HostConfig.UnsafeAckBeforeSync), loses acknowledged state: a crash takes
// a whole log with it, and the checks see it. Another engine pins a seed
// of its own.
//
// NB: a change to the simulation's choices (what it draws from the seed,
// and in which order) moves every seed to another run. If this one then
// stops failing, pin another: run seeds with UnsafeAckBeforeSync and take
// one whose violation is a safety one (Violation.Safety), not a panic.
const ackBeforeSyncSeed = 1

// ackBeforeSyncSeeds are the engines' own seeds, where ackBeforeSyncSeed
// is not one (none now: with membership changes running on primary-backup
// its seed 1 loses an acknowledged write without fsync too).
var ackBeforeSyncSeeds = map[string]uint64{}

// The deliberately broken mode (acknowledge before fsync) must be caught
// by a fixed seed, never by luck (DESIGN.md, Testing), and the same seed
// must pass with fsync on, or the catch says nothing about fsync.
func TestSimulationCatchesAckBeforeSync(t *testing.T) {
	for _, eng := range []string{"raft", "paxos", "primary-backup"} {
		t.Run(eng, func(t *testing.T) {
			ackBeforeSyncSeed := uint64(ackBeforeSyncSeed)
			if s, ok := ackBeforeSyncSeeds[eng]; ok {
				ackBeforeSyncSeed = s
			}
			res := runSeed(t, Config{Seed: ackBeforeSyncSeed, Engine: eng, UnsafeAckBeforeSync: true})
			if res.Violation == nil || !res.Violation.Safety() {
				t.Fatalf("seed %d with UnsafeAckBeforeSync: want a safety violation, got %v: the checks no longer see a missing fsync\n%s",
					ackBeforeSyncSeed, res.Violation, res.Report())
			}
			t.Logf("caught: %s", res.Violation)
			if ok := runSeed(t, Config{Seed: ackBeforeSyncSeed, Engine: eng}); ok.Violation != nil {
				t.Fatalf("seed %d fails with fsync on too:\n%s", ackBeforeSyncSeed, ok.Report())
			}
		})
	}
}

// A seed replays: the same events in the same order, and the same verdict.
func TestSimulationReplays(t *testing.T) {
	for _, cfg := range []Config{
		{Seed: 1}, {Seed: 2, Nodes: 5}, {Seed: ackBeforeSyncSeed, UnsafeAckBeforeSync: true},
	} {
		a, b := runSeed(t, cfg), runSeed(t, cfg)
		if a.TraceHash != b.TraceHash || a.Steps != b.Steps || a.Violation.String() != b.Violation.String() {
			t.Errorf("seed %d (unsafe %v) took two paths: %d steps, hash %x, %v; then %d steps, hash %x, %v",
				cfg.Seed, cfg.UnsafeAckBeforeSync, a.Steps, a.TraceHash, a.Violation, b.Steps, b.TraceHash, b.Violation)
		}
	}
}

// hostOnly is a Host that cannot be driven step by step.
type hostOnly struct{ replica.Host }

func (hostOnly) Close() error { return nil }

func init() {
	readNothing := func(storage.LogReader, replica.GroupID, uint64) (replica.DurableLog, error) {
		return replica.DurableLog{}, storage.ErrNotFound
	}
	replica.Register(replica.Engine{Name: "sim-test-not-manual", ReadLog: readNothing,
		NewHost: func(replica.HostConfig) (replica.Host, error) { return hostOnly{}, nil }})
	replica.Register(replica.Engine{Name: "sim-test-no-readlog",
		NewHost: func(replica.HostConfig) (replica.Host, error) { return nil, errors.New("never built") }})
}

// An engine the simulation cannot run stops the run before it starts,
// saying why, and never as a safety violation.
func TestSimulationRefusesWhatItCannotRun(t *testing.T) {
	for _, tc := range []struct{ engine, want string }{
		{"no-such-engine", "unknown engine"},
		{"sim-test-no-readlog", "registers no ReadLog"},
		{"sim-test-not-manual", "is not a replica.ManualHost"},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			res := Run(Config{Seed: 1, Engine: tc.engine})
			v := res.Violation
			if v == nil || v.Kind != KindSetup || v.Safety() || !strings.Contains(v.Detail, tc.want) {
				t.Fatalf("violation %v, want %s saying %q", v, KindSetup, tc.want)
			}
		})
	}
}
