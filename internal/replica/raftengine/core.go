package raftengine

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// The log of a new group starts after this index and term, as CockroachDB's
// does: a HardState with a term keeps a new leader from appending at term 1
// below the bootstrap entries (notes/raft.md §2).
const (
	bootstrapIndex = 10
	bootstrapTerm  = 5
)

// entryConfChangeV1 is the driver's type for a v1 conf change, which this
// engine never proposes: the driver refuses to apply it.
const entryConfChangeV1 driver.EntryType = 0xff

// coreEngine is Raft as the driver sees it (driver.CoreEngine): it opens
// each replica's core over its Log in the host's store.
type coreEngine struct {
	store storage.Store
	opts  rawOptions
}

// rawOptions are the knobs of etcd raft's Config that the engine sets.
type rawOptions struct {
	MaxSizePerMsg             uint64
	MaxInflightMsgs           int
	MaxUncommittedEntriesSize uint64
}

// newCoreEngine returns Raft's driver.CoreEngine over store.
func newCoreEngine(store storage.Store, opts rawOptions) *coreEngine {
	return &coreEngine{store: store, opts: opts}
}

// Name implements driver.CoreEngine.
func (e *coreEngine) Name() string { return Name }

// NewCore implements driver.CoreEngine.
func (e *coreEngine) NewCore(cfg driver.CoreConfig) (driver.Core, error) {
	gid := uint64(cfg.Group)
	lg, err := NewLogReading(e.store, cfg.Log, gid, func(v storage.View) (*raftpb.ConfState, error) {
		return confStateOf(v, gid)
	})
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        uint64(cfg.Replica),
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   lg,
		Applied:                   cfg.Applied,
		MaxSizePerMsg:             e.opts.MaxSizePerMsg,
		MaxCommittedSizePerReady:  4 * e.opts.MaxSizePerMsg,
		MaxUncommittedEntriesSize: e.opts.MaxUncommittedEntriesSize,
		MaxInflightMsgs:           e.opts.MaxInflightMsgs,
		MaxInflightBytes:          uint64(e.opts.MaxInflightMsgs) * e.opts.MaxSizePerMsg,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		DisableProposalForwarding: true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    raftLogger{logger},
	})
	if err != nil {
		return nil, err
	}
	return &core{id: cfg.Replica, rn: rn, log: lg, dlog: driverLog{lg}, logger: logger}, nil
}

// Bootstrap implements driver.CoreEngine.
func (e *coreEngine) Bootstrap(b storage.Batch, desc replica.Descriptor) error {
	gid := uint64(desc.Group)
	lg, err := NewLog(e.store, gid, func(v storage.View) (*raftpb.ConfState, error) {
		return confStateOf(v, gid)
	})
	if err != nil {
		return err
	}
	return lg.Bootstrap(b, bootstrapIndex, bootstrapTerm)
}

// SnapshotMessage implements driver.CoreEngine: the MsgSnap with the
// snapshot's metadata set to at.
func (e *coreEngine) SnapshotMessage(msg []byte, at driver.SnapshotPoint) ([]byte, error) {
	m := new(raftpb.Message)
	if err := proto.Unmarshal(msg, m); err != nil {
		return nil, err
	}
	cs, err := confStateFrom(at.Conf)
	if err != nil {
		return nil, err
	}
	m.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
		Index: new(at.Index), Term: new(at.Term), ConfState: cs}}
	return proto.Marshal(m)
}

// DecodeSnapshot implements driver.CoreEngine.
func (e *coreEngine) DecodeSnapshot(msg []byte) (driver.SnapshotPoint, replica.ReplicaID, replica.ReplicaID, error) {
	m := new(raftpb.Message)
	if err := proto.Unmarshal(msg, m); err != nil {
		return driver.SnapshotPoint{}, 0, 0, err
	}
	if m.GetType() != raftpb.MsgSnap || raft.IsEmptySnap(m.GetSnapshot()) {
		return driver.SnapshotPoint{}, 0, 0, errors.New("not a MsgSnap with a snapshot")
	}
	md := m.GetSnapshot().GetMetadata()
	at := driver.SnapshotPoint{Index: md.GetIndex(), Term: md.GetTerm(), Conf: confOf(md.GetConfState())}
	return at, replica.ReplicaID(m.GetFrom()), replica.ReplicaID(m.GetTo()), nil
}

