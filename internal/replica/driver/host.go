package driver

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// Host runs every replica of one node, of every engine: one ticker, a small pool of
// scheduler workers, one synced log commit per round across all groups that
// have something to persist. It is the transport's Handler for the node.
type Host struct {
	cfg     Config
	store   storage.Store
	log     *slog.Logger
	metrics *metrics

	tr transport.Transport // set by Start; read-only after

	// snapRate paces outgoing snapshot chunks (Config.SnapshotRate); nil
	// when unlimited.
	snapRate *TokenBucket
	// deferredSnaps are snapshots for Config.SnapshotSender that snapRate
	// did not allow yet, in the order they were taken; Tick hands over
	// those whose time came.
	deferredSnaps struct {
		sync.Mutex
		list []deferredSnapshot
	}

	mu struct {
		sync.Mutex
		groups map[replica.GroupID]*group
		// closedGroups are groups whose replica was closed by Close on this
		// host: no message may recreate them from what is on disk while
		// this process runs (the closed replica's last votes may not be).
		closedGroups map[replica.GroupID]bool
		closed       bool
	}

	// sched queues the groups with work, each at most once, and runs
	// rounds over them: on its workers, or when a Manual host's caller
	// calls RunRound.
	sched *Scheduler[*group]

	// stamps gives the leader's stamps for entries and the expiry sweep's
	// time: one clock for every group of the host.
	stamps *StampClock

	// digestMu lets one consistency-check digest run at a time (consistency.go).
	digestMu sync.Mutex

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewHost opens every group found in cfg.Store. Call Start to run it.
func NewHost(cfg Config) (*Host, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Host{
		cfg:     cfg,
		store:   cfg.Store,
		log:     cfg.Logger,
		metrics: newMetrics(cfg.Registry),
		stamps:  NewStampClock(cfg.Clock),
		stop:    make(chan struct{}),
	}
	h.mu.groups = make(map[replica.GroupID]*group)
	h.mu.closedGroups = make(map[replica.GroupID]bool)
	if cfg.SnapshotRate > 0 {
		h.snapRate = NewTokenBucket(cfg.SnapshotRate, int64(cfg.SnapshotChunkSize), cfg.Clock.Monotonic)
	}
	h.registerGauges(cfg.Registry)
	h.sched = NewScheduler(SchedulerConfig[*group]{
		Round:        h.runRound,
		Tick:         h.Tick,
		Workers:      cfg.Workers,
		Clock:        cfg.Clock,
		TickInterval: cfg.TickInterval,
	})
	ids, err := h.storedGroups()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if g, err := h.openGroup(id); err != nil {
			return nil, fmt.Errorf("driver: open group %d: %w", id, err)
		} else if g == nil {
			continue // a removed replica, deleted now
		}
	}
	return h, nil
}

// Start connects the host to its transport and, unless Manual, starts the
// ticker and the workers.
func (h *Host) Start(tr transport.Transport) {
	h.tr = tr
	if h.cfg.Manual {
		return
	}
	h.sched.Start()
}

// Close stops every group and goroutine. It does not close the store or
// the transport, which the caller owns.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return nil
	}
	h.mu.closed = true
	groups := make([]*group, 0, len(h.mu.groups))
	for _, g := range h.mu.groups {
		groups = append(groups, g)
	}
	h.mu.Unlock()
	close(h.stop)
	h.sched.Close()
	h.wg.Wait()
	h.deferredSnaps.Lock()
	h.deferredSnaps.list = nil // never handed over: their groups stop below
	h.deferredSnaps.Unlock()
	for _, g := range groups {
		g.shutdown(replica.ErrStopped)
	}
	return nil
}

// Group returns the local replica of group id.
func (h *Host) Group(id replica.GroupID) (replica.Group, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g, ok := h.mu.groups[id]
	if !ok || !g.initialized() {
		return nil, false
	}
	return g, true
}

// Groups lists the groups hosted here.
func (h *Host) Groups() []replica.GroupID {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]replica.GroupID, 0, len(h.mu.groups))
	for id := range h.mu.groups {
		ids = append(ids, id)
	}
	return ids
}

