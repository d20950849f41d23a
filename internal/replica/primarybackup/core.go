package primarybackup

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// Limits of one core, in entries (the driver bounded each command already).
const (
	// maxUncommitted is how far a primary's log may run ahead of its
	// commit before it drops proposals (the driver retries them).
	maxUncommitted = 4096
	// maxEntriesPerMsg bounds the entries of one append.
	maxEntriesPerMsg = 256
	// maxCommittedPerReady bounds a Ready's Committed.
	maxCommittedPerReady = 4096
)

// broken holds deliberately broken modes, set only by tests, each of which
// a test shows is caught (broken_test.go).
var broken struct {
	ackBeforeAll   bool // commit once the primary's own write is durable, not every in-sync member's
	dropAfterAck   bool // count a silent backup out of the in-sync set before the store wrote it
	promoteOutside bool // a backup outside the in-sync set may ask for the next epoch
	oldCommits     bool // a primary keeps committing with the acks of members that moved to a newer epoch
	earlyReads     bool // a primary answers reads before it took office
	admitWhileAck  bool // commit while the write adding a backup to the in-sync set is in flight
	asyncNoLease   bool // async mode: accept and commit writes after the primary's lease ran out
	// async mode: a replica whose applied entries a newer primary's log
	// superseded cuts them and catches up from the log, keeping their
	// effects in its state (no rebuild from a snapshot)
	rollbackInPlace bool
	// async mode: a replica refuses no snapshot it holds the point of by
	// its commit index alone, never checking the epoch there (the
	// divergence check of a snapshot)
	noSnapDivergence bool
	// no catch-up barrier (TestRejoinUnderLoad shows the cost: a backup
	// never rejoins the in-sync set under unbroken load)
	noBarrier bool
}

var errUnknownReplica = errors.New("primarybackup: message from a replica not in the configuration")

// Mode is when an entry commits (--pb-mode).
type Mode uint8

const (
	// ModeSync (the default): once every in-sync member holds it durably.
	ModeSync Mode = iota
	// ModeAsync: on the primary's own fsync; backups follow.
	ModeAsync
)

func (m Mode) String() string {
	if m == ModeAsync {
		return "async"
	}
	return "sync"
}

// Options are the engine's settings (the cluster's --pb-* flags, stored at
// creation).
type Options struct {
	// Mode: sync (the default) or async.
	Mode Mode
	// MaxLagTicks (async mode, --pb-max-lag): the primary refuses writes
	// when no backup answered within it. Default 10 election timeouts
	// (10 s at the default timing).
	MaxLagTicks int
	// MinInSync is the fewest in-sync members (the primary among them)
	// under which the primary refuses writes as not applied. Default
	// min(2, R): one backup must hold every acknowledged write, so the
	// loss of one node loses nothing.
	MinInSync int
	// LeaseTicks is the primary's lease, in ticks (--pb-lease): it renews
	// it through the meta group four times a lease, and a backup asks for
	// the next epoch only after the record stayed unrenewed for a whole
	// lease by its own ticks. Default 3 election timeouts (3 s at the
	// default timing, the --pb-lease default).
	LeaseTicks int
	// Rollbacks receives, durably, what a replica rolls back in async mode
	// before it is discarded (FileRollbacks: the node's data directory's
	// rollback file). Default nil: each rollback is logged at error level
	// only.
	Rollbacks RollbackLog
}

// role is what a replica does in its group.
type role uint8

const (
	roleBackup role = iota
	rolePrimary
)

