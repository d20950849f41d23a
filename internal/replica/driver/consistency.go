package driver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
)

// Consistency checks (DESIGN.md, Engines):
//
//	leader, every ConsistencyCheckInterval (or CheckConsistency): propose a
//	        driver entry of kind check, naming itself as the proposer
//	every replica, applying it at index i: apply the entries up to i,
//	        commit the apply batch so far, take a store snapshot (the
//	        group's state at exactly i), go on with a fresh batch; digest
//	        the snapshot on a goroutine of its own (kv's Digest), one at a
//	        time per host; report (i, digest) to the proposer as a driver
//	        message (transport.KindDriver), or to itself
//	proposer: once every voter reported, or after ConsistencyCheckTimeout,
//	        judge: the digest a majority of the voters hold is right;
//	        count and log a difference; tell each replica that reported
//	        the verdict and whether it differs
//	a replica told it differs: remembers it (durably), serves no reads,
//	        proposes nothing, hands leadership away and asks for no votes,
//	        until a snapshot rebuilds its state or it is removed (the
//	        node asks the leader to replace it; the rebalancer adds a new
//	        replica on the same node, which catches up by snapshot)
//	every replica told there is no majority: refuses writes until a
//	        later check finds one
//
// NB: the digest of a check is taken from a store snapshot at exactly the
// check's index, so it never blocks the round; only committing the apply
// batch early, once per check entry, is on the apply path.

// checkState is a replica's part in consistency checks. The fields after
// inbox are owned by whoever holds g.mu (a round), except the atomics.
type checkState struct {
	inbox struct {
		sync.Mutex
		reports  []checkReport
		verdicts []checkVerdict
	}
	// diverged and noMajority mirror the replica's persisted alarm (the
	// check indexes; 0: none), read without g.mu by Read and IsLeader.
	diverged, noMajority atomic.Uint64
	// pending: a periodic check was proposed and is not settled yet.
	pending atomic.Bool

	next       int // the tick of the leader's next periodic check; 0: not leading
	collecting map[uint64]*collection
	decided    uint64 // the highest check index judged; reports at or below it are late
	recent     []replica.Check
	waiters    map[uint64][]chan replica.Check
}

// recentChecks is how many verdicts a proposer keeps for CheckConsistency
// callers that ask after the verdict came.
const recentChecks = 8

// collection gathers the reports of one check on its proposer.
type collection struct {
	index   uint64
	started int // the tick it began
	// own: the proposer applied the check itself, so desc is the
	// group's membership at the check.
	own     bool
	desc    replica.Descriptor
	reports map[replica.ReplicaID]checkReport
}

// checkReport is one replica's digest for the check at index.
type checkReport struct {
	from    replica.ReplicaID
	index   uint64 // the check's index
	applied uint64 // the applied index the digest covers
	sum     [32]byte
	err     string // "" when sum is set
}

// checkVerdict tells a replica what a check found.
type checkVerdict struct {
	index   uint64
	verdict replica.Verdict
	differs bool
}

// The driver messages' payloads: [0] what it is, then its fields.
const (
	msgReport  = 1 // [1:9] check index, [9:17] applied, [17] 1 ok / 0 error, [18:50] sum or [18:] error text
	msgVerdict = 2 // [1:9] check index, [9] verdict, [10] 1 differs
)

func encodeReport(r checkReport) []byte {
	b := make([]byte, 18, 50)
	b[0] = msgReport
	binary.BigEndian.PutUint64(b[1:9], r.index)
	binary.BigEndian.PutUint64(b[9:17], r.applied)
	if r.err != "" {
		return append(b, r.err...)
	}
	b[17] = 1
	return append(b, r.sum[:]...)
}

func encodeVerdict(v checkVerdict) []byte {
	b := make([]byte, 11)
	b[0] = msgVerdict
	binary.BigEndian.PutUint64(b[1:9], v.index)
	b[9] = byte(v.verdict)
	if v.differs {
		b[10] = 1
	}
	return b
}

var errDriverMsg = errors.New("driver: malformed driver message")

