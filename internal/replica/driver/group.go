package driver

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// proposal is one command on its way through the log.
type proposal struct {
	id    uint64
	data  []byte       // framed normal entry; nil for a membership change
	cc    *Change      // membership change, or nil
	state atomic.Int32 // proposalQueued → proposalInCore → proposalDone
	// index and term of the entry the core appended for it (leader only), so
	// that another entry applied at that index proves it lost.
	index, term uint64
	done        func(result []byte, index uint64, err error)
}

const (
	proposalQueued int32 = iota
	proposalInCore
	proposalDone
)

func (p *proposal) finish(result []byte, index uint64, err error) {
	if p.state.Swap(proposalDone) == proposalDone {
		return
	}
	p.done(result, index, err)
}

// readReq is a read waiting for a safe index.
type readReq struct {
	mode  replica.ReadMode
	done  func(error) // called once: nil once applied >= index
	index uint64
	tick  int // when its ReadIndex was issued
	start time.Time
}

// snapReq is a received snapshot waiting for its core to accept it.
type snapReq struct {
	msg  []byte // the engine's snapshot message
	from replica.ReplicaID
	at   SnapshotPoint
	kvs  [][2][]byte
	done func(error) // called once (from a round: with the group locked)
}

type report struct {
	to      replica.ReplicaID
	snap    bool
	success bool
}

// group is one local replica of a group, of any engine.
type group struct {
	h   *Host
	eng CoreEngine
	gid replica.GroupID
	id  replica.ReplicaID
	sm  replica.StateMachine

	// sched is the group's place in h.sched, which alone touches it.
	sched Slot

	// Inputs queued by any goroutine for the next round.
	in struct {
		sync.Mutex
		msgs      []inMsg
		props     []*proposal
		reads     []*readReq
		snaps     []*snapReq
		reports   []report
		transfers []replica.ReplicaID
		ticks     int
		closed    bool
	}
	// Nodes of replicas learned from inbound messages, for an uninitialised
	// replica that has no descriptor yet.
	peers sync.Map // replica.ReplicaID → string

	applied atomic.Uint64 // Invariant: applied <= commit.
	leader  atomic.Uint64
	// logBytes is the core's LogSize as of the end of its last round,
	// for the cairn_raft_log_bytes gauge, which reads it without the
	// group's lock (a core's own counters change under it).
	logBytes atomic.Uint64
	initd    atomic.Bool
	// gone is set before a removed replica's data is deleted; a read checks
	// it after taking its view, so it never answers from deleted data.
	gone atomic.Bool
	// destroying serialises the destroys of this replica (see destroy).
	destroying struct {
		sync.Mutex
		done bool
	}

	// The rest is owned by whoever holds mu: one scheduler worker per round.
	mu   sync.Mutex
	core Core
	desc replica.Descriptor
	held []*proposal // not yet accepted by the core (no leader yet)
	// confThisRound are membership changes handed to the core in this round; their
	// entries must appear in this round's Ready, or the core refused them.
	confThisRound []*proposal
	inflight      map[uint64]*proposal
	byIndex       map[uint64]*proposal
	readsIssued   map[uint64][]*readReq
	readsWait     []*readReq
	readCtr       uint64
	ticks         int
	leaderSince   int // the tick at which the current leader was first seen
	// caughtUpAt is, on a leader, the tick at which each follower was last
	// caught up (PeerProgress.LagSeconds); nil on a follower.
	caughtUpAt map[replica.ReplicaID]int
	// leaderMoved is set when a Ready shows a new leader: ReadIndex
	// requests in flight at the old one are lost, so the next round
	// issues them again rather than waiting for onTick's timeout.
	leaderMoved bool
	lastSweep   int
	sweeping    atomic.Int32
	pendingSnap *snapReq
	removed     bool
	closed      bool
	// cc is the replica's part in consistency checks (consistency.go).
	cc checkState
}

