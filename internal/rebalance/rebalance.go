package rebalance

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is what New needs. The node fills the durations from its own
// configuration, where their flags and defaults are stated.
type Config struct {
	Node Node
	// Clock times every loop and the failure detector. Default clock.Real.
	Clock      clock.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Settings are the cluster's (partitions, replicas, engine).
	Settings cluster.Settings

	// DeadAfter (--dead-after): a member silent this long is marked down;
	// a new meta leader waits this long before it marks any.
	DeadAfter time.Duration
	// MaxConcurrentMoves (--max-concurrent-moves) bounds the moves in
	// flight in the cluster.
	MaxConcurrentMoves int
	// RequestTimeout (--request-timeout) bounds each read and change of
	// the meta group.
	RequestTimeout time.Duration
	// RebalanceInterval, LeaderBalanceInterval and RepairInterval are how
	// often each loop runs; zero or negative: that loop never runs.
	RebalanceInterval     time.Duration
	LeaderBalanceInterval time.Duration
	RepairInterval        time.Duration
}

// Rebalancer runs the loops of the package doc.
type Rebalancer struct {
	cfg         Config
	node        Node
	clk         clock.Clock
	log         *slog.Logger
	moves       prometheus.Counter
	fails       prometheus.Counter
	leaderMoves prometheus.Counter
	mu          struct {
		sync.Mutex
		leaderSince time.Time // zero while this node does not lead the meta group
		lastHeard   map[string]time.Time
		inFlight    map[replica.GroupID]inFlightMove
		// minVersion holds the descriptor version a finished move left a
		// group at: the group is not planned again until the routes show it.
		minVersion map[replica.GroupID]uint64
		done       uint64
	}
}

// New returns a Rebalancer and registers its metrics (it panics when they
// are registered already, as prometheus.MustRegister does); Run starts it.
func New(cfg Config) *Rebalancer {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	r := &Rebalancer{cfg: cfg, node: cfg.Node, clk: cfg.Clock, log: cfg.Logger,
		moves: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_rebalancer_moves_total",
			Help: "Replica moves the rebalancer finished on this node while it led the meta group."}),
		fails: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_rebalancer_move_failures_total",
			Help: "Replica moves that failed (they are planned again)."}),
		leaderMoves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_leader_balance_transfers_total", Help: "Leaderships handed to a partition's preferred replica."}),
	}
	cfg.Registerer.MustRegister(r.moves, r.fails, r.leaderMoves)
	r.reset()
	return r
}

// Run runs the loops whose interval is positive until ctx ends, then waits
// for the moves it started.
func (r *Rebalancer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if d := r.cfg.RebalanceInterval; d > 0 {
		wg.Go(func() { r.rebalance(ctx, d) })
	}
	if d := r.cfg.LeaderBalanceInterval; d > 0 {
		wg.Go(func() { r.balanceLeaders(ctx, d) })
	}
	if d := r.cfg.RepairInterval; d > 0 {
		wg.Go(func() { r.repairDiverged(ctx, d) })
	}
	wg.Wait()
}

// every runs f every interval by r's clock until ctx ends.
func (r *Rebalancer) every(ctx context.Context, interval time.Duration, f func(ctx context.Context)) {
	t := r.clk.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		f(ctx)
	}
}
