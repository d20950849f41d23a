package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/guard"
	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
)

// Config is one `cairn server` process. The flag of each field is named in
// its comment (DESIGN.md, Flags).
type Config struct {
	Name    string // --name (required)
	DataDir string // --data-dir, default ./data

	GRPCAddr string // --grpc-addr, default 127.0.0.1:7379 (peers and clients)
	// GRPCListener, when set, is used instead of listening on GRPCAddr
	// (tests reserve ports for the initial cluster this way).
	GRPCListener net.Listener
	HTTPAddr     string // --http-addr, default 127.0.0.1:8379
	RedisAddr    string // --redis-addr, default 127.0.0.1:6379

	// Advertised addresses, published to the cluster; default: the listen
	// address (with the port a ":0" listener got).
	AdvertiseGRPC, AdvertiseHTTP, AdvertiseRedis string

	InitialCluster []cluster.Member // --initial-cluster, default: this node alone
	Token          string           // --initial-cluster-token, default "cairn"
	State          string           // --initial-cluster-state, default "new"
	Settings       cluster.Settings // --partitions, --replicas, --engine (zero: default)
	Explicit       map[string]bool  // flags set explicitly, by name without dashes

	// Join is --join: the gRPC address of any member of a running cluster.
	// With an empty data directory the node asks it to be added (a new,
	// empty node); with data it is ignored (a restart).
	Join string
	// JoinToken (--join-token) is sent with the join: a secure cluster
	// takes a new node with a token from cairn admin join-token create, or
	// with a node certificate its CA signed.
	JoinToken string
	// Capacity (--capacity, default 1) and Zone (--zone) place this node on
	// the ring. A founder's must match its --initial-cluster entry; a
	// joiner sends them with its join.
	Capacity float64
	Zone     string
	// DeadAfter (--dead-after, default 30s): a node not heard from for this
	// long is marked down and its replicas rebuilt elsewhere. A new meta
	// leader waits this long before it marks any node down.
	DeadAfter time.Duration
	// MaxConcurrentMoves (--max-concurrent-moves, default
	// DefaultMaxConcurrentMoves) bounds the
	// replica moves in flight in the whole cluster.
	MaxConcurrentMoves int
	// SnapshotRate (--snapshot-rate, default DefaultSnapshotRate) bounds the bytes per
	// second this node sends in snapshots.
	SnapshotRate int64
	// RebalanceInterval is how often the meta leader's rebalancer looks at
	// the placement. Default 1s; negative: never (tests).
	RebalanceInterval time.Duration
	// ConsistencyCheckInterval (--consistency-check-interval, default 1
	// min) is how often each group's leader runs a consistency check:
	// every replica digests its replicated state at the check's index and
	// the leader compares. A minute finds a corrupted replica long before
	// an operator would, while the digests (a read of the node's data,
	// spread over the minute, one at a time) stay a small share of the
	// disk. Negative: never (cairn admin verify still runs one).
	ConsistencyCheckInterval time.Duration
	// RepairInterval is how often a node looks for a local replica that a
	// consistency check found to differ, and asks its leader to replace
	// it. Default 1s; negative: never (tests).
	RepairInterval time.Duration

	// MaxConnections (--max-connections) bounds the connections each door
	// (RESP, HTTP, gRPC) holds open. Default guard.DefaultMaxConnections
	// (10,000, Redis's maxclients), lowered at start to what the
	// file-descriptor limit allows with room for storage and peers.
	MaxConnections int
	// ClientIdleTimeout (--client-idle-timeout) closes a RESP connection
	// that sends nothing for this long. Default 0: never, as Redis's
	// "timeout 0" (pooled clients keep idle connections).
	ClientIdleTimeout time.Duration

	Limits         api.Limits    // --max-key-size, --max-value-size
	RequestTimeout time.Duration // --request-timeout, default 2s
	MaxClockOffset time.Duration // --max-clock-offset, default 500ms
	MinFreeDisk    uint64        // --min-free-disk, default 256 MiB

	// InitialAdminPassword (--initial-admin-password-file, or
	// CAIRN_INITIAL_ADMIN_PASSWORD) makes user admin (role admin) with this
	// password and turns logins on, unless the cluster already requires
	// them. Empty: a cluster without users, open to anyone who reaches it.
	InitialAdminPassword string

	// TLS is the doors' and the peers' TLS (--cert-file, --peer-cert-file,
	// ...; see TLS). Zero: plaintext everywhere.
	TLS TLS

	// FaultInjection serves the FaultInjection gRPC service (--fault-injection):
	// link faults, clock skew and slow fsync on command, for cairn check.
	// Never on a node that holds data anyone cares about.
	FaultInjection bool

	// LeaderBalanceInterval is how often a node hands the groups it leads
	// to their preferred leaders (the first node of each placement) when
	// those are healthy. Default 2s; negative: never.
	LeaderBalanceInterval time.Duration

	// Clock is the node's time source: its engines' ticks and stamps, the
	// doors' TTL replies, its timers. Default the real clock; tests pass a
	// fake one. With FaultInjection the node reads a clock skewed over it.
	Clock clock.Clock

	// TickInterval is the Raft tick. Default 100ms.
	TickInterval time.Duration
	// FreeDisk reports the free bytes under the data directory; tests
	// inject it (DESIGN.md, Disk faults). Default: statfs.
	FreeDisk func(dir string) (uint64, error)
	Logger   *slog.Logger
}

