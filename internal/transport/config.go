package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/cairnkv/cairn/internal/clock"
)

// Limits on what goes over the wire. They are set together: a frame's
// messages never exceed MaxFrameBytes, a snapshot chunk never exceeds
// MaxChunkSize, and both stay well under MaxMessageSize, the gRPC message
// limit the client and (through ServerOptions) the server use.
const (
	// MaxMessageSize is the gRPC send and receive limit for the peer service.
	MaxMessageSize = 8 << 20
	// MaxFrameBytes bounds the payload bytes batched into one frame; a sender
	// with more queued writes several frames.
	MaxFrameBytes = 4 << 20
	// MaxChunkSize bounds a snapshot chunk and a snapshot header. Callers of
	// SendSnapshot must keep chunks at or below it; a larger one fails the
	// snapshot with ErrChunkTooLarge.
	MaxChunkSize = 1 << 20
)

// Defaults for Config fields left zero.
const (
	// DefaultMaxClockOffset is --max-clock-offset's default (DESIGN.md
	// "Expiry"): CockroachDB's bound, far above what NTP keeps a healthy
	// clock to, far below a TTL anyone sets.
	DefaultMaxClockOffset = 500 * time.Millisecond
	// DefaultQueueSize is CockroachDB's raftSendBufferSize: enough for a
	// burst from thousands of groups, small enough that a dead peer costs a
	// few MiB at most.
	DefaultQueueSize = 10000
	// DefaultMaxSnapshots: snapshots are large and rare; two at a time keeps
	// one slow transfer from blocking every other while bounding disk and
	// network use.
	DefaultMaxSnapshots = 2
	// DefaultPingInterval: a clock that runs away is noticed within a second
	// or two, at a cost of one tiny frame each way per peer.
	DefaultPingInterval = 500 * time.Millisecond
	// DefaultHandshakeTimeout bounds dialling plus the hello exchange, so a
	// peer that accepts TCP but never answers is retried.
	DefaultHandshakeTimeout = 5 * time.Second
)

// Config configures a gRPC transport. Zero fields take the defaults above.
type Config struct {
	// ClusterID is checked on every connection; a peer of another cluster is
	// refused. Required (non-zero).
	ClusterID [16]byte
	// Name is this node's name. Required.
	Name string
	// Incarnation is made at the node's first start and stored with its data;
	// a node whose data was wiped has a new one and is refused by peers that
	// knew the old. Required (non-zero).
	Incarnation uint64
	// Resolve returns the gRPC address of a peer node; it is called at each
	// dial, so an address that changed is picked up on reconnect. Required.
	Resolve func(node string) (addr string, ok bool)
	// Handler receives what arrives from peers. Required.
	Handler Handler
	// Routes answers Peer.SyncRoutes, the descriptor gossip of
	// internal/routing. Nil: the call is refused as unimplemented.
	Routes RouteServer
	// Settings is the cluster settings this node holds, in canonical text
	// (cluster.Settings.String): a peer whose hello names other settings is
	// refused. Empty: not checked.
	Settings string
	// Clock is read for clock-offset measurement. Default: clock.Real{}.
	Clock clock.Clock
	// MaxClockOffset is the largest offset from a peer that still counts as
	// agreeing with it in ClockHealthy. Default DefaultMaxClockOffset (500ms).
	MaxClockOffset time.Duration
	// PingInterval is how often each outbound stream pings its peer to
	// measure clock offset. Default DefaultPingInterval (500ms).
	PingInterval time.Duration
	// HandshakeTimeout bounds a dial and hello exchange. Default
	// DefaultHandshakeTimeout (5s).
	HandshakeTimeout time.Duration
	// QueueSize is the number of messages queued per destination node before
	// Send drops. Default DefaultQueueSize (10000).
	QueueSize int
	// MaxSnapshots limits concurrent snapshot streams, separately for
	// inbound and outbound; more wait their turn. Default
	// DefaultMaxSnapshots (2).
	MaxSnapshots int
	// Registry receives the transport's metrics (prefix cairn_transport_).
	// Each node has its own, so many nodes can run in one process; nil
	// keeps the metrics unregistered. Never pass the global default here.
	Registry prometheus.Registerer
	// Logger gets connection events (never one line per message). Default:
	// slog.Default().
	Logger *slog.Logger
	// Peers remembers the incarnation of every node seen. Default:
	// NewMemPeerBook() (forgets on restart; the node backs it by storage).
	Peers PeerBook
	// DialOptions are appended to the transport's own (insecure credentials
	// and the message-size limits), so credentials given here win.
	DialOptions []grpc.DialOption
}

// Validate reports the first bad field by name. It does not change c.
func (c *Config) Validate() error {
	switch {
	case c.ClusterID == [16]byte{}:
		return errors.New("transport: Config.ClusterID is required")
	case c.Name == "":
		return errors.New("transport: Config.Name is required")
	case c.Incarnation == 0:
		return errors.New("transport: Config.Incarnation is required (non-zero)")
	case c.Resolve == nil:
		return errors.New("transport: Config.Resolve is required")
	case c.Handler == nil:
		return errors.New("transport: Config.Handler is required")
	case c.MaxClockOffset < 0:
		return fmt.Errorf("transport: Config.MaxClockOffset %v is negative", c.MaxClockOffset)
	case c.PingInterval < 0:
		return fmt.Errorf("transport: Config.PingInterval %v is negative", c.PingInterval)
	case c.HandshakeTimeout < 0:
		return fmt.Errorf("transport: Config.HandshakeTimeout %v is negative", c.HandshakeTimeout)
	case c.QueueSize < 0:
		return fmt.Errorf("transport: Config.QueueSize %d is negative", c.QueueSize)
	case c.MaxSnapshots < 0:
		return fmt.Errorf("transport: Config.MaxSnapshots %d is negative", c.MaxSnapshots)
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.MaxClockOffset == 0 {
		c.MaxClockOffset = DefaultMaxClockOffset
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxSnapshots == 0 {
		c.MaxSnapshots = DefaultMaxSnapshots
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Peers == nil {
		c.Peers = NewMemPeerBook()
	}
	return c
}

// PeerBook remembers the incarnation of every node this node has talked to,
// so a node that lost its data (and with it its votes) is refused instead of
// being let back in as if nothing happened.
type PeerBook interface {
	// Incarnation returns the incarnation remembered for name.
	Incarnation(name string) (uint64, bool)
	// Remember stores name's incarnation; it must be durable when it returns
	// if the book is backed by storage.
	Remember(name string, inc uint64) error
}

// MemPeerBook is a PeerBook in memory, for tests and until the node backs
// one by storage.
type MemPeerBook struct {
	mu struct {
		sync.Mutex
		inc map[string]uint64
	}
}

// NewMemPeerBook returns an empty in-memory PeerBook.
func NewMemPeerBook() *MemPeerBook {
	b := &MemPeerBook{}
	b.mu.inc = make(map[string]uint64)
	return b
}

func (b *MemPeerBook) Incarnation(name string) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inc, ok := b.mu.inc[name]
	return inc, ok
}

func (b *MemPeerBook) Remember(name string, inc uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.inc[name] = inc
	return nil
}