// Recovery implements driver.CoreEngine: the stored commit index.
func (e *coreEngine) Recovery(l storage.LogReader, g replica.GroupID) (uint64, error) {
	hs, err := readHardState(l, uint64(g))
	if err != nil {
		return 0, err
	}
	return hs.GetCommit(), nil
}

// StageRecovery implements driver.CoreEngine: the entries above applied
// deleted, the commit index lowered to applied; the term and vote kept,
// so that a vote once given in a term stays given.
func (e *coreEngine) StageRecovery(l storage.LogReader, w storage.LogWriter, g replica.GroupID, applied uint64) error {
	gid := uint64(g)
	hs, err := readHardState(l, gid)
	if err != nil {
		return err
	}
	// NB: not through the replica's Log: the stopped replica's Log, whose
	// cache this leaves stale, is dropped; the reopened replica scans the log.
	if err := w.DeleteLogAfter(gid, applied); err != nil {
		return err
	}
	next := &raftpb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(applied)}
	var buf [hardStateLen]byte
	return w.SetHardState(gid, hardStateVersion, encodeHardState(buf[:0], next))
}

// readHardState reads a group's stored HardState (empty if none).
func readHardState(l storage.LogReader, gid uint64) (*raftpb.HardState, error) {
	version, b, err := l.ReadHardState(gid)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return &raftpb.HardState{}, nil
	case err != nil:
		return nil, err
	}
	hs, err := decodeHardState(version, b)
	if err != nil {
		return nil, fmt.Errorf("raftengine: group %d: %w", gid, err)
	}
	return hs, nil
}

// core adapts etcd raft's RawNode to driver.Core.
type core struct {
	id     replica.ReplicaID
	rn     *raft.RawNode
	log    *Log
	dlog   driverLog
	logger *slog.Logger
	// Buffers of the Ready in the driver's words, reused by the next
	// Ready: the driver is done with a Ready once it calls Advance, and
	// asks for the next one only after.
	ents, committed []driver.LogEntry
	msgs            []driver.Message
	reads           []driver.ReadState
}

func (c *core) Tick() { c.rn.Tick() }

func (c *core) Step(from replica.ReplicaID, msg []byte) error {
	m := new(raftpb.Message)
	if err := proto.Unmarshal(msg, m); err != nil {
		c.logger.Warn("dropping malformed raft message", "from", from, "err", err)
		return err
	}
	if m.GetFrom() != uint64(from) {
		return fmt.Errorf("raftengine: message from %d says it is from %d", from, m.GetFrom())
	}
	return c.rn.Step(m)
}

func (c *core) Propose(data []byte) error {
	if err := c.rn.Propose(data); err != nil {
		return fmt.Errorf("%w: %w", driver.ErrDropped, err)
	}
	return nil
}

func (c *core) ProposeChange(ch driver.Change) error {
	changes := make([]*raftpb.ConfChangeSingle, 0, len(ch.Ops))
	for _, op := range ch.Ops {
		var t raftpb.ConfChangeType
		switch op.Kind {
		case driver.AddLearner:
			t = raftpb.ConfChangeAddLearnerNode
		case driver.AddVoter:
			t = raftpb.ConfChangeAddNode
		case driver.Remove:
			t = raftpb.ConfChangeRemoveNode
		default:
			return fmt.Errorf("%w: unknown change kind %d", driver.ErrDropped, op.Kind)
		}
		changes = append(changes, &raftpb.ConfChangeSingle{Type: t.Enum(), NodeId: new(uint64(op.Replica))})
	}
	cc := &raftpb.ConfChangeV2{Changes: changes, Context: ch.Context}
	if len(changes) > 1 {
		cc.Transition = raftpb.ConfChangeTransitionJointImplicit.Enum()
	}
	if err := c.rn.ProposeConfChange(cc); err != nil {
		return fmt.Errorf("%w: %w", driver.ErrDropped, err)
	}
	return nil
}