// Defaults of the move limits. Measured on a 2-core machine running 5
// servers and a load of half their peak (issue 7's note): with 2 moves at
// once and 32 MiB/s the p99 during a 3 → 5 grow rose from about 30 ms to
// up to 1 s; with 1 and 8 MiB/s it stayed within 2-3× (the grow took 77 s
// instead of 39 s). A machine with cores to spare can raise both.
const (
	DefaultMaxConcurrentMoves = 1
	DefaultSnapshotRate       = 8 << 20
)

// DefaultConsistencyCheckInterval is --consistency-check-interval's default
// (see Config.ConsistencyCheckInterval).
const DefaultConsistencyCheckInterval = time.Minute

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.GRPCAddr == "" {
		c.GRPCAddr = "127.0.0.1:7379"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8379"
	}
	if c.RedisAddr == "" {
		c.RedisAddr = ":6379"
	}
	if c.Token == "" {
		c.Token = cluster.DefaultToken
	}
	if c.State == "" {
		c.State = cluster.StateNew
	}
	if c.Limits == (api.Limits{}) {
		c.Limits = api.DefaultLimits
	}
	if c.LeaderBalanceInterval == 0 {
		c.LeaderBalanceInterval = 2 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 2 * time.Second
	}
	if c.MaxClockOffset == 0 {
		c.MaxClockOffset = 500 * time.Millisecond
	}
	if c.MinFreeDisk == 0 {
		c.MinFreeDisk = 256 << 20
	}
	if c.DeadAfter == 0 {
		c.DeadAfter = 30 * time.Second
	}
	if c.MaxConcurrentMoves == 0 {
		c.MaxConcurrentMoves = DefaultMaxConcurrentMoves
	}
	if c.SnapshotRate == 0 {
		c.SnapshotRate = DefaultSnapshotRate
	}
	if c.RebalanceInterval == 0 {
		c.RebalanceInterval = time.Second
	}
	if c.ConsistencyCheckInterval == 0 {
		c.ConsistencyCheckInterval = DefaultConsistencyCheckInterval
	}
	if c.RepairInterval == 0 {
		c.RepairInterval = time.Second
	}
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = guard.DefaultMaxConnections
	}
	if c.FreeDisk == nil {
		c.FreeDisk = statfsFree
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate names the flag of the first bad setting.
func (c *Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("--name is required")
	case c.Limits.MaxKeySize <= 0 || c.Limits.MaxKeySize > 64<<10:
		return fmt.Errorf("--max-key-size %d: must be between 1 and 65536", c.Limits.MaxKeySize)
	case c.Limits.MaxValueSize <= 0 || c.Limits.MaxValueSize > 4<<20:
		// The gRPC message limit (8 MiB) must carry the largest entry.
		return fmt.Errorf("--max-value-size %d: must be between 1 and 4 MiB", c.Limits.MaxValueSize)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("--request-timeout %v: must be positive", c.RequestTimeout)
	case c.Capacity != 0 && cluster.ValidCapacity(c.Capacity) != nil:
		return fmt.Errorf("--capacity: %v", cluster.ValidCapacity(c.Capacity))
	case cluster.ValidZone(c.Zone) != nil:
		return fmt.Errorf("--zone: %v", cluster.ValidZone(c.Zone))
	case c.DeadAfter < 0:
		return fmt.Errorf("--dead-after %v: must be positive", c.DeadAfter)
	case c.MaxConcurrentMoves < 0:
		return fmt.Errorf("--max-concurrent-moves %d: must be positive", c.MaxConcurrentMoves)
	case c.MaxConnections < 0:
		return fmt.Errorf("--max-connections %d: must be positive", c.MaxConnections)
	case c.ClientIdleTimeout < 0:
		return fmt.Errorf("--client-idle-timeout %v: must not be negative (0: never)", c.ClientIdleTimeout)
	case c.SnapshotRate < 0:
		return fmt.Errorf("--snapshot-rate %d: must be positive", c.SnapshotRate)
	case c.State != cluster.StateNew && c.State != cluster.StateExisting:
		return fmt.Errorf("--initial-cluster-state %q: must be new or existing", c.State)
	}
	return nil
}