func newGroup(h *Host, gid replica.GroupID, id replica.ReplicaID) (*group, error) {
	g := &group{
		h:           h,
		eng:         h.engineOf(gid),
		gid:         gid,
		id:          id,
		sm:          h.cfg.NewStateMachine(gid),
		inflight:    make(map[uint64]*proposal),
		byIndex:     make(map[uint64]*proposal),
		readsIssued: make(map[uint64][]*readReq),
		// A random start: a read-index answer addressed to an earlier
		// incarnation of this replica never matches a new read.
		readCtr: rand.Uint64(),
	}
	if err := g.loadDescriptor(h.store); err != nil {
		return nil, err
	}
	var applied storage.AppliedState
	if raw, err := h.store.Get(storage.AppliedKey(uint64(gid))); err == nil {
		if applied, err = storage.DecodeAppliedState(raw); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	g.applied.Store(applied.Index)
	if err := g.cc.load(h.store, gid); err != nil {
		return nil, err
	}
	core, err := g.eng.NewCore(CoreConfig{
		Store:          h.store,
		Group:          gid,
		Replica:        id,
		Applied:        applied.Index,
		Conf:           ConfOf(g.desc),
		ElectionTicks:  h.cfg.ElectionTicks,
		HeartbeatTicks: h.cfg.HeartbeatTicks,
		Logger:         h.log.With("group", gid, "replica", id),
		ConfigStore:    h.cfg.ConfigStore,
		Post:           func(msg []byte) { g.enqueueMessage(id, msg) },
	})
	if err != nil {
		return nil, err
	}
	g.core = core
	return g, nil
}

// inMsg is a peer message queued for the next round.
type inMsg struct {
	from    replica.ReplicaID
	payload []byte
}

func (g *group) loadDescriptor(v storage.View) error {
	raw, err := v.Get(storage.DescriptorKey(uint64(g.gid)))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	d, err := replica.DecodeDescriptor(raw)
	if err != nil {
		return err
	}
	g.desc = d
	g.initd.Store(true)
	return nil
}

func (g *group) initialized() bool { return g.initd.Load() }

// nodeOf names the node hosting replica id.
func (g *group) nodeOf(id replica.ReplicaID) string {
	if m, ok := g.desc.Replica(id); ok {
		return m.Node
	}
	if n, ok := g.peers.Load(id); ok {
		return n.(string)
	}
	return ""
}

// enqueue adds input under in.mu and schedules the group; false once closed.
func (g *group) enqueue(f func()) bool {
	g.in.Lock()
	if g.in.closed {
		g.in.Unlock()
		return false
	}
	f()
	g.in.Unlock()
	g.h.schedule(g)
	return true
}

func (g *group) enqueueMessage(from replica.ReplicaID, payload []byte) {
	g.enqueue(func() { g.in.msgs = append(g.in.msgs, inMsg{from, payload}) })
}

func (g *group) addTick() { g.enqueue(func() { g.in.ticks++ }) }

func (g *group) reportUnreachable(node string) {
	g.mu.Lock()
	var ids []replica.ReplicaID
	for _, m := range g.desc.Replicas {
		if m.Node == node {
			ids = append(ids, m.ID)
		}
	}
	g.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	g.enqueue(func() {
		for _, id := range ids {
			g.in.reports = append(g.in.reports, report{to: id})
		}
	})
}

// shutdown fails everything pending with err and stops accepting input.
func (g *group) shutdown(err error) {
	g.gone.Store(true)
	g.in.Lock()
	g.in.closed = true
	props, reads, snaps := g.in.props, g.in.reads, g.in.snaps
	g.in.props, g.in.reads, g.in.snaps = nil, nil, nil
	g.in.Unlock()
	g.mu.Lock()
	g.closed = true
	props = append(props, g.held...)
	for _, p := range g.inflight {
		props = append(props, p)
	}
	for _, rs := range g.readsIssued {
		reads = append(reads, rs...)
	}
	reads = append(reads, g.readsWait...)
	if g.pendingSnap != nil {
		snaps = append(snaps, g.pendingSnap)
	}
	g.held, g.inflight, g.byIndex, g.readsIssued, g.readsWait, g.pendingSnap = nil, nil, nil, nil, nil, nil
	g.mu.Unlock()
	for _, p := range props {
		if p.state.Load() == proposalQueued {
			p.finish(nil, 0, &replica.ErrNotLeader{Group: g.gid})
		} else {
			p.finish(nil, 0, fmt.Errorf("%w: %w", replica.ErrIndeterminate, err))
		}
	}
	for _, r := range reads {
		r.done(err)
	}
	for _, s := range snaps {
		s.done(err)
	}
}

// Close implements replica.Group. It stops this replica only; the host
// keeps running.
func (g *group) Close() error {
	g.h.removeGroup(g, true)
	g.shutdown(replica.ErrStopped)
	return nil
}