func (c *core) ReadIndex(ctx []byte)                   { c.rn.ReadIndex(ctx) }
func (c *core) TransferLeader(to replica.ReplicaID)    { c.rn.TransferLeader(uint64(to)) }
func (c *core) Campaign() error                        { return c.rn.Campaign() }
func (c *core) ReportUnreachable(to replica.ReplicaID) { c.rn.ReportUnreachable(uint64(to)) }

func (c *core) ReportSnapshot(to replica.ReplicaID, ok bool) {
	st := raft.SnapshotFinish
	if !ok {
		st = raft.SnapshotFailure
	}
	c.rn.ReportSnapshot(uint64(to), st)
}

func (c *core) HasReady() bool { return c.rn.HasReady() }

// Ready implements driver.Core: raft's Ready in the driver's words, with
// raft's own kept for Stage and Advance.
func (c *core) Ready() driver.Ready {
	rd := c.rn.Ready()
	out := driver.Ready{MustSync: rd.MustSync, Engine: rd}
	if rd.SoftState != nil {
		out.Soft = &driver.SoftState{State: stateOf(rd.SoftState.RaftState), Leader: replica.ReplicaID(rd.SoftState.Lead)}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		md := rd.Snapshot.GetMetadata()
		out.Snapshot = &driver.SnapshotPoint{Index: md.GetIndex(), Term: md.GetTerm(), Conf: confOf(md.GetConfState())}
	}
	c.ents = entriesOf(c.ents[:0], rd.Entries)
	c.committed = entriesOf(c.committed[:0], rd.CommittedEntries)
	out.Entries, out.Committed = c.ents, c.committed
	if len(rd.Messages) > 0 {
		out.Messages = c.msgs[:0]
		for _, m := range rd.Messages {
			payload, err := proto.Marshal(m)
			if err != nil {
				c.logger.Error("marshalling raft message", "err", err)
				continue
			}
			out.Messages = append(out.Messages, driver.Message{To: replica.ReplicaID(m.GetTo()), Kind: kindOf(m.GetType()), Payload: payload})
		}
		c.msgs = out.Messages
	}
	if len(rd.ReadStates) > 0 {
		out.Reads = c.reads[:0]
		for _, rs := range rd.ReadStates {
			out.Reads = append(out.Reads, driver.ReadState{Ctx: rs.RequestCtx, Index: rs.Index})
		}
		c.reads = out.Reads
	}
	return out
}

// kindOf says when the driver may send a raft message: the answers that
// promise durability only after the round's fsync.
func kindOf(t raftpb.MessageType) driver.MsgKind {
	switch t {
	case raftpb.MsgAppResp, raftpb.MsgVoteResp, raftpb.MsgPreVoteResp:
		return driver.MsgLate
	case raftpb.MsgVote, raftpb.MsgPreVote:
		return driver.MsgCampaign
	case raftpb.MsgSnap:
		return driver.MsgSnapshot
	}
	return driver.MsgEarly
}

// entriesOf appends ents in the driver's words to dst (nil when none).
func entriesOf(dst []driver.LogEntry, ents []*raftpb.Entry) []driver.LogEntry {
	if len(ents) == 0 {
		return dst[:0]
	}
	out := slices.Grow(dst, len(ents))[:len(ents)]
	for i, e := range ents {
		t := driver.EntryNormal
		switch e.GetType() {
		case raftpb.EntryConfChangeV2:
			t = driver.EntryChange
		case raftpb.EntryConfChange:
			t = entryConfChangeV1
		}
		out[i] = driver.LogEntry{Index: e.GetIndex(), Term: e.GetTerm(), Type: t, Data: e.GetData()}
	}
	return out
}