// decodeDriverMsg decodes a driver message from replica from: a report
// or a verdict.
func decodeDriverMsg(from replica.ReplicaID, b []byte) (*checkReport, *checkVerdict, error) {
	if len(b) == 0 {
		return nil, nil, errDriverMsg
	}
	switch b[0] {
	case msgReport:
		if len(b) < 18 {
			return nil, nil, errDriverMsg
		}
		r := &checkReport{from: from, index: binary.BigEndian.Uint64(b[1:9]), applied: binary.BigEndian.Uint64(b[9:17])}
		switch b[17] {
		case 1:
			if len(b) != 50 {
				return nil, nil, errDriverMsg
			}
			copy(r.sum[:], b[18:])
		case 0:
			r.err = string(b[18:])
			if r.err == "" {
				r.err = "no digest"
			}
		default:
			return nil, nil, errDriverMsg
		}
		return r, nil, nil
	case msgVerdict:
		if len(b) != 11 || b[9] > byte(replica.VerdictIncomplete) || b[10] > 1 {
			return nil, nil, errDriverMsg
		}
		return nil, &checkVerdict{index: binary.BigEndian.Uint64(b[1:9]), verdict: replica.Verdict(b[9]), differs: b[10] == 1}, nil
	}
	return nil, nil, errDriverMsg
}

// The persisted alarm (storage.ConsistencyKey): [0] version 1, then the
// index of the check that found the replica differs and of the last that
// found no majority, as uvarints (0: none).
func encodeAlarm(diverged, noMajority uint64) []byte {
	b := []byte{1}
	b = binary.AppendUvarint(b, diverged)
	return binary.AppendUvarint(b, noMajority)
}

func decodeAlarm(b []byte) (diverged, noMajority uint64, err error) {
	if len(b) == 0 || b[0] != 1 {
		return 0, 0, errors.New("driver: malformed consistency record")
	}
	d, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return 0, 0, errors.New("driver: malformed consistency record")
	}
	nm, m := binary.Uvarint(b[1+n:])
	if m <= 0 || 1+n+m != len(b) {
		return 0, 0, errors.New("driver: malformed consistency record")
	}
	return d, nm, nil
}

// loadAlarm reads the replica's persisted alarm, at open.
func (c *checkState) load(v storage.View, gid replica.GroupID) error {
	raw, err := v.Get(storage.ConsistencyKey(uint64(gid)))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	d, nm, err := decodeAlarm(raw)
	if err != nil {
		return fmt.Errorf("group %d: %w", gid, err)
	}
	c.diverged.Store(d)
	c.noMajority.Store(nm)
	return nil
}

// stageAlarm writes the alarm as the atomics hold it into b.
func (c *checkState) stageAlarm(b storage.Batch, gid replica.GroupID) error {
	d, nm := c.diverged.Load(), c.noMajority.Load()
	if d == 0 && nm == 0 {
		return b.Delete(storage.ConsistencyKey(uint64(gid)))
	}
	return b.Set(storage.ConsistencyKey(uint64(gid)), encodeAlarm(d, nm))
}

// saveAlarm makes the alarm durable on its own.
func (g *group) saveAlarm() {
	b := g.h.store.NewBatch()
	defer b.Close()
	if err := g.cc.stageAlarm(b, g.gid); err != nil {
		g.h.fatal(fmt.Errorf("driver: group %d: saving the consistency alarm: %w", g.gid, err))
		return
	}
	if err := b.Commit(true); err != nil {
		g.h.fatal(fmt.Errorf("driver: group %d: saving the consistency alarm: %w", g.gid, err))
	}
}

// refusal is why the replica must not hand p to its core, or nil.
func (g *group) refusal(p *proposal) error {
	if g.cc.diverged.Load() != 0 {
		// Its answers would come from its own, wrong state.
		return &replica.ErrNotLeader{Group: g.gid}
	}
	if p.cc == nil && !IsEntry(p.data) && g.cc.noMajority.Load() != 0 {
		return fmt.Errorf("driver: group %d: %w", g.gid, replica.ErrNoMajority)
	}
	return nil
}

