package driver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
)

// work is one group's share of a round: its Ready and what applying it gave.
type work struct {
	g         *group
	rd        Ready
	late      []Message
	props     []*proposal // matched to applied entries, in order
	results   []replica.Result
	lost      []*proposal
	appliedTo uint64
	removed   bool
	snapped   bool
	answered  bool
}

// outbox batches messages per destination node for one Send each.
type outbox map[string][]transport.Message

func (o outbox) flush(tr transport.Transport) {
	for node, msgs := range o {
		tr.Send(node, msgs)
		delete(o, node)
	}
}

// runRound is one scheduler round over gs (DESIGN.md, The flow of a write):
//
//  1. per group: step inputs, take a Ready, stage its snapshot, entries and
//     hard state into one shared log batch; send what may go before fsync
//     (a leader's appends and heartbeats)
//  2. commit the log batch with one fsync for every group
//  3. send the rest (responses that promise durability)
//  4. apply every group's committed entries into one apply batch; commit it
//  5. per group: answer proposals and reads, Advance, release
func (h *Host) runRound(gs []*group) {
	roundStart := time.Now()
	logBatch := h.store.NewBatch()
	defer logBatch.Close()
	out := outbox{}
	var ws []*work
	mustSync := false
	entries := 0
	for _, g := range gs {
		g.mu.Lock()
		if g.closed || g.removed {
			g.mu.Unlock()
			continue
		}
		g.processInputs()
		if !g.core.HasReady() {
			g.settleSnapshot()
			g.mu.Unlock()
			continue
		}
		w := &work{g: g, rd: g.core.Ready()}
		if err := g.stage(w, logBatch); err != nil {
			g.mu.Unlock()
			h.unlockAll(ws)
			h.fatal(err)
			return
		}
		// A follower must not acknowledge a snapshot before it is durable.
		mustSync = mustSync || w.rd.MustSync || w.snapped
		entries += len(w.rd.Entries)
		for _, m := range w.rd.Messages {
			if m.Kind == MsgLate || m.Kind == MsgCampaignLate {
				w.late = append(w.late, m)
			} else {
				g.send(out, m)
			}
		}
		ws = append(ws, w)
	}
	if len(ws) == 0 {
		return
	}
	out.flush(h.tr)
	h.metrics.rounds.Inc()
	h.metrics.groupsPerRound.Observe(float64(len(ws)))
	// The log batch goes into the WAL now and its fsync runs while the
	// committed entries are applied: they are durable on a quorum already,
	// and the apply batch lands after the log batch in the WAL, so a crash
	// never keeps an applied index above the log.
	var syncWait func() error
	var syncStart time.Time
	if !logBatch.Empty() {
		var err error
		if mustSync && !h.cfg.UnsafeAckBeforeSync {
			syncStart = time.Now()
			syncWait, err = logBatch.CommitAsync()
		} else {
			err = logBatch.Commit(false)
		}
		if err != nil {
			h.fatal(fmt.Errorf("driver: committing the log: %w", err))
			h.unlockAll(ws)
			return
		}
	}

	applyStart := time.Now()
	ab := &applyBatch{store: h.store, b: h.store.NewBatch()}
	defer ab.close()
	for _, w := range ws {
		if err := w.g.apply(w, ab); err != nil {
			h.fatal(err)
			h.unlockAll(ws)
			return
		}
	}
	if !ab.b.Empty() {
		// NoSync: the log holds what these writes derive from, and a later
		// synced commit on the same WAL makes them durable too.
		if err := ab.b.Commit(false); err != nil {
			h.fatal(fmt.Errorf("driver: committing applied state: %w", err))
			h.unlockAll(ws)
			return
		}
	}
	h.metrics.applySeconds.Observe(time.Since(applyStart).Seconds())
	// Committed means durable on a quorum: answers need not wait for this
	// node's fsync. A snapshot's answers do (finish settles it first).
	for _, w := range ws {
		if !w.snapped {
			w.g.answer(w)
		}
	}
	if syncWait != nil {
		if err := syncWait(); err != nil {
			h.fatal(fmt.Errorf("driver: syncing the log: %w", err))
			h.unlockAll(ws)
			return
		}
		h.metrics.fsyncs.Inc()
		h.metrics.fsyncSeconds.Observe(time.Since(syncStart).Seconds())
		h.metrics.entriesPerFsync.Observe(float64(entries))
	}
	for _, w := range ws {
		for _, m := range w.late {
			w.g.send(out, m)
		}
	}
	out.flush(h.tr)
	for _, w := range ws {
		w.g.finish(w)
		w.g.mu.Unlock()
		if w.removed {
			w.g.destroy(0)
		}
	}
	h.metrics.roundSeconds.Observe(time.Since(roundStart).Seconds())
}

