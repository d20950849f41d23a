package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

// Backend is the node as the front doors see it.
type Backend interface {
	// Partitions is P, fixed at cluster creation.
	Partitions() int
	// Partition is the partition of key: xxhash64 of the key, or of the
	// part between the first '{' and the next '}' when non-empty (Redis
	// hash tags), mod P.
	Partition(key []byte) int
	// Propose replicates cmd, whose requests all belong to partition p,
	// and returns its reply. Errors are classified by OutcomeOf.
	Propose(ctx context.Context, p int, cmd kv.Command) (kv.Reply, error)
	// Read evaluates q (kv.Eval) against partition p's replicated state
	// once a read in mode is safe: on a local replica, or on a node that
	// holds one (the query travels, the view does not). An error wrapping
	// kv.ErrMalformed is the query's fault; others are classified by
	// OutcomeOf (a read changes nothing, so a failed one is never
	// indeterminate for the data, only for the caller's wait).
	Read(ctx context.Context, p int, mode replica.ReadMode, q kv.Query) (kv.Reply, error)
	// Replicated waits until need of partition p's other replicas hold
	// durably every entry its leader had committed when the call reached
	// it (every write acknowledged before), or until ctx ends, and returns
	// how many do (Redis's WAIT).
	Replicated(ctx context.Context, p int, need int) (int, error)
	// NewClientID returns a session client ID unique in the cluster.
	NewClientID() uint64
	// Limits are the size limits the doors enforce.
	Limits() Limits
	// Now is the node's clock (for TTL replies: deadline minus now).
	Now() time.Time
	// Cluster is what this node knows of the cluster (GET /v1/cluster,
	// the Cluster gRPC service, INFO).
	Cluster() ClusterView
	// Ready lists the readiness checks (DESIGN.md, /readyz).
	Ready() []Check
}

// Limits bound what a request may carry (DESIGN.md, Flags).
type Limits struct {
	MaxKeySize   int // --max-key-size, default 8 KiB
	MaxValueSize int // --max-value-size, default 1 MiB
}

// DefaultLimits are DESIGN.md's defaults.
var DefaultLimits = Limits{MaxKeySize: 8 << 10, MaxValueSize: 1 << 20}

// CheckKey reports a key that is empty or over the limit, naming the limit.
func (l Limits) CheckKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > l.MaxKeySize {
		return fmt.Errorf("%w: key is %d bytes, over --max-key-size %d", ErrTooLarge, len(key), l.MaxKeySize)
	}
	return nil
}

// CheckValue reports a value over the limit, naming it.
func (l Limits) CheckValue(v []byte) error {
	if len(v) > l.MaxValueSize {
		return fmt.Errorf("%w: value is %d bytes, over --max-value-size %d", ErrTooLarge, len(v), l.MaxValueSize)
	}
	return nil
}

// Errors a Backend returns, besides the replica package's.
var (
	// ErrNoSpace: the node is below its free-disk floor; writes refused.
	ErrNoSpace = errors.New("disk nearly full (below --min-free-disk); writes refused, reads still served")
	// ErrTooLarge: a key or value over its limit.
	ErrTooLarge = errors.New("too large")
	// ErrInvalid: a malformed request.
	ErrInvalid = errors.New("invalid request")
	// ErrRead: a replica's state could not be read (a storage failure or
	// corrupt state where the read ran); the gRPC door answers INTERNAL.
	ErrRead = errors.New("read failed")
	// ErrCrossPartition: a multi-key command whose keys are in different
	// partitions where one partition is required (use a hash tag).
	ErrCrossPartition = errors.New("keys in different partitions (use a {hash tag} to keep them together)")
)

// Outcome is a row of DESIGN.md's error table.
type Outcome int

const (
	Done          Outcome = iota
	NotApplied            // certainly not applied; retry is safe
	Indeterminate         // outcome unknown
	Invalid               // too large, malformed
	NoSpace               // disk nearly full
)

// OutcomeOf classifies an error from a Backend.
func OutcomeOf(err error) Outcome {
	var nl *replica.ErrNotLeader
	switch {
	case err == nil:
		return Done
	case errors.Is(err, ErrNoSpace):
		return NoSpace
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrInvalid), errors.Is(err, ErrCrossPartition),
		errors.Is(err, kv.ErrMalformed):
		return Invalid
	case errors.As(err, &nl), errors.Is(err, replica.ErrNotApplied), errors.Is(err, replica.ErrMembershipChange),
		errors.Is(err, replica.ErrDiverged):
		return NotApplied
	}
	return Indeterminate // ErrIndeterminate, a broken connection, anything unknown
}

// Session numbers one client's commands to ONE partition for exactly-once
// (DESIGN.md, The flow of a write): Begin hands out the next sequence number
// and the lowest one still unanswered; End marks a sequence answered (or
// abandoned). Each partition's group keeps its own window per client, so a
// client uses one Session per partition under one client ID (a group that
// first hears of a client with lowest-unacknowledged above 1 answers
// SessionExpired). Safe for concurrent use.
type Session struct {
	Client uint64
	mu     struct {
		sync.Mutex
		next    uint64
		pending map[uint64]struct{}
		low     uint64
	}
}

// NewSession starts a session for client.
func NewSession(client uint64) *Session {
	s := &Session{Client: client}
	s.mu.next, s.mu.low = 1, 1
	s.mu.pending = make(map[uint64]struct{})
	return s
}

// Begin returns the next sequence number and the lowest unanswered one.
func (s *Session) Begin() (seq, lowUnacked uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq = s.mu.next
	s.mu.next++
	s.mu.pending[seq] = struct{}{}
	return seq, s.lowLocked()
}

// End marks seq answered or abandoned.
func (s *Session) End(seq uint64) {
	s.mu.Lock()
	delete(s.mu.pending, seq)
	s.mu.Unlock()
}

func (s *Session) lowLocked() uint64 {
	for s.mu.low < s.mu.next {
		if _, ok := s.mu.pending[s.mu.low]; ok {
			break
		}
		s.mu.low++
	}
	return s.mu.low
}

// Route is what the node notes about how it served a request: the node
// whose replica led the partition and applied a write. A door that wants
// it (the gRPC Batch stream tells clients) attaches one with WithRoute.
type Route struct {
	Leader string
}

type routeKey struct{}

// WithRoute returns ctx carrying a fresh Route for the backend to fill in.
func WithRoute(ctx context.Context) (context.Context, *Route) {
	r := &Route{}
	return context.WithValue(ctx, routeKey{}, r), r
}

// RouteFrom returns the Route ctx carries, or nil.
func RouteFrom(ctx context.Context) *Route {
	r, _ := ctx.Value(routeKey{}).(*Route)
	return r
}