// CheckConsistency implements replica.Group.
func (g *group) CheckConsistency(ctx context.Context) (replica.Check, error) {
	if !g.IsLeader() {
		st := g.Status()
		return replica.Check{}, &replica.ErrNotLeader{Group: g.gid, Hint: st.Leader, HintNode: st.LeaderNode}
	}
	p := &proposal{id: nextProposalID()}
	p.data = FrameEntry(p.id, EntryCheck, uint64(g.id))
	_, index, err := g.propose(ctx, p)
	if err != nil {
		return replica.Check{}, err
	}
	ch := make(chan replica.Check, 1)
	g.mu.Lock()
	if i := slices.IndexFunc(g.cc.recent, func(c replica.Check) bool { return c.Index == index }); i >= 0 {
		c := g.cc.recent[i]
		g.mu.Unlock()
		return c, nil
	}
	if g.closed {
		g.mu.Unlock()
		return replica.Check{}, replica.ErrStopped
	}
	if g.cc.waiters == nil {
		g.cc.waiters = make(map[uint64][]chan replica.Check)
	}
	g.cc.waiters[index] = append(g.cc.waiters[index], ch)
	g.mu.Unlock()
	select {
	case c := <-ch:
		return c, nil
	case <-ctx.Done():
		g.mu.Lock()
		g.cc.waiters[index] = slices.DeleteFunc(g.cc.waiters[index], func(w chan replica.Check) bool { return w == ch })
		if len(g.cc.waiters[index]) == 0 {
			delete(g.cc.waiters, index)
		}
		g.mu.Unlock()
		return replica.Check{}, fmt.Errorf("driver: group %d: consistency check at %d: %w", g.gid, index, ctx.Err())
	}
}