// Core is one replica of a primary-backup group: a driver.Core (doc.go).
//
// It keeps the log above the truncated point in memory, as Paxos's does,
// so a primary re-sends and re-syncs without reading the store.
type Core struct {
	group  uint64
	id     replica.ReplicaID
	logger *slog.Logger
	rng    *rand.Rand
	opts   Options

	electionTicks, heartbeatTicks int

	// Durable state, as staged (hardState and the log).
	// Invariant: trunc.Index <= commit <= lastIndex(); every entry in
	// (trunc.Index, commit] is committed: on every in-sync member.
	epoch     uint64
	commit    uint64
	trunc     storage.LogPoint
	truncHash uint64
	entries   []*entry // entries[i] is index trunc.Index+1+i
	logSize   uint64
	history   []epochStart
	// rebuild, when not 0, is where this replica's log diverged from a
	// newer primary's below what it applied (async mode): it answers
	// every append asking for a snapshot, and takes the next one whatever
	// its commit index, which rebuilds its state. Durable.
	rebuild uint64
	// rec and recVersion: the configuration as last known. recVersion 0:
	// the founding record, not in the store yet.
	rec        Record
	recVersion uint64

	conf driver.Conf // the descriptor's configuration (voters: the replicas)
	// confApplied is the index of the last entry applied (ApplyChange) or
	// below: an EntryChange above it is pending.
	confApplied uint64

	role                                       role
	primary                                    replica.ReplicaID // as this replica believes; 0: none known
	electionElapsed, heartbeatElapsed, timeout int

	// The configuration store: at most one call in flight (op).
	op      *storeOp
	opSeq   uint64
	storeQ  []storeCall // calls for the shell to make (Ready.Engine)
	waitAlt bool        // a failover deferred once to a member with a higher offset
	// watch is a backup's observation of the primary's lease: the record's
	// version it read (watching) and the ticks since. A failover goes
	// ahead only when a read a whole lease later finds the same version.
	watching   bool
	watchVer   uint64
	watchTicks int
	renewTicks int
	// ticks counts Tick calls: the core's own clock, for the lease.
	ticks int64
	// backoff: ticks before the next store call after one that failed.
	backoff int
	// rollbacks are what the replica discarded, for the next Ready (the
	// shell records them before the Ready's batch is written); rb counts
	// them.
	rollbacks []Rollback
	rb        RollbackCount
	// forced is the last forced promotion (Campaign), failover the last
	// failover this replica won, for the status.
	forced   *ForcedPromotion
	failover *Failover

	lead *primaryState

	// Outputs, collected for the next Ready.
	msgs       []driver.Message
	dirty      []uint64 // indexes of entries to stage, ascending
	cutAbove   uint64   // delete the log above this index (a divergent suffix); 0: none
	cut        bool
	hsDirty    bool
	mustSync   bool
	snapshot   *driver.SnapshotPoint
	readStates []driver.ReadState
	handedOut  uint64
	soft       driver.SoftState
}

// storeOpKind is why a configuration store call was made.
type storeOpKind uint8

const (
	opConfirm   storeOpKind = iota + 1 // a primary reads the record before taking office
	opFound                            // a founding primary writes the first record
	opShrink                           // the primary drops a silent backup from the in-sync set
	opGrow                             // the primary adds a caught-up backup to the in-sync set
	opRead                             // a backup reads the record before failover
	opFailover                         // a backup installs the next epoch with itself as primary
	opRenew                            // the primary renews its lease
	opReopen                           // a restarted primary takes a new epoch for its new tenure
	opMember                           // the primary writes a membership change's record before its entry
	opHandover                         // the primary hands over to an in-sync successor (epoch e+1)
	opForceRead                        // a forced promotion (Campaign) reads the record
	opForce                            // a forced promotion installs the next epoch with this replica primary, alone in sync
)

// storeOp is the configuration store call in flight.
type storeOp struct {
	id      uint64
	sentAt  int64 // c.ticks when it was asked for
	kind    storeOpKind
	version uint64 // the version it quoted
	rec     Record // the record it writes
	target  replica.ReplicaID
}

// storeCall is a call for the shell to make: a Get when value is nil and
// get is set, else a CompareAndSwap.
type storeCall struct {
	ID      uint64
	Get     bool
	Key     string
	Version uint64
	Value   []byte
}

