package apitest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/kv/kvtest"
	"github.com/cairnkv/cairn/internal/replica"
)

// Backend implements api.Backend on in-memory kv state machines, one per
// partition (kvtest.Group).
type Backend struct {
	P       int
	Lim     api.Limits
	Clock   func() time.Time
	NoSpace atomic.Bool // set to refuse writes as below the free-disk floor

	mu      sync.Mutex // orders the entries of every partition
	groups  []*kvtest.Group
	clients atomic.Uint64
}

// bootstrapIndex is where each partition's applied index starts.
const bootstrapIndex = 10

// New returns a Backend with p partitions.
func New(p int) *Backend {
	b := &Backend{P: p, Lim: api.DefaultLimits, Clock: time.Now}
	for i := range p {
		b.groups = append(b.groups, kvtest.NewGroup(uint64(replica.GroupOf(i))))
	}
	// Each partition starts as an engine's bootstrap leaves it: applied
	// at index 10, so that versions start at 11 (kv applies the next index
	// only).
	for _, g := range b.groups {
		if err := g.SeedApplied(bootstrapIndex); err != nil {
			panic(err) // an in-memory store fails only once closed
		}
	}
	return b
}

func (b *Backend) Partitions() int { return b.P }

// Partition implements the hash-tag rule of DESIGN.md.
func (b *Backend) Partition(key []byte) int { return cluster.PartitionOf(key, b.P) }

func (b *Backend) Propose(ctx context.Context, p int, cmd kv.Command) (kv.Reply, error) {
	if b.NoSpace.Load() {
		return kv.Reply{}, api.ErrNoSpace
	}
	if err := ctx.Err(); err != nil {
		return kv.Reply{}, replica.ErrNotApplied
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.groups[p]
	applied, err := g.Applied()
	if err != nil {
		return kv.Reply{}, err
	}
	res, err := g.Apply(kv.Entry{Index: applied + 1, Term: 1, Time: b.Clock().UnixNano(), Data: cmd.Encode()})
	if err != nil {
		return kv.Reply{}, err
	}
	return kv.DecodeResult(res)
}

func (b *Backend) Read(ctx context.Context, p int, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	return b.groups[p].Eval(q)
}

func (b *Backend) NewClientID() uint64 { return b.clients.Add(1) }

// Replicated implements api.Backend: the fake has one replica per
// partition, so none other holds anything; it answers 0 at once when need
// is 0, else when ctx ends.
func (b *Backend) Replicated(ctx context.Context, p int, need int) (int, error) {
	if p < 0 || p >= b.P {
		return 0, fmt.Errorf("%w: partition %d out of range", api.ErrInvalid, p)
	}
	if need > 0 {
		<-ctx.Done()
	}
	return 0, nil
}
func (b *Backend) Limits() api.Limits { return b.Lim }
func (b *Backend) Now() time.Time     { return b.Clock() }

var _ api.Backend = (*Backend)(nil)

// Cluster reports a one-node cluster holding every partition.
func (b *Backend) Cluster() api.ClusterView {
	applied := make([]uint64, b.P)
	for p, g := range b.groups {
		applied[p], _ = g.Applied() // in memory: never fails
	}
	v := api.ClusterView{ClusterID: "00000000000000000000000000000001", Node: "test", Time: b.Clock(),
		Settings: api.SettingsView{Partitions: b.P, Replicas: 1, Engine: "raft", Hash: "xxhash64", VNodes: 128, LoadFactor: 1.25},
		Nodes:    []api.NodeView{{Name: "test", State: "up", Capacity: 1}}}
	for p := range b.P {
		v.Partitions = append(v.Partitions, api.PartitionView{Partition: p, Group: uint64(replica.GroupOf(p)), MembershipVersion: 1,
			Term: 1, Leader: "test", Replicas: []string{"test"}, Voters: []string{"test"}, Learners: []string{},
			VotersOutgoing: []string{}, Local: &api.LocalView{Role: "leader", Applied: applied[p], Commit: applied[p]}})
	}
	return v
}

// Ready reports every check passing unless NotReady is set.
func (b *Backend) Ready() []api.Check {
	return []api.Check{{Name: "storage", OK: true}, {Name: "caught-up", OK: true}, {Name: "clock", OK: true}}
}

// Sweep proposes the deletes of every key whose deadline has passed, as a
// leader's sweep would (the real one runs every 100ms).
func (b *Backend) Sweep() error {
	for p := range b.P {
		cmds := b.groups[p].Due(b.Clock().UnixNano(), 1000)
		for _, c := range cmds {
			cmd, err := kv.DecodeCommand(c)
			if err != nil {
				return err
			}
			if _, err := b.Propose(context.Background(), p, cmd); err != nil {
				return err
			}
		}
	}
	return nil
}