// tickChecks runs a tick's check duties. g.mu is held.
func (g *group) tickChecks(st Basic) {
	timeout := max(1, int(g.h.cfg.ConsistencyCheckTimeout/g.h.cfg.TickInterval))
	for _, idx := range sortedKeys(g.cc.collecting) {
		if c := g.cc.collecting[idx]; g.ticks-c.started >= timeout {
			g.judge(c, true)
		}
	}
	if st.State != replica.StateLeader {
		g.cc.next = 0
		return
	}
	if g.cc.diverged.Load() != 0 {
		if st.LeadTransferee == 0 {
			if to := g.bestFollower(); to != 0 {
				g.h.log.Warn("this replica differs from its group's majority: handing leadership away",
					"group", g.gid, "partition", g.gid.Partition(), "replica", g.id, "to", to)
				g.core.TransferLeader(to)
			}
		}
		return
	}
	interval := int(g.h.cfg.ConsistencyCheckInterval / g.h.cfg.TickInterval)
	if g.h.cfg.ConsistencyCheckInterval <= 0 || !g.initialized() {
		return
	}
	interval = max(1, interval)
	if g.cc.next == 0 {
		// The first check of a new leader comes after a spread of the
		// interval that depends on the group, so that the groups of a
		// node do not all digest at once (and a simulation replays it).
		g.cc.next = g.ticks + 1 + int((uint64(g.gid)+1)*0x9e3779b97f4a7c15>>33)%interval
	}
	if g.ticks < g.cc.next || g.cc.pending.Load() {
		return
	}
	g.cc.next = g.ticks + interval
	p := &proposal{id: nextProposalID()}
	p.data = FrameEntry(p.id, EntryCheck, uint64(g.id))
	g.cc.pending.Store(true)
	p.done = func([]byte, uint64, error) { g.cc.pending.Store(false) }
	g.held = append(g.held, p)
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// collect returns the collection of the check at index, making it.
func (g *group) collect(index uint64) *collection {
	c := g.cc.collecting[index]
	if c == nil {
		if g.cc.collecting == nil {
			g.cc.collecting = make(map[uint64]*collection)
		}
		c = &collection{index: index, started: g.ticks, reports: map[replica.ReplicaID]checkReport{}}
		g.cc.collecting[index] = c
	}
	return c
}

// digestJob is one replica's digest of the state at a check's index.
type digestJob struct {
	g        *group
	index    uint64
	proposer uint64
	node     string // the proposer's node
	snap     storage.Snapshot
}

// checkApplied is called by apply once the check at index is applied and
// the state there is in snap (nil when the state machine cannot digest).
// g.mu is held.
func (g *group) checkApplied(index uint64, d Entry, snap storage.Snapshot) {
	if d.Proposer == uint64(g.id) {
		c := g.collect(index)
		c.own, c.desc = true, g.desc.Clone()
	}
	j := digestJob{g: g, index: index, proposer: d.Proposer, node: g.nodeOf(replica.ReplicaID(d.Proposer)), snap: snap}
	if snap == nil {
		g.deliver(j, checkReport{from: g.id, index: index, err: "the state machine has no digest"})
		return
	}
	if g.h.cfg.Manual {
		// No goroutines of its own: the caller decides every step.
		g.h.digest(j)
		return
	}
	g.h.wg.Add(1)
	go func() {
		defer g.h.wg.Done()
		g.h.digest(j)
	}()
}

// digest computes j's digest, one at a time per host (a digest reads the
// group's whole state), and delivers it.
func (h *Host) digest(j digestJob) {
	defer j.snap.Close()
	h.digestMu.Lock()
	defer h.digestMu.Unlock()
	select {
	case <-h.stop:
		return
	default:
	}
	r := checkReport{from: j.g.id, index: j.index}
	var err error
	if dg, ok := j.g.sm.(replica.Digester); ok {
		r.applied, r.sum, err = dg.Digest(j.snap)
	} else {
		err = errors.New("the state machine has no digest")
	}
	if err != nil {
		r.err = err.Error()
	}
	j.g.deliver(j, r)
}

// deliver hands a report to the check's proposer: this replica's inbox,
// or a driver message to the proposer's node.
func (g *group) deliver(j digestJob, r checkReport) {
	if j.proposer == uint64(g.id) {
		g.cc.inbox.Lock()
		g.cc.inbox.reports = append(g.cc.inbox.reports, r)
		g.cc.inbox.Unlock()
		g.h.schedule(g)
		return
	}
	if g.h.tr == nil || j.node == "" {
		return
	}
	g.h.tr.Send(j.node, []transport.Message{{Group: uint64(g.gid), From: uint64(g.id), To: j.proposer,
		Kind: transport.KindDriver, Payload: encodeReport(r)}})
}

// handleDriverMessage takes a driver message for a local replica. It
// creates no replica: a report or verdict for one that is not here (any
// more) is dropped.
func (h *Host) handleDriverMessage(m transport.Message) {
	h.mu.Lock()
	g := h.mu.groups[replica.GroupID(m.Group)]
	h.mu.Unlock()
	if g == nil || uint64(g.id) != m.To {
		return
	}
	r, v, err := decodeDriverMsg(replica.ReplicaID(m.From), m.Payload)
	if err != nil {
		h.log.Warn("dropping a malformed driver message", "group", m.Group, "from", m.From, "err", err)
		return
	}
	g.cc.inbox.Lock()
	if r != nil {
		g.cc.inbox.reports = append(g.cc.inbox.reports, *r)
	} else {
		g.cc.inbox.verdicts = append(g.cc.inbox.verdicts, *v)
	}
	g.cc.inbox.Unlock()
	h.schedule(g)
}

// processChecks takes the reports and verdicts that arrived. g.mu is held.
func (g *group) processChecks() {
	g.cc.inbox.Lock()
	reports, verdicts := g.cc.inbox.reports, g.cc.inbox.verdicts
	g.cc.inbox.reports, g.cc.inbox.verdicts = nil, nil
	g.cc.inbox.Unlock()
	for _, r := range reports {
		if r.index <= g.cc.decided && g.cc.collecting[r.index] == nil {
			continue // judged already: too late
		}
		c := g.collect(r.index)
		c.reports[r.from] = r
		if c.own && c.allVoters() {
			g.judge(c, false)
		}
	}
	for _, v := range verdicts {
		g.takeVerdict(v)
	}
}

// allVoters says every voter of the check has reported.
func (c *collection) allVoters() bool {
	for _, id := range c.desc.Voters {
		if _, ok := c.reports[id]; !ok {
			return false
		}
	}
	return true
}

// judge decides the check c, complete or timedOut, tells the replicas
// that reported, and answers CheckConsistency callers. g.mu is held.
func (g *group) judge(c *collection, timedOut bool) {
	delete(g.cc.collecting, c.index)
	g.cc.decided = max(g.cc.decided, c.index)
	desc := c.desc
	if !c.own {
		desc = g.desc // the proposer never applied it (a snapshot went past it): judge by today's members
	}
	check := verdictOf(g.gid, c.index, desc, c.reports)
	g.cc.recent = append(g.cc.recent, check)
	if len(g.cc.recent) > recentChecks {
		g.cc.recent = slices.Delete(g.cc.recent, 0, len(g.cc.recent)-recentChecks)
	}
	// NB: the metrics before the answer, so a caller of CheckConsistency
	// (cairn admin verify) that reads them next sees this check counted.
	g.h.metrics.checks.WithLabelValues(check.Verdict.String()).Inc()
	if check.Verdict == replica.VerdictMismatch || check.Verdict == replica.VerdictNoMajority {
		g.h.metrics.mismatches.Inc()
	}
	for _, ch := range g.cc.waiters[c.index] {
		ch <- check
	}
	delete(g.cc.waiters, c.index)

	var differ []string
	for _, r := range check.Replicas {
		if r.Differs {
			differ = append(differ, fmt.Sprintf("replica %d on %s", r.Replica, r.Node))
		}
	}
	attrs := []any{"group", g.gid, "partition", g.gid.Partition(), "index", c.index, "timed_out", timedOut}
	switch check.Verdict {
	case replica.VerdictMismatch:
		g.h.log.Error("consistency check: replicas differ from the majority; they stop serving and are rebuilt",
			append(attrs, "differ", differ, "replicas", checkSummary(check))...)
	case replica.VerdictNoMajority:
		g.h.log.Error("consistency check: replicas differ and no majority agrees; the group refuses writes until repaired",
			append(attrs, "replicas", checkSummary(check))...)
	case replica.VerdictIncomplete:
		g.h.log.Info("consistency check: not every voter reported in time", append(attrs, "replicas", checkSummary(check))...)
	default:
		g.h.log.Debug("consistency check: replicas agree", attrs...)
	}
	if check.Verdict == replica.VerdictIncomplete {
		return // nothing learned: the next check decides
	}
	out := outbox{}
	for _, r := range check.Replicas {
		if !r.Reported && check.Verdict != replica.VerdictNoMajority {
			continue
		}
		v := checkVerdict{index: c.index, verdict: check.Verdict, differs: r.Differs}
		if r.Replica == g.id {
			g.takeVerdict(v)
			continue
		}
		if r.Node != "" {
			out[r.Node] = append(out[r.Node], transport.Message{Group: uint64(g.gid), From: uint64(g.id), To: uint64(r.Replica),
				Kind: transport.KindDriver, Payload: encodeVerdict(v)})
		}
	}
	if g.h.tr != nil {
		out.flush(g.h.tr)
	}
}

// checkSummary is "replica 1 on n1 1042/3fa2c1d0, replica 3 on n3 -" for a log line.
func checkSummary(c replica.Check) []string {
	var out []string
	for _, r := range c.Replicas {
		s := fmt.Sprintf("replica %d on %s ", r.Replica, r.Node)
		switch {
		case !r.Reported:
			s += "-"
		case r.Err != "":
			s += "error: " + r.Err
		default:
			s += fmt.Sprintf("%d/%x", r.Index, r.Digest[:4])
		}
		out = append(out, s)
	}
	return out
}

// verdictOf judges the reports of the check at index against desc, the
// group's membership there: the digest held by a majority of its voters
// is right. It is a pure function (a table test covers it).
func verdictOf(gid replica.GroupID, index uint64, desc replica.Descriptor, reports map[replica.ReplicaID]checkReport) replica.Check {
	check := replica.Check{Group: gid, Index: index}
	type key struct {
		applied uint64
		sum     [32]byte
	}
	votes := map[key]int{}
	voter := map[replica.ReplicaID]bool{}
	for _, id := range desc.Voters {
		voter[id] = true
		if r, ok := reports[id]; ok && r.err == "" {
			votes[key{r.applied, r.sum}]++
		}
	}
	var majority *key
	for k, n := range votes {
		if n > len(desc.Voters)/2 {
			majority = &k
		}
	}
	reported, digests := 0, map[key]bool{} // reported: voters with a digest
	for _, m := range desc.Replicas {
		cr := replica.CheckReplica{Replica: m.ID, Node: m.Node, Voter: voter[m.ID]}
		if r, ok := reports[m.ID]; ok {
			cr.Reported, cr.Err, cr.Index, cr.Digest = true, r.err, r.applied, r.sum
			if r.err == "" {
				k := key{r.applied, r.sum}
				digests[k] = true
				cr.Differs = majority != nil && k != *majority
				if cr.Voter {
					reported++
				}
			}
		}
		check.Replicas = append(check.Replicas, cr)
	}
	slices.SortFunc(check.Replicas, func(a, b replica.CheckReplica) int { return int(a.Replica) - int(b.Replica) })
	switch {
	case len(digests) > 1 && majority != nil:
		check.Verdict = replica.VerdictMismatch
	case len(digests) > 1:
		check.Verdict = replica.VerdictNoMajority
	case majority != nil && reported == len(desc.Voters):
		check.Verdict = replica.VerdictAgree
	default:
		check.Verdict = replica.VerdictIncomplete
	}
	return check
}

// differing is the index of the last check this replica judged that found
// replica id differs from the majority, or 0: leadership must not go to
// it (it would not take it: it asks for no votes). g.mu is held.
func (c *checkState) differing(id replica.ReplicaID) uint64 {
	for i := len(c.recent) - 1; i >= 0; i-- {
		for _, r := range c.recent[i].Replicas {
			if r.Replica == id && r.Reported {
				if r.Differs {
					return c.recent[i].Index
				}
				return 0
			}
		}
	}
	return 0
}

// takeVerdict applies what a check found to this replica. g.mu is held.
func (g *group) takeVerdict(v checkVerdict) {
	changed := false
	if v.differs && g.cc.diverged.Load() == 0 {
		g.cc.diverged.Store(v.index)
		changed = true
		g.h.log.Error("consistency check: this replica's state differs from its group's majority; it stops serving until rebuilt from a snapshot",
			"group", g.gid, "partition", g.gid.Partition(), "replica", g.id, "index", v.index)
	}
	switch nm := g.cc.noMajority.Load(); {
	case v.verdict == replica.VerdictNoMajority && v.index > nm:
		g.cc.noMajority.Store(v.index)
		changed = true
	case v.verdict != replica.VerdictNoMajority && nm != 0 && v.index > nm:
		g.cc.noMajority.Store(0)
		changed = true
		g.h.log.Info("consistency check: a majority agrees again; writes accepted", "group", g.gid, "index", v.index)
	}
	if changed {
		g.saveAlarm()
	}
}

// rebuilt clears the replica's divergence once a snapshot replaced
// its whole replicated state with the leader's; it stages that into b,
// the snapshot's batch.
func (g *group) rebuilt(b storage.Batch) error {
	if g.cc.diverged.Load() == 0 {
		return nil
	}
	d := g.cc.diverged.Swap(0)
	if err := g.cc.stageAlarm(b, g.gid); err != nil {
		g.cc.diverged.Store(d)
		return err
	}
	g.h.log.Info("consistency check: replica rebuilt from a snapshot; serving again", "group", g.gid, "replica", g.id, "diverged_at", d)
	return nil
}