// primaryState is what only a primary keeps.
type primaryState struct {
	// confirmed: the record names this replica primary at its epoch, as
	// read or written in the store; nothing is appended before.
	confirmed bool
	// officeAt is the index of the entry that opens this tenure: the
	// primary serves reads once it is committed (taking office).
	officeAt uint64
	// selfMatch is how far the primary's own log is durable.
	selfMatch uint64
	peers     map[replica.ReplicaID]*peer
	// frozen: a write adding a backup to the in-sync set is in flight;
	// nothing commits until it is answered.
	frozen bool
	// Reads: hbSeq numbers confirmation rounds.
	hbSeq     uint64
	readRound bool
	reads     []pendingRead
	// waiting are reads that came before the primary took office: their
	// index is the commit index once it has.
	waiting [][]byte
	// leaseAt is c.ticks when the last write of the record this primary
	// made (or won) was asked for: its lease runs from there (async mode
	// accepts writes only under it).
	leaseAt int64
	// transferee: a switchover to it is under way (TransferLeader);
	// proposals are refused meanwhile. transferTicks: since it began.
	transferee    replica.ReplicaID
	transferTicks int
	// barrier: the primary appends nothing (proposals wait in the driver)
	// so that this backup, close behind, can hold every entry appended
	// and rejoin the in-sync set; for at most an election timeout
	// (barrierTicks), then not again for four (barrierCool).
	barrier                   replica.ReplicaID
	barrierTicks, barrierCool int
}

type peer struct {
	match, next uint64
	// silent counts ticks since the peer last answered at this epoch.
	silent  int
	seq     uint64 // the highest confirmation round it answered
	probing bool   // next is a guess: send one append and wait
	// progressed: its match moved since the last heartbeat, so the
	// entries sent past it are arriving and the heartbeat resends none.
	progressed bool
	snapTicks  int // ticks before another snapshot may be asked; 0: none in flight
	// ahead: it answered from a newer epoch (broken.oldCommits counts it anyway).
	ahead bool
	// needSnap: it holds nothing to build on (async: it asked for one).
	needSnap bool
}

type pendingRead struct {
	ctx   []byte
	index uint64
	seq   uint64
}

// recordKey is the configuration store key of group g's record.
func recordKey(g uint64) string { return fmt.Sprintf("pb/%d", g) }