// sortedIDs returns ids sorted, nil when empty.
func sortedIDs(ids []replica.ReplicaID) []replica.ReplicaID {
	if len(ids) == 0 {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func (h *Host) unlockAll(ws []*work) {
	for _, w := range ws {
		w.g.mu.Unlock()
	}
}

// processInputs steps everything queued for the group. g.mu is held.
func (g *group) processInputs() {
	g.in.Lock()
	msgs, props, reads, snaps := g.in.msgs, g.in.props, g.in.reads, g.in.snaps
	reports, transfers, ticks := g.in.reports, g.in.transfers, g.in.ticks
	g.in.msgs, g.in.props, g.in.reads, g.in.snaps = nil, nil, nil, nil
	g.in.reports, g.in.transfers, g.in.ticks = nil, nil, 0
	g.in.Unlock()

	for _, m := range msgs {
		if g.fromRemoved(m.from) {
			continue // see fromRemoved: the core would follow a removed leader
		}
		_ = g.core.Step(m.from, m.payload) // malformed, or from an unknown peer: dropped
	}
	snaps = slices.DeleteFunc(snaps, func(s *snapReq) bool {
		if !g.fromRemoved(s.from) {
			return false
		}
		s.done(fmt.Errorf("driver: group %d: refusing a snapshot from replica %d: descriptor version %d removed it",
			g.gid, s.from, g.desc.Version))
		return true
	})
	if len(snaps) > 0 {
		// One snapshot per round, so the one the core accepts is the one
		// stepped; the rest wait for the next round.
		s := snaps[0]
		if len(snaps) > 1 {
			g.in.Lock()
			g.in.snaps = append(snaps[1:], g.in.snaps...)
			g.in.Unlock()
			g.h.schedule(g)
		}
		g.pendingSnap = s
		_ = g.core.Step(s.from, s.msg)
	}
	for _, r := range reports {
		if r.snap {
			g.core.ReportSnapshot(r.to, r.success)
		} else {
			g.core.ReportUnreachable(r.to)
		}
	}
	for _, to := range transfers {
		g.core.TransferLeader(to)
	}
	g.processChecks()
	for range ticks {
		g.core.Tick()
		g.ticks++
		g.onTick()
	}
	g.held = append(g.held, props...)
	g.proposeHeld()
	if g.leaderMoved {
		g.leaderMoved = false
		reads = g.takeIssued(reads, func([]*readReq) bool { return true })
	}
	g.issueReads(reads)
}

// takeIssued moves the reads of each ReadIndex in flight for which lost
// reports true out of readsIssued and appends them to reads, in a
// replayable order: a core never answers a lost read index, so its reads are
// issued again.
func (g *group) takeIssued(reads []*readReq, lost func([]*readReq) bool) []*readReq {
	for _, ctx := range slices.Sorted(maps.Keys(g.readsIssued)) {
		if rs := g.readsIssued[ctx]; lost(rs) {
			reads = append(reads, rs...)
			delete(g.readsIssued, ctx)
		}
	}
	return reads
}

// proposeHeld hands queued proposals to the core. Those it drops while no
// leader is known wait for the next round; with a known other leader they
// fail as certainly not applied, naming it.
func (g *group) proposeHeld() {
	if len(g.held) == 0 {
		return
	}
	keep := g.held[:0]
	now := g.h.now() // one stamp for the batch: group time is their max anyway
	for _, p := range g.held {
		if !p.state.CompareAndSwap(proposalQueued, proposalInCore) {
			continue // cancelled by its caller
		}
		if err := g.refusal(p); err != nil {
			p.finish(nil, 0, err) // certainly not applied
			continue
		}
		var err error
		if p.cc != nil {
			err = g.core.ProposeChange(*p.cc)
		} else {
			Stamp(p.data, now)
			err = g.core.Propose(p.data)
		}
		if err == nil {
			g.h.metrics.proposals.Inc()
			g.inflight[p.id] = p
			if p.cc != nil {
				g.confThisRound = append(g.confThisRound, p)
			}
			continue
		}
		p.state.Store(proposalQueued)
		g.h.metrics.proposalsDropped.Inc()
		st := g.core.Basic()
		if st.Leader != 0 && st.Leader != g.id {
			p.finish(nil, 0, &replica.ErrNotLeader{Group: g.gid, Hint: st.Leader, HintNode: g.nodeOf(st.Leader)})
			continue
		}
		keep = append(keep, p) // no leader, or a transfer in progress: retry
	}
	clear(g.held[len(keep):])
	g.held = keep
}

// issueReads starts one ReadIndex round for every read queued this round.
func (g *group) issueReads(reads []*readReq) {
	if len(reads) == 0 {
		return
	}
	st := g.core.Basic()
	batch := reads[:0]
	for _, r := range reads {
		if r.mode == replica.Linearizable && st.State != replica.StateLeader {
			r.done(&replica.ErrNotLeader{Group: g.gid, Hint: st.Leader, HintNode: g.nodeOf(st.Leader)})
			continue
		}
		batch = append(batch, r)
	}
	if len(batch) == 0 {
		return
	}
	g.readCtr++
	var rctx [8]byte
	binary.BigEndian.PutUint64(rctx[:], g.readCtr)
	now := time.Now()
	for _, r := range batch {
		r.tick = g.ticks
		if r.start.IsZero() {
			r.start = now
		}
	}
	g.readsIssued[g.readCtr] = append([]*readReq(nil), batch...)
	g.core.ReadIndex(rctx[:])
	g.h.metrics.readIndexRounds.Inc()
}

// onTick runs the per-tick duties: re-issuing reads the core dropped (no
// leader, a leader change), sweeping expired keys, and stepping down when
// this node's clock is not trusted.
func (g *group) onTick() {
	g.issueReads(g.takeIssued(nil, func(rs []*readReq) bool {
		return g.ticks-rs[0].tick >= 2*g.h.cfg.ElectionTicks
	}))

	st := g.core.Basic()
	g.tickChecks(st)
	if st.State != replica.StateLeader {
		g.caughtUpAt = nil
		return
	}
	g.noteCaughtUpLocked()
	if g.h.tr != nil && st.LeadTransferee == 0 && !g.h.tr.ClockHealthy() {
		if to := g.bestFollower(); to != 0 {
			g.h.log.Warn("clock offset beyond --max-clock-offset from a majority: handing leadership away",
				"group", g.gid, "to", to)
			g.core.TransferLeader(to)
		}
	}
	sweepTicks := max(1, int(g.h.cfg.SweepInterval/g.h.cfg.TickInterval))
	if g.ticks-g.lastSweep >= sweepTicks && g.sweeping.Load() == 0 && g.initialized() {
		g.lastSweep = g.ticks
		g.sweep()
	}
}

// sweep proposes deletes for keys whose deadline passed by the leader's clock.
func (g *group) sweep() {
	cmds := g.sm.Due(g.h.store, g.h.now(), 128)
	for _, cmd := range cmds {
		p := &proposal{id: nextProposalID()}
		p.data = Frame(p.id, cmd)
		g.sweeping.Add(1)
		p.done = func([]byte, uint64, error) { g.sweeping.Add(-1) }
		g.held = append(g.held, p)
	}
}

// bestFollower is the voter with the most of the log, the lowest ID among
// equals, so a simulation replays the same choice. (Not filtered by
// Active: a core may clear those flags every election timeout.)
func (g *group) bestFollower() replica.ReplicaID {
	var best replica.ReplicaID
	var match uint64
	for id, pr := range g.core.Progress() {
		if id == g.id || pr.Learner || g.cc.differing(id) != 0 {
			continue
		}
		// Ties go to the lowest ID, whatever the map's order.
		if best == 0 || pr.Match > match || (pr.Match == match && id < best) {
			best, match = id, pr.Match
		}
	}
	return best
}

// stage writes the Ready's durable part into the shared log batch.
func (g *group) stage(w *work, b storage.Batch) error {
	rd := &w.rd
	if rd.Soft != nil {
		if old := g.leader.Swap(uint64(rd.Soft.Leader)); old != uint64(rd.Soft.Leader) {
			g.h.metrics.leaderChanges.Inc()
			g.leaderSince = g.ticks
			g.leaderMoved = len(g.readsIssued) > 0
		}
	}
	if rd.Snapshot != nil {
		if err := g.stageSnapshot(*rd.Snapshot, b); err != nil {
			return err
		}
		if err := g.rebuilt(b); err != nil {
			return err
		}
		w.snapped = true
	}
	if err := g.core.Stage(storage.LogOf(b), rd); err != nil {
		return fmt.Errorf("driver: group %d: staging the log: %w", g.gid, err)
	}
	for _, e := range rd.Entries {
		if id, ok := g.entryID(e); ok {
			if p := g.inflight[id]; p != nil {
				p.index, p.term = e.Index, e.Term
				g.byIndex[p.index] = p
			}
		}
	}
	// A core may turn a change it refuses (another is pending, or the
	// group is joint) into an empty entry without a word: one proposed this
	// round whose entry did not appear was refused, certainly not applied.
	for _, p := range g.confThisRound {
		if p.index == 0 && g.inflight[p.id] == p {
			delete(g.inflight, p.id)
			p.finish(nil, 0, replica.ErrMembershipChange)
		}
	}
	g.confThisRound = g.confThisRound[:0]
	return nil
}

// entryID finds the proposal ID of a normal or membership-change entry.
func (g *group) entryID(e LogEntry) (uint64, bool) {
	switch e.Type {
	case EntryNormal:
		if len(e.Data) == 0 {
			return 0, false
		}
		if IsEntry(e.Data) {
			d, err := UnframeEntry(e.Data)
			return d.ID, err == nil
		}
		id, _, _, err := Unframe(e.Data)
		return id, err == nil
	case EntryChange:
		ctx, err := g.core.ChangeContext(e)
		if err != nil {
			return 0, false
		}
		id, _, ok := UnframeConf(ctx)
		return id, ok
	}
	return 0, false
}

// send routes one outbound message: snapshots go their own way.
func (g *group) send(out outbox, m Message) {
	campaign := m.Kind == MsgCampaign || m.Kind == MsgCampaignLate
	if campaign && g.h.tr != nil && !g.h.tr.ClockHealthy() {
		return // refuse to lead with an untrusted clock (DESIGN.md, Expiry)
	}
	if campaign && g.cc.diverged.Load() != 0 {
		return // refuse to lead from a state that differs from the majority's
	}
	node := g.nodeOf(m.To)
	if node == "" {
		g.core.ReportUnreachable(m.To)
		return
	}
	if m.Kind == MsgSnapshot {
		g.h.startSnapshot(g, node, m)
		return
	}
	out[node] = append(out[node], transport.Message{
		Group: uint64(g.gid), From: uint64(g.id), To: uint64(m.To), Payload: m.Payload})
}

// applyBatch is the round's apply batch. A consistency check cuts it:
// what is applied so far is committed, so that a store snapshot holds the
// state at exactly the check's index, and a fresh batch goes on.
type applyBatch struct {
	store storage.Store
	b     storage.Batch
}

func (a *applyBatch) close() { a.b.Close() }

// cut commits the batch and returns a snapshot of the store after it.
func (a *applyBatch) cut() (storage.Snapshot, error) {
	if !a.b.Empty() {
		if err := a.b.Commit(false); err != nil {
			return nil, fmt.Errorf("driver: committing applied state: %w", err)
		}
	}
	snap := a.store.NewSnapshot()
	a.b.Close()
	a.b = a.store.NewBatch()
	return snap, nil
}

// apply evaluates the Ready's committed entries into the apply batch.
func (g *group) apply(w *work, ab *applyBatch) error {
	ents := w.rd.Committed
	if len(ents) == 0 {
		return nil
	}
	kvEnts := make([]replica.Entry, len(ents))
	w.props = make([]*proposal, len(ents))
	w.results = make([]replica.Result, 0, len(ents))
	from := 0 // the first entry not handed to the state machine yet
	flush := func(to int) error {
		if to <= from {
			return nil
		}
		results, err := g.sm.Apply(kvEnts[from:to], ab.b, ab.b)
		if err != nil {
			return fmt.Errorf("driver: group %d: apply: %w", g.gid, err)
		}
		w.results = append(w.results, results...)
		from = to
		return nil
	}
	for i, e := range ents {
		idx := e.Index
		kvEnts[i] = replica.Entry{Index: idx, Term: e.Term}
		var id uint64
		var ok bool
		var check *Entry
		switch e.Type {
		case EntryNormal:
			switch data := e.Data; {
			case IsEntry(data):
				// The state machine applies it as an empty entry.
				d, err := UnframeEntry(data)
				if err != nil {
					return fmt.Errorf("driver: group %d: entry %d: %w", g.gid, idx, err)
				}
				id, ok = d.ID, true
				kvEnts[i].Time = d.At
				if d.Kind == EntryCheck {
					check = &d
				}
			case len(data) > 0:
				pid, at, cmd, err := Unframe(data)
				if err != nil {
					return fmt.Errorf("driver: group %d: entry %d: %w", g.gid, idx, err)
				}
				id, ok = pid, true
				kvEnts[i].Time, kvEnts[i].Data = at, cmd
			}
		case EntryChange:
			cid, err := g.applyConfChange(e, ab.b)
			if err != nil {
				return err
			}
			id, ok = cid, cid != 0
		default:
			return fmt.Errorf("driver: group %d: entry %d: unknown entry type %d", g.gid, idx, e.Type)
		}
		if p := g.byIndex[idx]; p != nil {
			delete(g.byIndex, idx)
			if !ok || p.id != id {
				w.lost = append(w.lost, p) // another entry took its place
			}
		}
		if ok {
			if p := g.inflight[id]; p != nil {
				delete(g.inflight, id)
				w.props[i] = p
			}
		}
		if check != nil && !g.removed {
			if err := flush(i + 1); err != nil {
				return err
			}
			var snap storage.Snapshot
			if _, can := g.sm.(replica.Digester); can {
				var err error
				if snap, err = ab.cut(); err != nil {
					return err
				}
			}
			g.checkApplied(idx, *check, snap)
		}
	}
	if err := flush(len(ents)); err != nil {
		return err
	}
	w.appliedTo = ents[len(ents)-1].Index
	if g.removed {
		w.removed = true
	}
	g.h.metrics.applied.Add(float64(len(ents)))
	return nil
}

// applyConfChange applies a committed membership change to the core and
// to the descriptor in the apply batch, and returns its proposal ID (0 if
// none).
func (g *group) applyConfChange(e LogEntry, b storage.Batch) (uint64, error) {
	cctx, err := g.core.ChangeContext(e)
	if err != nil {
		return 0, fmt.Errorf("driver: group %d: entry %d: membership change: %w", g.gid, e.Index, err)
	}
	id, rawDesc, ok := UnframeConf(cctx)
	cs, err := g.core.ApplyChange(e)
	if err != nil {
		return 0, fmt.Errorf("driver: group %d: entry %d: membership change: %w", g.gid, e.Index, err)
	}
	next := g.desc.Clone()
	next.Version++
	if ok {
		proposed, err := replica.DecodeDescriptor(rawDesc)
		if err != nil {
			return 0, fmt.Errorf("driver: group %d: entry %d: %w", g.gid, e.Index, err)
		}
		for _, m := range proposed.Replicas {
			if _, have := next.Replica(m.ID); !have {
				next.Replicas = append(next.Replicas, m)
			}
		}
		next.NextReplicaID = max(next.NextReplicaID, proposed.NextReplicaID)
	}
	next.Voters = sortedIDs(cs.Voters)
	next.Learners = sortedIDs(cs.Learners)
	next.Engine = cs.Engine
	in := map[replica.ReplicaID]replica.Role{}
	for _, id := range next.Voters {
		in[id] = replica.RoleVoter
	}
	// The outgoing voters of a joint change stay voters until it ends
	// (Raft's learners-next are among them: voters that become learners
	// when it does).
	for _, id := range next.Outgoing() {
		in[id] = replica.RoleVoter
	}
	for _, id := range next.Learners {
		if _, v := in[id]; !v {
			in[id] = replica.RoleLearner
		}
	}
	kept := next.Replicas[:0]
	for _, m := range next.Replicas {
		if role, ok := in[m.ID]; ok {
			m.Role = role
			kept = append(kept, m)
		}
	}
	next.Replicas = kept
	if err := b.Set(storage.DescriptorKey(uint64(g.gid)), next.Encode(nil)); err != nil {
		return 0, err
	}
	g.desc = next
	if _, ok := in[g.id]; !ok {
		g.removed = true
	}
	return id, nil
}

// answer settles the proposals and reads the round's apply decided: it
// moves the applied index and answers proposers and waiting reads.
func (g *group) answer(w *work) {
	if w.answered {
		return
	}
	w.answered = true
	if w.appliedTo > 0 {
		g.applied.Store(w.appliedTo)
	}
	for i, p := range w.props {
		if p == nil {
			continue
		}
		var res []byte
		if i < len(w.results) {
			res = w.results[i]
		}
		p.finish(res, w.rd.Committed[i].Index, nil)
	}
	if w.removed {
		return // destroy fails the reads: the data is about to go
	}
	for _, rs := range w.rd.Reads {
		if len(rs.Ctx) != 8 {
			continue
		}
		ctr := binary.BigEndian.Uint64(rs.Ctx)
		if rs := g.readsIssued[ctr]; len(rs) > 0 {
			g.h.metrics.readIndexSeconds.Observe(time.Since(rs[0].start).Seconds())
		}
		for _, r := range g.readsIssued[ctr] {
			r.index = rs.Index
			g.readsWait = append(g.readsWait, r)
		}
		delete(g.readsIssued, ctr)
	}
	applied := g.applied.Load()
	keep := g.readsWait[:0]
	for _, r := range g.readsWait {
		if r.index <= applied {
			r.done(nil)
		} else {
			keep = append(keep, r)
		}
	}
	clear(g.readsWait[len(keep):])
	g.readsWait = keep
}

// finish completes the round for the group once its log is durable:
// settles a snapshot, answers what answer has not, and hands control back
// to the core.
func (g *group) finish(w *work) {
	if w.snapped {
		if err := g.loadDescriptor(g.h.store); err != nil {
			g.h.fatal(err)
			return
		}
		snapIdx := w.rd.Snapshot.Index
		g.applied.Store(snapIdx)
		g.h.metrics.snapshotsApplied.Inc()
		// Proposals whose entries the snapshot covers may or may not be in it.
		for idx, p := range g.byIndex {
			if idx <= snapIdx {
				delete(g.byIndex, idx)
				delete(g.inflight, p.id)
				p.finish(nil, 0, replica.ErrIndeterminate)
			}
		}
		if s := g.pendingSnap; s != nil {
			g.pendingSnap = nil
			s.done(nil)
		}
	}
	g.settleSnapshot()
	g.answer(w)
	for _, p := range w.lost {
		// Certainly not applied: another entry committed at its index.
		if p.cc != nil {
			// A conf change was computed from the descriptor of its time:
			// the caller recomputes it rather than replaying it.
			delete(g.inflight, p.id)
			p.finish(nil, 0, replica.ErrMembershipChange)
			continue
		}
		p.index, p.term = 0, 0
		p.state.Store(proposalQueued)
		g.held = append(g.held, p)
	}
	if w.removed {
		return
	}
	g.core.Advance(w.rd)
	if len(w.lost) > 0 {
		g.proposeHeld()
	}
	g.maybeTruncate()
	g.logBytes.Store(g.core.Log().LogSize())
	if g.core.HasReady() {
		g.h.schedule(g)
	}
}

// maybeTruncate drops the log prefix that nobody needs (DESIGN.md,
// Storage): up to what every follower has (and never past a snapshot in
// flight), or up to the applied index once the log is above the size
// threshold. A follower that has not been heard from for a while is not
// waited for (it will get a snapshot), but a new leader first gives every
// follower an election timeout to be heard from: a core may mark them all
// inactive when it takes office.
func (g *group) maybeTruncate() {
	applied := g.applied.Load()
	lg := g.core.Log()
	first := lg.FirstIndex()
	if applied < first || applied-first+1 <= g.h.cfg.TruncateAfter {
		return
	}
	to := applied
	if g.core.Basic().State == replica.StateLeader && lg.LogSize() < g.h.cfg.TruncateMaxBytes {
		settled := g.ticks-g.leaderSince > 2*g.h.cfg.ElectionTicks
		for id, pr := range g.core.Progress() {
			if id == g.id {
				continue
			}
			if pr.PendingSnapshot > 0 && pr.PendingSnapshot < to {
				to = pr.PendingSnapshot
			}
			if (pr.Active || !settled) && pr.Match < to {
				to = pr.Match
			}
		}
	}
	if to < first {
		return
	}
	b := g.h.store.NewBatch()
	defer b.Close()
	if err := lg.StageTruncate(storage.LogOf(b), to); err != nil {
		g.h.log.Warn("truncating the log", "group", g.gid, "err", err)
		return
	}
	if err := b.Commit(false); err != nil {
		g.h.fatal(fmt.Errorf("driver: group %d: truncating the log: %w", g.gid, err))
		return
	}
	g.h.metrics.truncations.Inc()
}

// destroy deletes a removed replica's data and leaves a tombstone (at
// least tomb), so no stale message can bring it back (DESIGN.md, Identity).
// The group stays in the host's map, refusing input, until the tombstone is
// durable: a message arriving in between cannot recreate it from the old
// hard state. It reports whether this call did it.
//
// NB: only the first destroy of a replica does anything. Several can race
// (the round that applied its removal, a message naming a newer replica,
// Host.RemoveStale), and a late one must not delete again nor lower the
// tombstone: by then a newer replica of the group may have been created
// in the same span.
func (g *group) destroy(tomb replica.ReplicaID) bool {
	g.destroying.Lock()
	defer g.destroying.Unlock()
	if g.destroying.done {
		return false
	}
	g.destroying.done = true
	g.shutdown(replica.ErrRemoved)
	g.mu.Lock()
	next := max(g.desc.NextReplicaID, g.id+1, tomb)
	g.removed = true
	g.mu.Unlock()
	if err := destroyData(g.h.store, g.gid, next); err != nil {
		g.h.fatal(fmt.Errorf("driver: group %d: removing replica: %w", g.gid, err))
		return false
	}
	g.h.removeGroup(g, false)
	g.h.log.Info("replica removed; data deleted and tombstone written", "group", g.gid, "replica", g.id, "tombstone", next)
	return true
}

// destroyData deletes a group's replicated and unreplicated data and
// writes its tombstone, synced, in one batch.
func destroyData(store storage.Store, gid replica.GroupID, tomb replica.ReplicaID) error {
	b := store.NewBatch()
	defer b.Close()
	rs, re := storage.ReplicatedSpan(uint64(gid))
	us, ue := storage.UnreplicatedSpan(uint64(gid))
	if err := errors.Join(b.DeleteRange(rs, re), b.DeleteRange(us, ue),
		b.Set(storage.TombstoneKey(uint64(gid)), binary.AppendUvarint(nil, uint64(tomb)))); err != nil {
		return err
	}
	return b.Commit(true)
}