// Advance implements driver.Core. The reused buffers drop their
// references, so that a Ready's entries and messages are not kept alive
// until the next one overwrites them.
func (c *core) Advance(rd driver.Ready) {
	c.rn.Advance(rd.Engine.(raft.Ready))
	clear(c.ents[:cap(c.ents)])
	clear(c.committed[:cap(c.committed)])
	clear(c.msgs[:cap(c.msgs)])
	clear(c.reads[:cap(c.reads)])
}

// Stage implements driver.Core: the log reset after an accepted snapshot,
// the appended entries, then the hard state, which must never be durable
// ahead of them.
func (c *core) Stage(w storage.LogWriter, rd *driver.Ready) error {
	r := rd.Engine.(raft.Ready)
	if !raft.IsEmptySnap(r.Snapshot) {
		if err := c.log.StageSnapshot(w, r.Snapshot.GetMetadata()); err != nil {
			return err
		}
	}
	if len(r.Entries) > 0 {
		if err := c.log.StageAppend(w, r.Entries); err != nil {
			return fmt.Errorf("append: %w", err)
		}
	}
	if !raft.IsEmptyHardState(r.HardState) {
		if err := c.log.StageHardState(w, r.HardState); err != nil {
			return fmt.Errorf("hard state: %w", err)
		}
	}
	return nil
}

func (c *core) Log() driver.Log { return c.dlog }

func (c *core) Basic() driver.Basic {
	st := c.rn.BasicStatus()
	return driver.Basic{
		State:          stateOf(st.RaftState),
		Leader:         replica.ReplicaID(st.Lead),
		Term:           st.GetTerm(),
		Commit:         st.GetCommit(),
		LeadTransferee: replica.ReplicaID(st.LeadTransferee),
	}
}

func (c *core) Progress() map[replica.ReplicaID]driver.Progress {
	if c.rn.BasicStatus().RaftState != raft.StateLeader {
		return nil
	}
	out := make(map[replica.ReplicaID]driver.Progress)
	c.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		out[replica.ReplicaID(id)] = driver.Progress{
			Match: pr.Match, Next: pr.Next, Learner: pr.IsLearner, Active: pr.RecentActive,
			Replicating: pr.State == tracker.StateReplicate, PendingSnapshot: pr.PendingSnapshot,
		}
	})
	return out
}

func (c *core) EngineStatus() replica.EngineStatus {
	st := c.rn.BasicStatus()
	return replica.EngineStatus{Name: Name, Fields: map[string]any{
		"term": st.GetTerm(), "vote": st.GetVote(), "lead_transferee": st.LeadTransferee,
	}}
}

func (c *core) ChangeContext(e driver.LogEntry) ([]byte, error) {
	cc, err := confChangeOf(e)
	if err != nil {
		return nil, err
	}
	return cc.GetContext(), nil
}

func (c *core) ApplyChange(e driver.LogEntry) (driver.Conf, error) {
	cc, err := confChangeOf(e)
	if err != nil {
		return driver.Conf{}, err
	}
	return confOf(c.rn.ApplyConfChange(cc)), nil
}

func confChangeOf(e driver.LogEntry) (*raftpb.ConfChangeV2, error) {
	if e.Type != driver.EntryChange {
		return nil, fmt.Errorf("entry %d is not a ConfChangeV2", e.Index)
	}
	cc := new(raftpb.ConfChangeV2)
	if err := proto.Unmarshal(e.Data, cc); err != nil {
		return nil, fmt.Errorf("conf change: %w", err)
	}
	return cc, nil
}

// driverLog is the Log as driver.Log.
type driverLog struct{ l *Log }

func (d driverLog) FirstIndex() uint64 { i, _ := d.l.FirstIndex(); return i }
func (d driverLog) LastIndex() uint64  { i, _ := d.l.LastIndex(); return i }
func (d driverLog) LogSize() uint64    { return d.l.LogSize() }
func (d driverLog) StageTruncate(w storage.LogWriter, to uint64) error {
	return d.l.StageTruncate(w, to)
}

