package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/chaos"
	"github.com/cairnkv/cairn/internal/clock"
	cairncluster "github.com/cairnkv/cairn/internal/cluster"
)

// Bounds on the phases around the clients' run.
const (
	readyTimeout = 60 * time.Second // the cluster's first start
	quietTimeout = 30 * time.Second // after the final heal, for every node to be ready
	finalTimeout = 30 * time.Second // the final reads, retries included
	// convergeTimeout bounds the wait, after the recovery, for the replica
	// moves a membership nemesis started to finish. A join or drain of a
	// node of a check cluster moves a dozen small replicas, two at a time:
	// seconds, not a minute.
	convergeTimeout = 60 * time.Second
)

// Run starts a cluster of cfg.Nodes real servers, runs cfg.Clients clients
// of cfg.Workload against it for cfg.Time while the nemesis works through
// its schedule, heals, waits for the cluster to be quiet, makes the final
// reads and checks the history. Every server is killed and reaped before Run
// returns, whatever happens.
//
// It returns an error wrapping ErrConfig for a bad configuration,
// ErrInterrupted when ctx ends first (after writing the history so far), and
// another error when the harness itself fails (a server that never gets
// ready, an unwritable --out). A run that completes returns its Result, and
// Result.Passed says whether Cairn passed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Binary == "" {
		return nil, fmt.Errorf("%w: no server binary (--binary)", ErrConfig)
	}
	sched, err := Schedule(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Out == "" {
		if cfg.Out, err = os.MkdirTemp("", "cairn-check-"); err != nil {
			return nil, fmt.Errorf("runner: --out: %w", err)
		}
	} else {
		// NB: a run never reuses another's servers: their data would
		// belong to a cluster on other ports.
		if _, err := os.Stat(filepath.Join(cfg.Out, "nodes")); err == nil {
			return nil, fmt.Errorf("%w: --out %s holds an earlier run (nodes/): choose another directory or remove it", ErrConfig, cfg.Out)
		}
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return nil, fmt.Errorf("runner: --out: %w", err)
		}
	}
	log := cfg.Logger
	log.Info("cairn check", "seed", cfg.Seed, "workload", cfg.Workload, "nemesis", sched.Nemesis, "out", cfg.Out)
	if err := writeJSON(filepath.Join(cfg.Out, "schedule.json"), sched); err != nil {
		return nil, err
	}

	names := cfg.nodeNames()
	serverArgs := []string{
		"--partitions", strconv.Itoa(cfg.Partitions), "--engine", cfg.Engine,
		"--max-clock-offset", cfg.MaxClockOffset.String(),
		// The cluster is throwaway; a nearly full /tmp must not turn
		// the run into a NOSPACE test.
		"--min-free-disk", "0",
	}
	if cfg.PBMode != "" {
		serverArgs = append(serverArgs, "--pb-mode", cfg.PBMode)
	}
	if cfg.PBMode == "async" {
		serverArgs = append(serverArgs, "--pb-max-lag", cfg.PBMaxLag.String())
	}
	c, err := newCluster(clusterConfig{
		Binary: cfg.Binary, Dir: filepath.Join(cfg.Out, "nodes"), Names: names, Logger: log,
		ServerArgs:  serverArgs,
		FounderArgs: []string{"--initial-cluster-token", fmt.Sprintf("cairn-check-%d", cfg.Seed)},
	})
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.start(ctx, readyTimeout); err != nil {
		if ctx.Err() != nil {
			return nil, ErrInterrupted
		}
		return nil, fmt.Errorf("runner: starting the cluster: %w", err)
	}
	log.Info("cluster ready", "nodes", len(names), "logs", filepath.Join(cfg.Out, "nodes"))

	conns := make(map[string]*grpc.ClientConn)
	defer func() {
		for _, cc := range conns {
			cc.Close()
		}
	}()
	// NB: the clients talk to the founders only, as a client configured
	// before the run would; a founder forwards what it does not lead, to
	// the nodes that joined too.
	var clients []*grpcapi.Client
	for _, s := range c.list() {
		cc, err := grpc.NewClient(s.grpc, dialOptions()...)
		if err != nil {
			return nil, fmt.Errorf("runner: dialling %s: %w", s.name, err)
		}
		conns[s.name] = cc
		clients = append(clients, grpcapi.NewClient(cc))
	}
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	e := newEnv(cfg, clients, now)
	inj := newClusterInjector(c, conns)
	defer inj.close()
	nem := newNemesis(inj, names, cfg.Seed, now,
		func(ctx context.Context, at time.Duration) error { return clock.Sleep(ctx, time.Until(start.Add(at))) }, log)

	var watch *failoverWatch
	watchDone := make(chan struct{})
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if cfg.PBMode == "async" {
		watch = newFailoverWatch(conns, now)
		go func() { defer close(watchDone); watch.run(watchCtx) }()
	} else {
		close(watchDone)
	}

	stop := make(chan struct{})
	nemDone := make(chan error, 1)
	go func() { nemDone <- nem.run(ctx, sched.Steps) }()
	timer := time.AfterFunc(cfg.Time, func() { close(stop) })
	defer timer.Stop()
	e.drive(ctx, cfg.Clients, cfg.Seed, stop) // operations in flight finish (each bounded by OpTimeout)
	<-nemDone                                 // its steps end by cfg.Time; a heal in progress finishes
	log.Info("clients stopped", "ops", e.rec.Len())

	res := &Result{Nodes: cfg.Nodes, Partitions: cfg.Partitions, Clients: cfg.Clients, Keys: cfg.Keys, Time: cfg.Time,
		Replay: replay(cfg)}
	if cfg.Workload == WorkloadSet {
		res.Keys = 0 // one set, an element per key
	}
	interrupted := func() (*Result, error) {
		_ = writeHistory(filepath.Join(cfg.Out, "history.jsonl"), e.rec.History())
		return nil, fmt.Errorf("%w: the history so far is in %s", ErrInterrupted, cfg.Out)
	}
	if ctx.Err() != nil {
		return interrupted()
	}

	faults := nem.finish(ctx)
	healed := time.Now()
	if err := c.waitReady(ctx, quietTimeout); err != nil {
		if ctx.Err() != nil {
			return interrupted()
		}
		// The final reads retry; a node that stays down shows up in them
		// and, if it crashed, in NodeFailures.
		log.Warn("not every node is ready after the final heal", "err", err)
	}
	res.RecoverySeconds = roundMillis(time.Since(healed))
	if nemKinds, _ := chaos.ParseNemesis(cfg.Nemesis); slices.Contains(nemKinds.Kinds, chaos.Membership) {
		log.Info("waiting for the membership to settle", "recovery", time.Since(healed).Round(time.Millisecond))
		res.Converge = nem.converge(ctx, convergeTimeout)
		if ctx.Err() != nil {
			return interrupted()
		}
		if res.Converge.Converged {
			log.Info("membership settled", "converge", res.Converge.Seconds, "members", res.Converge.Detail)
		} else {
			log.Error("the membership did not settle", "waited", res.Converge.Seconds, "pending", res.Converge.Detail)
		}
		faults = nem.faults // with the drained nodes' stops noted
	}
	log.Info("quiet; final reads", "recovery", time.Since(healed).Round(time.Millisecond))
	res.FinalReadsFailed = runFinals(ctx, e, e.gen.finals(), cfg.Clients, cfg.Clients, cfg.Seed^0x66696e616c, time.Now().Add(finalTimeout))
	if ctx.Err() != nil {
		return interrupted()
	}

	stopWatch()
	<-watchDone
	var failovers []chaos.Failover
	if watch != nil {
		failovers = watch.list()
		if err := writeJSON(filepath.Join(cfg.Out, "failovers.json"), failovers); err != nil {
			return nil, err
		}
	}
	history := e.rec.History()
	if err := writeHistory(filepath.Join(cfg.Out, "history.jsonl"), history); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(cfg.Out, "faults.json"), faults); err != nil {
		return nil, err
	}
	res.NodeFailures = c.failures()
	if err := c.close(); err != nil {
		log.Warn("stopping the cluster", "err", err)
	}
	log.Info("checking", "ops", len(history))
	in := checkInput{Workload: cfg.Workload, History: history, Faults: faults, Out: cfg.Out,
		Timeout: cfg.CheckTimeout, Skew: 2 * cfg.MaxClockOffset}
	if watch != nil {
		in.Async = &asyncLoss{Failovers: failovers, Window: lossWindow(cfg.PBMaxLag),
			PartitionOf: func(elem string) int { return cairncluster.PartitionOf([]byte(e.setPrefix+elem), cfg.Partitions) }}
	}
	checked, err := check(in)
	if err != nil {
		return nil, err
	}
	res.Summary = checked.Summary
	res.Summary.Engine, res.Summary.Nemesis, res.Summary.Seed = cfg.Engine, sched.Nemesis, cfg.Seed
	res.Out, res.Visualization, res.Anomalies, res.Loss = cfg.Out, checked.Visualization, checked.Anomalies, checked.Loss
	if err := writeSummary(res); err != nil {
		return nil, err
	}
	if res.Passed() {
		// The servers' data is only worth its space when something
		// failed; the logs and the history stay.
		for _, s := range c.list() {
			if err := os.RemoveAll(s.dataDir); err != nil {
				log.Warn("removing a data directory", "err", err)
			}
		}
	}
	return res, nil
}

