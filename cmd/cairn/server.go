package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/guard"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/node"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func serverCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Cairn node",
		Long: `Run one Cairn node: one data directory, one gRPC port (peers and clients),
one HTTP port and one RESP (Redis) port. A lone "cairn server --name n1" is a
working 1-node cluster. Every flag can also be set as CAIRN_<FLAG> (dashes to
underscores). Settings stored when the cluster was created win: a flag set to
a different value is refused, naming both values.

To grow a running cluster, start a new node with an empty --data-dir and
--join set to any member's gRPC address; it asks to be added, and the
rebalancer moves replicas to it. --dry-run with --join only prints the moves
the join would cause, and creates nothing:

  cairn server --name n4 --grpc-addr 10.0.0.4:7379 --join 10.0.0.1:7379 --dry-run`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("name", "", "this node's name, unique in the cluster (required)")
	f.String("data-dir", "./data", "data directory")
	f.String("grpc-addr", "127.0.0.1:7379", "gRPC listen address (peers and clients)")
	f.String("http-addr", ":8379", "HTTP listen address (/v1/kv, /v1/cluster, /metrics, /livez, /readyz)")
	f.String("redis-addr", ":6379", "RESP (Redis protocol) listen address")
	f.String("advertise-grpc-addr", "", "gRPC address published to the cluster (default: the listen address)")
	f.String("advertise-http-addr", "", "HTTP address published to the cluster (default: the listen address)")
	f.String("advertise-redis-addr", "", "RESP address published to the cluster (default: the listen address)")
	f.String("initial-cluster", "", "founding members as name=host:port,... of their gRPC addresses (default: this node alone)")
	f.String("initial-cluster-token", cluster.DefaultToken, "token that, with --initial-cluster, names a new cluster")
	f.String("initial-cluster-state", cluster.StateNew, "new (found a cluster) or existing")
	f.Int("partitions", cluster.DefaultPartitions, "partitions, fixed at creation")
	f.Int("replicas", 0, "replicas per partition, fixed at creation (default: min(3, founders))")
	f.String("engine", cluster.EngineRaft, "replication engine, fixed at creation: raft, paxos or primary-backup (the meta group always runs raft)")
	addPBFlags(f)
	f.Int(cluster.FlagVNodes, cluster.DefaultVNodes, "virtual nodes per unit of capacity on the placement ring, fixed at creation")
	f.Float64(cluster.FlagLoadFactor, cluster.DefaultLoadFactor, "bounded-loads factor c: no node holds more than ceil(c × its weighted share) replicas; at least 1, fixed at creation")
	f.String("join", "", "gRPC address (host:port) of any member of a running cluster: an empty node asks to be added; ignored on restart")
	f.String("join-token", "", "with --join on a secure cluster (TLS or users): a token from cairn admin join-token create (single-use); not needed with a node certificate the cluster's CA signed")
	f.Float64("capacity", 1, "this node's weight on the ring: a node of capacity 2 gets twice the replicas of one of capacity 1")
	f.String("zone", "", "this node's zone (letters, digits, '-', '_', '.'): replicas of a partition are spread over zones")
	f.Duration("dead-after", 30*time.Second, "a node not heard from for this long is marked down and its replicas rebuilt elsewhere")
	f.Int("max-concurrent-moves", node.DefaultMaxConcurrentMoves, "replica moves in flight at once in the whole cluster (the meta leader's setting counts)")
	f.String("snapshot-rate", "8MiB", "bytes per second this node sends in snapshots, e.g. 8MiB or 100MB")
	f.Duration("consistency-check-interval", node.DefaultConsistencyCheckInterval, "how often each partition's leader has every replica digest its state at one log index and compares the digests; a replica that differs stops serving and is rebuilt (0: never; cairn admin verify checks on demand)")
	f.Bool("dry-run", false, "with --join: print the moves the join would cause and exit, creating nothing")
	f.Int("max-key-size", api.DefaultLimits.MaxKeySize, "largest key in bytes")
	f.Int("max-value-size", api.DefaultLimits.MaxValueSize, "largest value in bytes")
	f.Int("max-connections", guard.DefaultMaxConnections, "connections each door (RESP, HTTP, gRPC) holds open at most; more are refused (RESP: max number of clients reached, HTTP 503, gRPC RESOURCE_EXHAUSTED); lowered at start to fit the file-descriptor limit")
	f.Duration("client-idle-timeout", 0, "close a RESP connection that sends nothing for this long, as Redis's timeout (default 0: never)")
	f.Duration("request-timeout", 2*time.Second, "server deadline of a request; an outcome still unknown then is reported indeterminate")
	f.Duration("max-clock-offset", 500*time.Millisecond, "a node farther than this from a majority's clocks refuses to lead")
	f.String("min-free-disk", "256MiB", "below this much free space writes are refused (NOSPACE); reads go on; a size such as 256MiB, 1GiB or 268435456; 0: no floor")
	f.Bool("fault-injection", false, "serve the FaultInjection gRPC service (link faults, clock skew, slow fsync) for cairn check; never on a node whose data matters")
	f.Int("gogc", defaultGOGC(), "Go GC target percent: higher spends less CPU on GC and more memory; $GOGC, when set, is the default")
	f.String("memory-limit", os.Getenv("GOMEMLIMIT"), "soft memory limit of the Go runtime, e.g. 2GiB or 512MiB; the GC works harder near it; $GOMEMLIMIT, when set, is the default (none otherwise)")
	addServerTLSFlags(f)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		explicit, err := applyEnv(cmd.Flags())
		if err != nil {
			return err
		}
		if err := applyRuntimeFlags(cmd.Flags()); err != nil {
			return err
		}
		log, err := newLogger(cmd)
		if err != nil {
			return err
		}
		cfg, err := serverConfig(cmd, explicit)
		if err != nil {
			return err
		}
		cfg.Logger = log
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if dry, _ := cmd.Flags().GetBool("dry-run"); dry {
			return joinDryRun(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), cfg)
		}
		go func() { <-ctx.Done(); stop() }() // a second signal kills at once
		// NB: here, before the node makes any gRPC call: gRPC's logger
		// must not change while gRPC runs.
		routeLibraryLogs(log)
		return node.Run(ctx, cfg)
	}
	return cmd
}