// Bootstrap writes the initial state of a group that this node founds, the
// same bytes on every founder (DESIGN.md, Identity): the descriptor, a log
// that starts after index 10 at term 5, and whatever seed writes into the
// replicated state. A group already present is left alone.
func (h *Host) Bootstrap(desc replica.Descriptor, seed func(storage.Batch) error) error {
	id := desc.Group
	if h.tr != nil {
		// A message may already have created an uninitialised replica
		// whose hard state would overwrite the bootstrap's.
		return fmt.Errorf("driver: bootstrap group %d: the host has started; bootstrap before Start", id)
	}
	if _, ok := desc.ReplicaOn(h.cfg.Node); !ok {
		return fmt.Errorf("driver: bootstrap group %d: descriptor does not name node %s", id, h.cfg.Node)
	}
	if _, err := h.store.Get(storage.DescriptorKey(uint64(id))); err == nil {
		_, err := h.openGroup(id)
		return err
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	b := h.store.NewBatch()
	defer b.Close()
	if seed != nil {
		if err := seed(b); err != nil {
			return fmt.Errorf("driver: bootstrap group %d: seed: %w", id, err)
		}
	}
	desc.Version = max(desc.Version, 1)
	if err := b.Set(storage.DescriptorKey(uint64(id)), desc.Encode(nil)); err != nil {
		return err
	}
	if err := h.engineOf(id).Bootstrap(b, desc); err != nil {
		return err
	}
	if err := b.Commit(true); err != nil {
		return err
	}
	_, err := h.openGroup(id)
	return err
}

// engineOf is the engine that runs group id: the meta group's, or the
// cluster's.
func (h *Host) engineOf(id replica.GroupID) CoreEngine {
	if id == 0 {
		return h.cfg.MetaEngine
	}
	return h.cfg.Engine
}

// storedGroups lists the groups with a descriptor in the store.
func (h *Host) storedGroups() ([]replica.GroupID, error) {
	var ids []replica.GroupID
	it, err := h.store.NewIter([]byte("/r/"), []byte("/r0"))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; {
		k := it.Key()
		if len(k) < 11 {
			ok = it.Next()
			continue
		}
		g := binary.BigEndian.Uint64(k[3:11])
		if _, err := h.store.Get(storage.DescriptorKey(g)); err == nil {
			ids = append(ids, replica.GroupID(g))
		}
		if g == ^uint64(0) {
			break
		}
		next, _ := storage.ReplicatedSpan(g + 1)
		ok = it.SeekGE(next)
	}
	return ids, it.Error()
}

// openGroup opens a stored, initialised group.
func (h *Host) openGroup(id replica.GroupID) (*group, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g, ok := h.mu.groups[id]; ok {
		return g, nil
	}
	raw, err := h.store.Get(storage.DescriptorKey(uint64(id)))
	if err != nil {
		return nil, err
	}
	desc, err := replica.DecodeDescriptor(raw)
	if err != nil {
		return nil, err
	}
	m, ok := desc.ReplicaOn(h.cfg.Node)
	if !ok {
		// The removal of our replica was applied, but the process stopped
		// before its data was deleted: finish the job.
		h.log.Info("finishing the removal of a replica removed before a restart", "group", id)
		return nil, destroyData(h.store, id, max(desc.NextReplicaID, 1))
	}
	g, err := newGroup(h, id, m.ID)
	if err != nil {
		return nil, err
	}
	h.mu.groups[id] = g
	return g, nil
}

// tombstone returns the lowest replica ID this node may accept for group id.
// LocalReplica returns the local replica of group id, whether or not it
// is initialised yet (an uninitialised one waits for a snapshot; Group
// does not return it).
func (h *Host) LocalReplica(id replica.GroupID) (rid replica.ReplicaID, initialised, ok bool) {
	h.mu.Lock()
	g, ok := h.mu.groups[id]
	h.mu.Unlock()
	if !ok {
		return 0, false, false
	}
	return g.id, g.initialized(), true
}

// Tombstone returns the lowest replica ID of group id this node may still
// host (0: none removed here): a message for a lower one is dropped.
func (h *Host) Tombstone(id replica.GroupID) (replica.ReplicaID, error) { return h.tombstone(id) }

func (h *Host) tombstone(id replica.GroupID) (replica.ReplicaID, error) {
	raw, err := h.store.Get(storage.TombstoneKey(uint64(id)))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	v, n := binary.Uvarint(raw)
	if n <= 0 {
		return 0, fmt.Errorf("driver: group %d: malformed tombstone", id)
	}
	return replica.ReplicaID(v), nil
}

// groupFor returns the replica a message to (id, to) is for, creating an
// uninitialised one when the group is unknown here and to is at or above
// its tombstone. A message to a higher replica ID than the local one proves
// the local replica was removed (IDs are never reused): it is destroyed and
// the new one created. It returns nil when the message must be dropped.
func (h *Host) groupFor(id replica.GroupID, to replica.ReplicaID) *group {
	for {
		h.mu.Lock()
		g, ok := h.mu.groups[id]
		stop := h.mu.closed || h.mu.closedGroups[id]
		h.mu.Unlock()
		if stop {
			return nil
		}
		if ok {
			switch {
			case g.id == to:
				return g
			case g.id > to:
				return nil // a message for an older replica of ours: drop
			}
			h.log.Info("a message names a newer replica of ours: the local one was removed", "group", id,
				"replica", g.id, "newer", to)
			g.destroy(to)
			continue
		}
		tomb, err := h.tombstone(id)
		if err != nil {
			h.log.Error("reading tombstone", "group", id, "err", err)
			return nil
		}
		if to < tomb {
			return nil // a message for a removed replica: never resurrect it
		}
		h.mu.Lock()
		if _, ok := h.mu.groups[id]; ok || h.mu.closed || h.mu.closedGroups[id] {
			h.mu.Unlock()
			continue
		}
		g, err = newGroup(h, id, to)
		if err != nil {
			h.mu.Unlock()
			h.log.Error("creating uninitialised replica", "group", id, "replica", to, "err", err)
			return nil
		}
		h.mu.groups[id] = g
		h.mu.Unlock()
		h.log.Info("created uninitialised replica on an inbound message", "group", id, "replica", to)
		return g
	}
}

// RemoveStale removes the local replica of desc.Group if desc, a committed
// descriptor of the group learned from another node (its leader), proves
// it was removed while this node was away: desc is newer than the local
// replica's descriptor (an uninitialised replica counts as version 0) and
// does not name it. The replica is then destroyed as one whose removal was
// applied is (data deleted, a synced tombstone of at least
// desc.NextReplicaID) and removed is true. Otherwise nothing changes.
//
// A replica desc names is never removed, nor one desc is not newer than.
// Nor is a replica whose ID desc does not know yet (desc.NextReplicaID is
// not above it): an uninitialised replica that the leader's messages just
// created for a newer learner than desc has. When desc names a newer
// replica on this node, the tombstone stops below it, so that replica can
// still be created (as a message to it would do). A desc that names the
// local replica's ID on another node, or an older replica on this one,
// contradicts what this node knows: nothing changes and err says why.
//
// It is safe to call at any time; a round, or a message naming a newer
// replica, may remove the same replica at the same time, in which case one
// of them does it and RemoveStale may return false.
func (h *Host) RemoveStale(desc replica.Descriptor) (removed bool, err error) {
	id := desc.Group
	if len(desc.Voters) == 0 {
		// A committed descriptor always has a voter: this one is partial,
		// and proves nothing about who was removed.
		return false, fmt.Errorf("driver: group %d: descriptor version %d has no voters", id, desc.Version)
	}
	h.mu.Lock()
	g, ok := h.mu.groups[id]
	closed := h.mu.closed
	h.mu.Unlock()
	if closed {
		return false, replica.ErrStopped
	}
	if !ok {
		return false, nil
	}
	g.mu.Lock()
	local := g.desc.Version // 0 while uninitialised
	g.mu.Unlock()
	if desc.Version <= local || desc.NextReplicaID <= g.id {
		return false, nil
	}
	tomb := desc.NextReplicaID
	if m, ok := desc.Replica(g.id); ok {
		if m.Node == h.cfg.Node {
			return false, nil
		}
		return false, fmt.Errorf("driver: group %d: descriptor version %d puts replica %d on node %s, but it is ours (node %s)",
			id, desc.Version, g.id, m.Node, h.cfg.Node)
	}
	if m, ok := desc.ReplicaOn(h.cfg.Node); ok {
		if m.ID < g.id {
			return false, fmt.Errorf("driver: group %d: descriptor version %d names replica %d on node %s, older than the local replica %d",
				id, desc.Version, m.ID, h.cfg.Node, g.id)
		}
		tomb = m.ID // the newer replica may still be created here
	}
	// NB: no need to hold g.mu from the check to the destroy. Once a
	// committed descriptor leaves g.id out, every later one does too
	// (replica IDs are never reused), so nothing a round applies meanwhile
	// can make the decision wrong.
	if !g.destroy(tomb) {
		return false, nil
	}
	h.log.Info("removed a replica that a newer descriptor no longer names", "group", id, "replica", g.id,
		"local_version", local, "version", desc.Version)
	return true, nil
}

// removeGroup forgets a group whose replica was removed or closed; a closed
// one stays closed for the life of the host.
func (h *Host) removeGroup(g *group, closed bool) {
	h.mu.Lock()
	if h.mu.groups[g.gid] == g {
		delete(h.mu.groups, g.gid)
	}
	if closed {
		h.mu.closedGroups[g.gid] = true
	}
	h.mu.Unlock()
}

// HandleMessages implements transport.Handler.
func (h *Host) HandleMessages(from string, msgs []transport.Message) {
	for _, m := range msgs {
		if m.Kind == transport.KindDriver {
			h.handleDriverMessage(m)
			continue
		}
		g := h.groupFor(replica.GroupID(m.Group), replica.ReplicaID(m.To))
		if g == nil {
			continue
		}
		g.peers.Store(replica.ReplicaID(m.From), from)
		g.enqueueMessage(replica.ReplicaID(m.From), m.Payload)
	}
}

// ReportUnreachable implements transport.Handler.
func (h *Host) ReportUnreachable(node string) {
	h.mu.Lock()
	groups := make([]*group, 0, len(h.mu.groups))
	for _, g := range h.mu.groups {
		groups = append(groups, g)
	}
	h.mu.Unlock()
	for _, g := range groups {
		g.reportUnreachable(node)
	}
}

// HandleSnapshot implements transport.Handler.
func (h *Host) HandleSnapshot(ctx context.Context, from string, header []byte, next func() ([]byte, error)) error {
	ch := make(chan error, 1)
	h.HandleSnapshotAsync(from, header, next, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HandleSnapshotAsync is HandleSnapshot for a caller that cannot block: the
// simulation (package sim), which runs every node in one goroutine. It
// reads the whole stream at once and calls done exactly once with what
// HandleSnapshot would return: before it returns when the snapshot is
// refused outright, else from the round that settles it (with the group
// locked: done must record the outcome and return).
func (h *Host) HandleSnapshotAsync(from string, header []byte, next func() ([]byte, error), done func(error)) {
	h.receiveSnapshot(from, header, next, done)
}

// schedule queues g for the next round unless it is queued already (or
// running: then it is queued again when its round ends).
func (h *Host) schedule(g *group) { h.sched.Schedule(g) }

// Slot is the group's place in the host's scheduler.
func (g *group) Slot() *Slot { return &g.sched }

// Tick advances every group by one logical tick, and hands Config.SnapshotSender
// the snapshots that the snapshot rate now allows.
func (h *Host) Tick() {
	h.sendDeferredSnapshots()
	h.mu.Lock()
	groups := make([]*group, 0, len(h.mu.groups))
	for _, g := range h.mu.groups {
		groups = append(groups, g)
	}
	h.mu.Unlock()
	// NB: in group order, not the map's, so that the groups of the next
	// round queue in the same order every time: raft draws every group's
	// election timeout from one process-wide random source, so a
	// simulation replays a seed only if the groups draw in the same order.
	slices.SortFunc(groups, func(a, b *group) int { return cmp.Compare(a.gid, b.gid) })
	for _, g := range groups {
		g.addTick()
	}
}

// RunRound runs one scheduler round over every queued group and reports
// whether there was any work. For Manual hosts.
func (h *Host) RunRound() bool { return h.sched.RunRound() }

// now is the leader's stamp for entries and the time the expiry sweep
// judges deadlines by (StampClock: never backwards, catching up
// with a wall clock that stepped forward at most 10% faster than real
// time).
func (h *Host) now() int64 { return h.stamps.Now() }

func (h *Host) fatal(err error) { h.cfg.Fatal(err) }

var _ transport.Handler = (*Host)(nil)

// sleepTicks is how long a waiter backs off before looking again.
func (h *Host) sleepTicks(n int) time.Duration { return time.Duration(n) * h.cfg.TickInterval }

// registerGauges adds the gauges computed at scrape time from the groups.
func (h *Host) registerGauges(r prometheus.Registerer) {
	sum := func(f func(g *group) float64) func() float64 {
		return func() float64 {
			h.mu.Lock()
			defer h.mu.Unlock()
			var s float64
			for _, g := range h.mu.groups {
				s += f(g)
			}
			return s
		}
	}
	r.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_raft_groups", Help: "Replicas hosted by this node."},
			sum(func(*group) float64 { return 1 })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_raft_groups_led", Help: "Groups this node leads."},
			sum(func(g *group) float64 {
				if g.leader.Load() == uint64(g.id) {
					return 1
				}
				return 0
			})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_raft_log_bytes", Help: "Size of the untruncated Raft logs of every local replica."},
			sum(func(g *group) float64 { return float64(g.logBytes.Load()) })),
	)
}

var _ replica.ManualHost = (*Host)(nil)
