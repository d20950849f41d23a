package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/cairnkv/cairn/internal/api"
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

	Limits         api.Limits    // --max-key-size, --max-value-size
	RequestTimeout time.Duration // --request-timeout, default 2s
	MaxClockOffset time.Duration // --max-clock-offset, default 500ms
	MinFreeDisk    uint64        // --min-free-disk, default 256 MiB

	// FaultInjection serves the FaultInjection gRPC service (--fault-injection):
	// link faults, clock skew and slow fsync on command, for cairn check.
	// Never on a node that holds data anyone cares about.
	FaultInjection bool

	// LeaderBalanceInterval is how often a node hands the groups it leads
	// to their preferred leaders (the first node of each placement) when
	// those are healthy. Default 2s; negative: never.
	LeaderBalanceInterval time.Duration

	// TickInterval is the Raft tick. Default 100ms.
	TickInterval time.Duration
	// FreeDisk reports the free bytes under the data directory; tests
	// inject it (DESIGN.md, Disk faults). Default: statfs.
	FreeDisk func(dir string) (uint64, error)
	Logger   *slog.Logger
}

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
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
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
	case c.State != cluster.StateNew && c.State != cluster.StateExisting:
		return fmt.Errorf("--initial-cluster-state %q: must be new or existing", c.State)
	}
	return nil
}