func serverConfig(cmd *cobra.Command, explicit map[string]bool) (node.Config, error) {
	f := cmd.Flags()
	str := func(n string) string { v, _ := f.GetString(n); return v }
	num := func(n string) int { v, _ := f.GetInt(n); return v }
	dur := func(n string) time.Duration { v, _ := f.GetDuration(n); return v }
	float := func(n string) float64 { v, _ := f.GetFloat64(n); return v }
	minFree, err := parseBytes(str("min-free-disk"))
	if err != nil || minFree < 0 {
		return node.Config{}, usageError{fmt.Errorf("--min-free-disk %q: want a size such as 256MiB, 1GiB or 268435456, or 0 for no floor", str("min-free-disk"))}
	}
	faults, _ := f.GetBool("fault-injection")
	cfg := node.Config{
		Name: str("name"), DataDir: str("data-dir"),
		GRPCAddr: str("grpc-addr"), HTTPAddr: str("http-addr"), RedisAddr: str("redis-addr"),
		AdvertiseGRPC: str("advertise-grpc-addr"), AdvertiseHTTP: str("advertise-http-addr"), AdvertiseRedis: str("advertise-redis-addr"),
		Token: str("initial-cluster-token"), State: str("initial-cluster-state"),
		Settings: cluster.Settings{Partitions: num("partitions"), Replicas: num("replicas"), Engine: str("engine"),
			VNodes: num(cluster.FlagVNodes), LoadFactor: float(cluster.FlagLoadFactor)},
		Explicit: explicit,
		Join:     str("join"), JoinToken: str("join-token"), Capacity: float("capacity"), Zone: str("zone"),
		DeadAfter: dur("dead-after"), MaxConcurrentMoves: num("max-concurrent-moves"),
		Limits:         api.Limits{MaxKeySize: num("max-key-size"), MaxValueSize: num("max-value-size")},
		RequestTimeout: dur("request-timeout"), MaxClockOffset: dur("max-clock-offset"), MinFreeDisk: uint64(minFree),
		FaultInjection: faults,
		MaxConnections: num("max-connections"), ClientIdleTimeout: dur("client-idle-timeout"),
	}
	if cfg.TLS, err = serverTLS(f); err != nil {
		return cfg, err
	}
	if cfg.InitialAdminPassword, err = initialAdminPassword(f); err != nil {
		return cfg, err
	}
	if cfg.MinFreeDisk == 0 {
		cfg.MinFreeDisk = 1 // no floor (node.Config's zero means the default)
	}
	if err := pbSettings(f, explicit, &cfg.Settings); err != nil {
		return cfg, err
	}
	for _, d := range []string{"request-timeout", "max-clock-offset", "dead-after"} {
		if dur(d) <= 0 {
			return cfg, usageError{fmt.Errorf("--%s %v: must be positive", d, dur(d))}
		}
	}
	if cfg.Name == "" {
		return cfg, usageError{errors.New("--name is required")}
	}
	// NB: a zero here would silently mean "the default" further down, so
	// the counts are checked here rather than left to node.Config.Validate.
	if dur("client-idle-timeout") < 0 {
		return cfg, usageError{fmt.Errorf("--client-idle-timeout %v: must not be negative (0: never)", dur("client-idle-timeout"))}
	}
	for _, n := range []string{cluster.FlagVNodes, "max-concurrent-moves", "max-connections"} {
		if num(n) <= 0 {
			return cfg, usageError{fmt.Errorf("--%s %d: must be positive", n, num(n))}
		}
	}
	if lf := cfg.Settings.LoadFactor; math.IsNaN(lf) || math.IsInf(lf, 0) || lf < 1 {
		return cfg, usageError{fmt.Errorf("--load-factor %v: must be at least 1", lf)}
	}
	// The cluster package's messages start with "capacity" and "zone":
	// prefixed with dashes they name the flag.
	if err := cluster.ValidCapacity(cfg.Capacity); err != nil {
		return cfg, usageError{fmt.Errorf("--%w", err)}
	}
	if err := cluster.ValidZone(cfg.Zone); err != nil {
		return cfg, usageError{fmt.Errorf("--%w", err)}
	}
	rate, err := parseBytes(strings.TrimSuffix(str("snapshot-rate"), "/s"))
	if err != nil || rate <= 0 {
		return cfg, usageError{fmt.Errorf("--snapshot-rate %q: want a positive size per second such as 32MiB or 100MB", str("snapshot-rate"))}
	}
	cfg.SnapshotRate = rate
	cfg.ConsistencyCheckInterval = dur("consistency-check-interval")
	if cfg.ConsistencyCheckInterval <= 0 {
		cfg.ConsistencyCheckInterval = -1 // never (node.Config's zero means the default)
	}
	if cfg.Join != "" {
		if err := validHostPort(cfg.Join); err != nil {
			return cfg, usageError{fmt.Errorf("--join %q: %w", cfg.Join, err)}
		}
	}
	if dry, _ := f.GetBool("dry-run"); dry && cfg.Join == "" {
		return cfg, usageError{errors.New("--dry-run needs --join: it prints the moves a join would cause")}
	}
	if ic := str("initial-cluster"); ic != "" {
		members, err := cluster.ParseInitialCluster(ic)
		if err != nil {
			return cfg, usageError{err}
		}
		cfg.InitialCluster = members
	}
	return cfg, nil
}