// newCore opens the core from what cfg.Store holds.
func newCore(cfg driver.CoreConfig, opts Options) (*Core, error) {
	if cfg.ElectionTicks <= cfg.HeartbeatTicks || cfg.HeartbeatTicks <= 0 {
		return nil, fmt.Errorf("primarybackup: election ticks %d must exceed heartbeat ticks %d > 0", cfg.ElectionTicks, cfg.HeartbeatTicks)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := uint64(cfg.Group)
	c := &Core{
		group: g, id: cfg.Replica, logger: logger, opts: opts,
		rng:           rand.New(rand.NewPCG(g, uint64(cfg.Replica))),
		electionTicks: cfg.ElectionTicks, heartbeatTicks: cfg.HeartbeatTicks,
		conf: cfg.Conf.Clone(),
	}
	lr := cfg.Log
	if lr == nil {
		snap := cfg.Store.NewSnapshot()
		defer snap.Close()
		lr = storage.ViewLog{View: snap}
	}
	version, b, err := lr.ReadHardState(g)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// A founding or an uninitialised replica: the record the
		// descriptor implies (the founding one), not in the store yet.
		if err := c.foundingRecord(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		hs, err := decodeHardState(version, b)
		if err != nil {
			return nil, fmt.Errorf("primarybackup: group %d: %w", g, err)
		}
		c.epoch, c.commit, c.truncHash, c.rebuild = hs.epoch, hs.commit, hs.truncHash, hs.rebuild
		c.rec, c.recVersion, c.history = hs.rec, hs.recVersion, hs.history
	}
	if c.trunc, err = lr.ReadTruncated(g); err != nil {
		return nil, err
	}
	err = lr.ScanLog(g, c.trunc.Index+1, math.MaxUint64, func(index uint64, value []byte) (bool, error) {
		e, err := decodeEntry(value)
		if err != nil {
			return false, fmt.Errorf("primarybackup: group %d: entry %d: %w", g, index, err)
		}
		if index != c.lastIndex()+1 {
			return false, fmt.Errorf("%w: group %d: entry %d after %d", errCorrupt, g, index, c.lastIndex())
		}
		c.entries = append(c.entries, e)
		c.logSize += storage.LogSlotSize(len(value))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// Applied entries are committed whatever the hard state says.
	c.commit = max(c.commit, c.trunc.Index, cfg.Applied)
	if c.commit > c.lastIndex() {
		return nil, fmt.Errorf("%w: group %d: commit %d beyond the log's last index %d", errCorrupt, g, c.commit, c.lastIndex())
	}
	c.handedOut = max(cfg.Applied, c.trunc.Index)
	c.confApplied = c.handedOut
	c.becomeBackup(c.rec.Primary)
	if c.rec.Primary == c.id && c.rec.Epoch == c.epoch && c.initialized() {
		// Primary when it stopped, or the founding primary: it confirms
		// the record before it acts (a failover may have happened).
		c.becomePrimary(false)
	}
	c.soft = driver.SoftState{State: c.state(), Leader: c.primary}
	return c, nil
}

// foundingRecord sets the record a founding descriptor implies: epoch 1,
// the first voter primary (placement's preferred leader), every voter in
// sync. The engine section, when the descriptor has one, says otherwise.
func (c *Core) foundingRecord() error {
	sec, err := decodeSection(c.conf.Engine)
	if err != nil {
		return fmt.Errorf("primarybackup: group %d: %w", c.group, err)
	}
	if len(c.conf.Voters) == 0 {
		return nil // uninitialised: waits for a snapshot
	}
	r := Record{Epoch: 1, Primary: c.conf.Voters[0], Replicas: slices.Clone(c.conf.Voters), InSync: slices.Clone(c.conf.Voters)}
	if sec.Epoch != 0 {
		r.Epoch, r.Primary, r.InSync = sec.Epoch, sec.Primary, sec.InSync
	}
	for _, id := range r.Replicas {
		r.NextReplica = max(r.NextReplica, id+1)
	}
	c.rec, c.epoch = r, r.Epoch
	return nil
}

func (c *Core) initialized() bool { return len(c.conf.Voters)+len(c.conf.Learners) > 0 }

func (c *Core) isMember(id replica.ReplicaID) bool {
	return slices.Contains(c.conf.Voters, id) || slices.Contains(c.conf.Learners, id) || slices.Contains(c.rec.Replicas, id)
}

// minInSync is the configured floor, at most the group's size.
func (c *Core) leaseTicks() int {
	if c.opts.LeaseTicks > 0 {
		return c.opts.LeaseTicks
	}
	return 3 * c.electionTicks
}

func (c *Core) maxLagTicks() int {
	if c.opts.MaxLagTicks > 0 {
		return c.opts.MaxLagTicks
	}
	return 10 * c.electionTicks
}

func (c *Core) async() bool { return c.opts.Mode == ModeAsync }

// leaseValid: the primary's lease, from its last record write, has not run
// out, with an election timeout to spare for the difference between its
// ticks and a backup's. A backup installs the next epoch only after it read
// the same version a whole lease apart by its own ticks, so a primary
// under a valid lease is the only one.
func (c *Core) leaseValid() bool {
	if c.lead == nil || !c.lead.confirmed {
		return false
	}
	return c.ticks-c.lead.leaseAt < int64(max(1, c.leaseTicks()-c.electionTicks))
}

func (c *Core) minInSync() int {
	n := c.opts.MinInSync
	if n <= 0 {
		n = 2
	}
	return min(n, max(c.voterCount(), 1))
}

// voterCount is how many of the record's replicas are voters (eligible for
// the in-sync set): a learner being added does not raise the floor, and a
// voter the record dropped already (its removal's entry not yet applied)
// does not hold it up.
func (c *Core) voterCount() int {
	n := 0
	for _, id := range c.rec.Replicas {
		if slices.Contains(c.conf.Voters, id) {
			n++
		}
	}
	return n
}

// eligible: id may join the in-sync set — a voter of the descriptor that
// the record still lists.
func (c *Core) eligible(id replica.ReplicaID) bool {
	return slices.Contains(c.conf.Voters, id) && slices.Contains(c.rec.Replicas, id)
}

// state is what the driver sees: leader only once the primary is in
// office (its whole log committed under its epoch), so that a status never
// shows as leader a primary whose commit index may still rise to entries
// acknowledged before it restarted; while it takes office it is a follower
// that names itself primary (proposals wait for it).
func (c *Core) state() replica.State {
	if c.inOffice() {
		return replica.StateLeader
	}
	return replica.StateFollower
}

// The log in memory.

func (c *Core) firstIndex() uint64 { return c.trunc.Index + 1 }
func (c *Core) lastIndex() uint64  { return c.trunc.Index + uint64(len(c.entries)) }

func (c *Core) entry(i uint64) *entry {
	if i <= c.trunc.Index || i > c.lastIndex() {
		return nil
	}
	return c.entries[i-c.trunc.Index-1]
}

// pointAt is the (index, epoch, h) of the log at i; ok is false below the
// truncated point or past the end.
func (c *Core) pointAt(i uint64) (point, bool) {
	if i == c.trunc.Index {
		return point{i, c.trunc.Term, c.truncHash}, true
	}
	e := c.entry(i)
	if e == nil {
		return point{}, false
	}
	return point{i, e.epoch, e.hash}, true
}

func (c *Core) lastPoint() point {
	p, _ := c.pointAt(c.lastIndex())
	return p
}

// appendEntry appends e (hash set by the caller) and marks it to stage.
func (c *Core) appendEntry(e *entry) uint64 {
	c.entries = append(c.entries, e)
	i := c.lastIndex()
	c.dirty = append(c.dirty, i)
	c.mustSync = true
	c.noteEpoch(e.epoch, i)
	return i
}

// noteEpoch records in the epoch history that epoch begins at i, if it
// has no start yet.
func (c *Core) noteEpoch(epoch, i uint64) {
	if n := len(c.history); n > 0 && c.history[n-1].Epoch >= epoch {
		return
	}
	c.history = append(c.history, epochStart{epoch, i})
	c.hsDirty = true
}

// cutAfter drops the entries above i (a divergent suffix, never committed).
func (c *Core) cutAfter(i uint64) {
	if i >= c.lastIndex() {
		return
	}
	for _, e := range c.entries[i-c.trunc.Index:] {
		c.logSize -= min(c.logSize, storage.LogSlotSize(len(e.data)+16))
	}
	c.entries = c.entries[:i-c.trunc.Index]
	c.dirty = slices.DeleteFunc(c.dirty, func(x uint64) bool { return x > i })
	if !c.cut || i < c.cutAbove {
		c.cutAbove, c.cut = i, true
	}
	if c.lead != nil {
		c.lead.selfMatch = min(c.lead.selfMatch, i) // (a primary never cuts its log but in a broken mode)
	}
	for len(c.history) > 0 && c.history[len(c.history)-1].First > i {
		c.history = c.history[:len(c.history)-1]
	}
	c.hsDirty, c.mustSync = true, true
}

// lastOfEpoch is the last index of the primary's log whose epoch is at
// most epoch, by the epoch history: where a backup whose entry is of
// epoch can at best agree with it.
func (c *Core) lastOfEpoch(epoch uint64) uint64 {
	for _, h := range c.history {
		if h.Epoch > epoch {
			return h.First - 1
		}
	}
	return c.lastIndex()
}

// truncateTo drops the entries up to and including p.Index from memory.
func (c *Core) truncateTo(p storage.LogPoint) {
	if p.Index <= c.trunc.Index {
		return
	}
	n := min(p.Index-c.trunc.Index, uint64(len(c.entries)))
	if n > 0 {
		c.truncHash = c.entries[n-1].hash
	}
	for _, e := range c.entries[:n] {
		c.logSize -= min(c.logSize, storage.LogSlotSize(len(e.data)+16))
	}
	c.entries = slices.Clone(c.entries[n:])
	c.trunc = p
	c.hsDirty = true
}