func stateOf(s raft.StateType) replica.State {
	switch s {
	case raft.StateLeader:
		return replica.StateLeader
	case raft.StateCandidate:
		return replica.StateCandidate
	case raft.StatePreCandidate:
		return replica.StatePreCandidate
	}
	return replica.StateFollower
}

// confStateOf reads a group's ConfState from its descriptor, for the raft log.
func confStateOf(v storage.View, gid uint64) (*raftpb.ConfState, error) {
	raw, err := v.Get(storage.DescriptorKey(gid))
	if errors.Is(err, storage.ErrNotFound) {
		return &raftpb.ConfState{}, nil
	} else if err != nil {
		return nil, err
	}
	d, err := replica.DecodeDescriptor(raw)
	if err != nil {
		return nil, err
	}
	return ConfStateOf(d)
}

func ids64(ids []replica.ReplicaID) []uint64 {
	if len(ids) == 0 {
		return nil
	}
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = uint64(id)
	}
	return out
}

func idsOf(ids []uint64) []replica.ReplicaID {
	if len(ids) == 0 {
		return nil
	}
	out := make([]replica.ReplicaID, len(ids))
	for i, id := range ids {
		out[i] = replica.ReplicaID(id)
	}
	slices.Sort(out)
	return out
}

// confStateFrom rebuilds the ConfState that c stores: its voters and
// learners, and Raft's engine section (SectionOf).
func confStateFrom(c driver.Conf) (*raftpb.ConfState, error) {
	j, err := replica.JointOf(c.Engine)
	if err != nil {
		return nil, fmt.Errorf("raftengine: %w", err)
	}
	return &raftpb.ConfState{
		Voters:         ids64(c.Voters),
		Learners:       ids64(c.Learners),
		VotersOutgoing: ids64(j.Outgoing),
		LearnersNext:   ids64(j.LearnersNext),
		AutoLeave:      new(j.AutoLeave),
	}, nil
}

func confOf(cs *raftpb.ConfState) driver.Conf {
	return driver.Conf{
		Voters:   idsOf(cs.GetVoters()),
		Learners: idsOf(cs.GetLearners()),
		Engine:   SectionOf(cs),
	}
}

// SectionOf is Raft's engine section of a descriptor for cs: its joint
// configuration (outgoing voters, learners next, auto-leave) in
// replica.JointConf's format, nil outside a joint configuration.
func SectionOf(cs *raftpb.ConfState) []byte {
	return replica.JointConf{
		Outgoing:     idsOf(cs.GetVotersOutgoing()),
		LearnersNext: idsOf(cs.GetLearnersNext()),
		AutoLeave:    cs.GetAutoLeave(),
	}.Section()
}

// ConfStateOf is the whole ConfState that d stores (its voters and
// learners, and its engine section), or an error for an engine section
// that is not Raft's.
func ConfStateOf(d replica.Descriptor) (*raftpb.ConfState, error) {
	return confStateFrom(driver.ConfOf(d))
}

var (
	_ driver.Core       = (*core)(nil)
	_ driver.CoreEngine = (*coreEngine)(nil)
)

// Joint implements driver.CoreEngine: a change of several voters is one
// joint change, which raft leaves by itself.
func (e *coreEngine) Joint() bool { return true }

// Serves implements driver.CoreEngine: every read mode.
func (e *coreEngine) Serves(replica.ReadMode) error { return nil }

// NewCoreEngine returns Raft as a driver.CoreEngine over store, with the
// engine's default knobs: what another engine's host runs its meta
// group (group 0) with.
func NewCoreEngine(store storage.Store) driver.CoreEngine {
	var c Config
	c.setDefaults()
	return newCoreEngine(store, rawOptions{MaxSizePerMsg: c.MaxSizePerMsg, MaxInflightMsgs: c.MaxInflightMsgs,
		MaxUncommittedEntriesSize: c.MaxUncommittedEntriesSize})
}