// validHostPort checks a host:port address with a host and a port number.
func validHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, e.g. 10.0.0.1:7379")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	if host == "" {
		return errors.New("missing host: want host:port, e.g. 10.0.0.1:7379")
	}
	return nil
}

// defaultGOGC is $GOGC when it is a number, else 200: a node's heap is
// small next to its memtables and block cache, and the default 100 spends
// a tenth of a loaded node's CPU on garbage collection.
func defaultGOGC() int {
	if v, err := strconv.Atoi(os.Getenv("GOGC")); err == nil {
		return v
	}
	return 200
}

// applyRuntimeFlags sets the Go runtime's GC percent and memory limit.
func applyRuntimeFlags(f *pflag.FlagSet) error {
	gogc, _ := f.GetInt("gogc")
	if gogc <= 0 {
		return usageError{fmt.Errorf("--gogc %d: must be positive", gogc)}
	}
	debug.SetGCPercent(gogc)
	limit, _ := f.GetString("memory-limit")
	if limit == "" {
		return nil
	}
	n, err := parseBytes(limit)
	if err != nil || n <= 0 {
		return usageError{fmt.Errorf("--memory-limit %q: want a positive size such as 2GiB, 512MiB or 1073741824", limit)}
	}
	debug.SetMemoryLimit(n)
	return nil
}

// parseBytes parses a byte count with an optional binary (KiB, MiB, GiB,
// TiB) or decimal (KB, MB, GB, TB) suffix, as GOMEMLIMIT does.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%d×%d overflows", n, mult)
	}
	return n * mult, nil
}