func writeSummary(res *Result) error {
	f, err := os.Create(filepath.Join(res.Out, "summary.json"))
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return errors.Join(res.WriteJSON(f), f.Close())
}

// replay is the command line that runs cfg again.
func replay(cfg Config) string {
	engine := cfg.Engine
	if cfg.PBMode != "" {
		engine += " --pb-mode " + cfg.PBMode
	}
	if cfg.PBMode == "async" {
		engine += " --pb-max-lag " + cfg.PBMaxLag.String()
	}
	return fmt.Sprintf("cairn check --seed %d --nodes %d --engine %s --partitions %d --workload %s --nemesis %s --time %v --clients %d --keys %d",
		cfg.Seed, cfg.Nodes, engine, cfg.Partitions, cfg.Workload, cfg.Nemesis, cfg.Time, cfg.Clients, cfg.Keys)
}

func roundMillis(d time.Duration) float64 { return float64(d.Round(time.Millisecond)) / 1e9 }

// serverLease is the servers' --pb-lease (the runner leaves it at its
// default): a backup takes over only once the dead primary's lease ran
// out, so a failover is seen up to a lease after the last write the old
// primary acknowledged.
const serverLease = 3 * time.Second

// lossWindow bounds how long before a failover's sighting, by the
// checker's clock, a write it lost may have been acknowledged: the issue's
// --pb-max-lag + 1 s, plus the lease the failover waited out and the
// watch's polling slack.
func lossWindow(maxLag time.Duration) time.Duration {
	return maxLag + time.Second + serverLease + 2*pollEvery
}
