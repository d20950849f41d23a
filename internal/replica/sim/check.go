package sim

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// checker holds what the run has seen and checks each step against it.
type checker struct {
	s *world
	// committed[g][index] is the first entry seen committed at index of
	// group g (g is the group's position in world.groups).
	committed []map[uint64]*committedEntry
	// digests[g][at] is the state digest first seen at applied index (and,
	// with Config.AsyncLoss, term: a replica that applied what a failover
	// lost differs from the new primary at the same index).
	digests []map[digestAt]digestSeen
	// termSeen[g][term] is when an entry of term was first seen committed
	// in group g: a failover, for Config.AsyncLoss.
	termSeen []map[uint64]int64
	// checkedTo[node][g]: the node's log was compared up to this index;
	// applied[node][g]: the applied index last digested (noApplied: none).
	checkedTo, applied [][]uint64
	machines           []*kv.Machine
	// notApplied: commands of attempts answered "certainly not applied";
	// committedCmds: every command seen committed, with where.
	notAppliedCmds map[string]*attempt
	committedCmds  map[string]string
	// pendingAcks: acknowledgements whose index has not been seen
	// committed yet.
	pendingAcks map[ackAt][]*op
}

type committedEntry struct {
	e    replica.LogEntry
	node string
}

type digestAt struct{ index, term uint64 }

type digestSeen struct {
	sum  [32]byte
	node string
}

type ackAt struct {
	g     int
	index uint64
}

const noApplied = ^uint64(0)

func newChecker(s *world) *checker {
	return &checker{s: s, notAppliedCmds: map[string]*attempt{}, committedCmds: map[string]string{}, pendingAcks: map[ackAt][]*op{}}
}

func (c *checker) init() {
	s := c.s
	c.committed = make([]map[uint64]*committedEntry, len(s.groups))
	c.digests = make([]map[digestAt]digestSeen, len(s.groups))
	c.termSeen = make([]map[uint64]int64, len(s.groups))
	for i, g := range s.groups {
		c.committed[i] = map[uint64]*committedEntry{}
		c.digests[i] = map[digestAt]digestSeen{}
		c.termSeen[i] = map[uint64]int64{}
		c.machines = append(c.machines, kv.New(uint64(g.id)))
	}
	c.checkedTo = make([][]uint64, len(s.nodes))
	c.applied = make([][]uint64, len(s.nodes))
	for i := range s.nodes {
		c.checkedTo[i] = make([]uint64, len(s.groups))
		c.applied[i] = make([]uint64, len(s.groups))
		for j := range c.applied[i] {
			c.applied[i][j] = noApplied
		}
	}
}

// gi is the position of group g in world.groups (IDs are 1..n).
func gi(g *groupInfo) int { return int(g.id) - 1 }

// nodeRestarted forgets what was checked of a node's old incarnation: its
// log and applied state may be shorter now, and must be checked again as
// they grow back.
func (c *checker) nodeRestarted(n *node) {
	clear(c.checkedTo[n.idx])
	for j := range c.applied[n.idx] {
		c.applied[n.idx][j] = noApplied
	}
}

// step checks every node that changed since the last step.
func (c *checker) step() {
	for _, n := range c.s.nodes {
		if !n.up || !n.touched {
			continue
		}
		n.touched = false
		for _, g := range c.s.groups { // membership changes move replicas
			c.nodeGroup(n, g)
			if c.s.violation != nil {
				return
			}
		}
	}
}

// nodeGroup compares a node's newly committed entries of group g with what
// every other replica committed, and digests its state if its applied
// index moved. It reads the node's store: the log through the engine's
// ReadLog, the applied state and the state machine's digest directly.
func (c *checker) nodeGroup(n *node, g *groupInfo) {
	s := c.s
	st := n.mem
	gid := uint64(g.id)
	from := c.checkedTo[n.idx][gi(g)] + 1
	dl, err := s.readLog(storage.ViewLog{View: st}, g.id, from)
	if errors.Is(err, storage.ErrNotFound) {
		// No replica here (yet, or any more: a removed one is deleted).
		// One created later starts over.
		c.checkedTo[n.idx][gi(g)], c.applied[n.idx][gi(g)] = 0, noApplied
		return
	} else if err != nil {
		s.failf(KindFatal, "node %s group %d: reading the log: %v", n.name, gid, err)
		return
	}
	commit := dl.Commit
	applied, err := storage.ReadAppliedState(st, gid)
	if err != nil {
		s.failf(KindFatal, "node %s group %d: %v", n.name, gid, err)
		return
	}
	if applied.Index > commit {
		s.failf(KindAppliedAhead, "node %s group %d: applied %d, commit %d", n.name, gid, applied.Index, commit)
		return
	}
	// Every committed entry from here to commit must be in the log.
	next := max(from, dl.Truncated+1)
	for _, e := range dl.Entries {
		if e.Index != next {
			break
		}
		c.committedAt(g, e, n)
		if s.violation != nil {
			return
		}
		next++
	}
	if next <= commit {
		s.failf(KindLogGap, "node %s group %d: committed entry %d (commit %d, truncated %d) is missing from the log",
			n.name, gid, next, commit, dl.Truncated)
		return
	}
	c.checkedTo[n.idx][gi(g)] = max(c.checkedTo[n.idx][gi(g)], commit)

	if applied.Index == c.applied[n.idx][gi(g)] {
		return
	}
	c.applied[n.idx][gi(g)] = applied.Index
	if ce := c.committed[gi(g)][applied.Index]; ce != nil && s.termsAgree && ce.e.Term != applied.Term && !c.lossy() {
		s.failf(KindAppliedTerm, "node %s group %d: applied index %d at term %d; the entry committed there has term %d (seen on %s)",
			n.name, gid, applied.Index, applied.Term, ce.e.Term, ce.node)
		return
	}
	idx, sum, err := c.machines[gi(g)].Digest(st)
	if err != nil {
		s.failf(KindFatal, "node %s group %d: digest: %v", n.name, gid, err)
		return
	}
	at := digestAt{index: idx}
	if c.lossy() {
		at.term = applied.Term
	}
	if prev, ok := c.digests[gi(g)][at]; !ok {
		c.digests[gi(g)][at] = digestSeen{sum, n.name}
	} else if prev.sum != sum {
		s.failf(KindDivergentState, "group %d at applied index %d: state of %s differs from that of %s (%x vs %x)",
			gid, idx, n.name, prev.node, sum[:6], prev.sum[:6])
	}
}

// committedAt records or compares entry e of group g as committed on n.
// Entries are compared by identity (LogEntry.Data), not by term: an engine
// may commit one entry under two generations.
func (c *checker) committedAt(g *groupInfo, e replica.LogEntry, n *node) {
	s := c.s
	index := e.Index
	if _, ok := c.termSeen[gi(g)][e.Term]; !ok {
		c.termSeen[gi(g)][e.Term] = s.now
	}
	prev := c.committed[gi(g)][index]
	if prev != nil && c.lossy() && prev.e.Term != e.Term && !bytes.Equal(prev.e.Data, e.Data) {
		// A failover lost what the new primary lacked: the newer term's
		// entry stays (final judges the acknowledged writes lost).
		if e.Term < prev.e.Term {
			return
		}
		prev = nil
	}
	if prev != nil {
		if !bytes.Equal(prev.e.Data, e.Data) {
			s.failf(KindDivergentCommit, "group %d index %d: %s committed %s (term %d), %s committed %s (term %d)",
				g.id, index, prev.node, describeEntry(prev.e), prev.e.Term, n.name, describeEntry(e), e.Term)
		}
		return
	}
	c.committed[gi(g)][index] = &committedEntry{e: e, node: n.name}
	if cmd := e.Command; cmd != nil {
		where := fmt.Sprintf("group %d index %d", g.id, index)
		if a := c.notAppliedCmds[string(cmd)]; a != nil {
			s.failf(KindNotAppliedButRan, "client %d op %d attempt %d was answered certainly not applied, but %s holds it",
				a.op.c.id, a.op.seq, a.n, where)
			return
		}
		if _, ok := c.committedCmds[string(cmd)]; !ok {
			c.committedCmds[string(cmd)] = where
		}
	}
	at := ackAt{gi(g), index}
	for _, o := range c.pendingAcks[at] {
		c.ackMatches(o, index, e)
	}
	delete(c.pendingAcks, at)
}

func describeEntry(e replica.LogEntry) string {
	if e.Command != nil {
		if k, err := kv.DecodeCommand(e.Command); err == nil {
			return fmt.Sprintf("client %d seq %d", k.Client, k.Seq)
		}
		return fmt.Sprintf("a command of %d bytes", len(e.Command))
	}
	return fmt.Sprintf("an entry of the engine's own, %d bytes", len(e.Data))
}

// acked checks an acknowledgement against the log: the index it was
// answered at, and the index its version names (the first application),
// must both hold an attempt of the same command.
func (c *checker) acked(o *op, a *attempt) {
	g := o.c.g
	indexes := []uint64{o.index}
	if o.kind != opDel {
		indexes = append(indexes, o.reply.Responses[0].Version)
	}
	for _, index := range indexes {
		if ce := c.committed[gi(g)][index]; ce != nil {
			c.ackMatches(o, index, ce.e)
		} else {
			at := ackAt{gi(g), index}
			c.pendingAcks[at] = append(c.pendingAcks[at], o)
		}
	}
}

func (c *checker) ackMatches(o *op, index uint64, e replica.LogEntry) {
	if !c.matches(o, e) && !c.lossy() {
		c.s.failf(KindWrongAck, "client %d op %d (%s %s) acknowledged with index %d (version %d), but group %d committed %s there",
			o.c.id, o.seq, o.kind, o.key, o.index, o.reply.Responses[0].Version, o.c.g.id, describeEntry(e))
	}
}

// lossy: the engine may lose acknowledged writes in a failover (Config.AsyncLoss).
func (c *checker) lossy() bool { return c.s.cfg.AsyncLoss > 0 }

// matches: e is an attempt of o's command.
func (c *checker) matches(o *op, e replica.LogEntry) bool {
	ok := e.Command != nil
	var k kv.Command
	var err error
	if ok {
		k, err = kv.DecodeCommand(e.Command)
	}
	return ok && err == nil && k.Client&(1<<sessionBits-1) == o.c.id && k.Seq == o.seq
}

// lostAcks (Config.AsyncLoss) finds group g's acknowledged writes that the
// final log lacks (final index top): each must have been acknowledged
// within AsyncLoss before the first newer term the checker saw committed
// after it (the failover that lost it), or before the acknowledging
// node stopped if it stopped first. It returns them, to be left out of
// the final checks.
func (c *checker) lostAcks(g *groupInfo, top uint64) map[*op]bool {
	s := c.s
	lost := map[*op]bool{}
	for _, cl := range s.clients {
		if cl.g != g {
			continue
		}
		for _, o := range cl.ops {
			if !o.acked {
				continue
			}
			if ce := c.committed[gi(g)][o.index]; o.index <= top && (ce == nil || c.matches(o, ce.e)) {
				// (Nil: no replica's log was read there before it was
				// truncated; the final state judges it, as in a lossless run.)
				continue
			}
			lost[o] = true
			// The acknowledging primary's tenure ended at the first newer
			// term seen committed after the ack, or when its node stopped
			// if sooner (a cluster that was down takes that long longer to
			// fail over: no primary acknowledged anything meanwhile).
			failover := int64(-1)
			for _, at := range c.termSeen[gi(g)] {
				if at > o.ackAt && (failover < 0 || at < failover) {
					failover = at
				}
			}
			for _, at := range o.ackedBy.stops {
				if at >= o.ackAt && (failover < 0 || at < failover) {
					failover = at
				}
			}
			if failover < 0 {
				held := "nothing"
				if ce := c.committed[gi(g)][o.index]; ce != nil {
					held = fmt.Sprintf("%s at term %d (seen on %s)", describeEntry(ce.e), ce.e.Term, ce.node)
				}
				s.failf(KindLostAck, "group %d: client %d op %d (%s %s), acknowledged at %dms with index %d, is lost (the final log, to %d, holds %s there), and no failover came after it",
					g.id, o.c.id, o.seq, o.kind, o.key, o.ackAt, o.index, top, held)
				return nil
			}
			w := time.Duration(failover-o.ackAt) * time.Millisecond
			if w > s.cfg.AsyncLoss {
				s.failf(KindLostAck, "group %d: client %d op %d (%s %s), acknowledged at %dms with index %d, is lost; the failover after it came %v later, beyond the loss window %v",
					g.id, o.c.id, o.seq, o.kind, o.key, o.ackAt, o.index, w, s.cfg.AsyncLoss)
				return nil
			}
			s.stats.LostAcked++
			s.stats.MaxLossWindow = max(s.stats.MaxLossWindow, w)
			if f := s.cfg.RolledBack; f != nil && f(o.attempts[len(o.attempts)-1].cmd) {
				s.stats.LostReported++
			}
		}
	}
	return lost
}

// notApplied records an attempt answered "certainly not applied"; it must
// never be seen committed, before or after.
func (c *checker) notApplied(a *attempt) {
	if where, ok := c.committedCmds[string(a.cmd)]; ok {
		c.s.failf(KindNotAppliedButRan, "client %d op %d attempt %d answered certainly not applied, but %s holds it",
			a.op.c.id, a.op.seq, a.n, where)
		return
	}
	c.notAppliedCmds[string(a.cmd)] = a
}

// final checks the healed, quiet cluster: every replica of a group in the
// same state, and that state holds every acknowledged command exactly once.
func (c *checker) final() {
	s := c.s
	for _, g := range s.groups {
		var first [32]byte
		var firstIdx uint64
		for i, n := range g.nodes {
			idx, sum, err := c.machines[gi(g)].Digest(n.mem)
			if err != nil {
				s.failf(KindFatal, "node %s group %d: digest: %v", n.name, g.id, err)
				return
			}
			if i == 0 {
				first, firstIdx = sum, idx
			} else if idx != firstIdx || sum != first {
				s.failf(KindDivergentState, "group %d after heal: %s at %d (%x), %s at %d (%x)",
					g.id, g.nodes[0].name, firstIdx, first[:6], n.name, idx, sum[:6])
				return
			}
		}
		c.finalGroup(g, firstIdx)
		if s.violation != nil {
			return
		}
	}
}

func (c *checker) finalGroup(g *groupInfo, top uint64) {
	s := c.s
	var lost map[*op]bool
	if c.lossy() {
		if lost = c.lostAcks(g, top); s.violation != nil {
			return
		}
	}
	lostKeys := map[string]bool{}
	view := g.nodes[0].mem
	get := func(key string) (string, bool) {
		it, ok, err := kv.Get(view, uint64(g.id), []byte(key))
		if err != nil {
			s.failf(KindFatal, "group %d: reading %s: %v", g.id, key, err)
		}
		return string(it.Value), ok
	}
	ops := map[string][]*op{} // key → ops on it
	var keys []string
	for _, cl := range s.clients {
		if cl.g != g {
			continue
		}
		for _, o := range cl.ops {
			if !o.acked {
				s.failf(KindNoConvergence, "client %d op %d never acknowledged", cl.id, o.seq)
				return
			}
			if lost[o] {
				lostKeys[o.key] = true
				continue
			}
			if _, ok := ops[o.key]; !ok {
				keys = append(keys, o.key)
			}
			ops[o.key] = append(ops[o.key], o)
		}
	}
	reads := map[string][]*read{}
	for _, cl := range s.clients {
		if cl.g != g {
			continue
		}
		for _, r := range cl.reads {
			if _, ok := ops[r.key]; !ok {
				if _, ok := reads[r.key]; !ok {
					keys = append(keys, r.key) // read, never written
				}
			}
			reads[r.key] = append(reads[r.key], r)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		val, found := get(key)
		if s.violation != nil {
			return
		}
		kops := ops[key]
		switch {
		case len(kops) == 0:
		case kops[0].kind == opTTL:
			// Expired by group time and the leader's sweep, or not yet:
			// checked only through the replicas' digests.
			if !found {
				s.stats.Expired++
			}
		case kops[0].kind == opIncr:
			c.finalCounter(g, key, val, found, kops)
		case kops[0].kind == opAppend:
			c.finalAppend(g, key, val, kops)
		default:
			c.finalPut(g, key, val, found, kops)
		}
		if s.violation == nil && len(reads[key]) > 0 && !lostKeys[key] {
			if strings.HasPrefix(key, "ctr/") {
				c.counterReads(g, key, val, found, kops, reads[key])
			} else {
				c.logReads(g, key, val, kops, reads[key])
			}
		}
		if s.violation != nil {
			return
		}
	}
}

// finalCounter: the counter equals its increments; their answers are
// 1..n, each once, and an increment answered before another began saw a
// smaller value.
func (c *checker) finalCounter(g *groupInfo, key, val string, found bool, ops []*op) {
	s := c.s
	var got int64
	if found {
		var err error
		if got, err = strconv.ParseInt(val, 10, 64); err != nil {
			s.failf(KindBadReply, "group %d counter %s holds %q", g.id, key, val)
			return
		}
	}
	want := int64(len(ops))
	switch {
	case got > want:
		s.failf(KindDoubleApply, "group %d counter %s is %d after %d increments, each acknowledged once", g.id, key, got, want)
		return
	case got < want:
		s.failf(KindLostAck, "group %d counter %s is %d after %d acknowledged increments", g.id, key, got, want)
		return
	}
	seen := map[int64]*op{}
	for _, o := range ops {
		v := o.reply.Responses[0].Int
		if v < 1 || v > want {
			s.failf(KindBadReply, "group %d counter %s: client %d op %d answered %d, outside 1..%d", g.id, key, o.c.id, o.seq, v, want)
			return
		}
		if p := seen[v]; p != nil {
			s.failf(KindDoubleApply, "group %d counter %s: client %d op %d and client %d op %d both answered %d",
				g.id, key, p.c.id, p.seq, o.c.id, o.seq, v)
			return
		}
		seen[v] = o
	}
	// Real time: sweep by invocation; every op acknowledged before o was
	// invoked must have answered less than o.
	byAck := slices.Clone(ops)
	slices.SortFunc(byAck, func(a, b *op) int { return cmp.Compare(a.ackAt, b.ackAt) })
	byInvoke := slices.Clone(ops)
	slices.SortFunc(byInvoke, func(a, b *op) int { return cmp.Compare(a.invoke, b.invoke) })
	var maxDone int64
	var maxOp *op
	j := 0
	for _, o := range byInvoke {
		for j < len(byAck) && byAck[j].ackAt < o.invoke {
			if v := byAck[j].reply.Responses[0].Int; v > maxDone {
				maxDone, maxOp = v, byAck[j]
			}
			j++
		}
		if v := o.reply.Responses[0].Int; v <= maxDone {
			s.failf(KindRealTime, "group %d counter %s: client %d op %d (invoked at %dms) answered %d, but client %d op %d answered %d at %dms",
				g.id, key, o.c.id, o.seq, o.invoke, v, maxOp.c.id, maxOp.seq, maxDone, maxOp.ackAt)
			return
		}
	}
}

// finalAppend: the log holds one token per append, each once, from an
// attempt not answered "certainly not applied", ending where its answer
// said the value ended.
func (c *checker) finalAppend(g *groupInfo, key, val string, ops []*op) {
	s := c.s
	type tok struct {
		attempt int
		end     int64
	}
	toks := map[[2]uint64]tok{}
	pos := 0
	for _, t := range strings.SplitAfter(val, ";") {
		if t == "" {
			continue
		}
		pos += len(t)
		var cl, seq uint64
		var n int
		if _, err := fmt.Sscanf(t, "%d.%d.%d;", &cl, &seq, &n); err != nil {
			s.failf(KindBadReply, "group %d log %s: malformed token %q", g.id, key, t)
			return
		}
		k := [2]uint64{cl, seq}
		if _, dup := toks[k]; dup {
			s.failf(KindDoubleApply, "group %d log %s: client %d op %d appended twice (%q)", g.id, key, cl, seq, val)
			return
		}
		toks[k] = tok{n, int64(pos)}
	}
	for _, o := range ops {
		t, ok := toks[[2]uint64{o.c.id, o.seq}]
		if !ok {
			s.failf(KindLostAck, "group %d log %s: acknowledged append client %d op %d (index %d) is missing", g.id, key, o.c.id, o.seq, o.index)
			return
		}
		delete(toks, [2]uint64{o.c.id, o.seq})
		if t.attempt < 1 || t.attempt > len(o.attempts) {
			s.failf(KindBadReply, "group %d log %s: client %d op %d: token of attempt %d, of %d made", g.id, key, o.c.id, o.seq, t.attempt, len(o.attempts))
			return
		}
		if o.attempts[t.attempt-1].notApplied {
			s.failf(KindNotAppliedButRan, "group %d log %s: client %d op %d attempt %d was answered certainly not applied, but it is the one applied",
				g.id, key, o.c.id, o.seq, t.attempt)
			return
		}
		if got := o.reply.Responses[0].Int; got != t.end {
			s.failf(KindBadReply, "group %d log %s: client %d op %d answered length %d, but its token ends at %d",
				g.id, key, o.c.id, o.seq, got, t.end)
			return
		}
	}
	if len(toks) > 0 {
		s.failf(KindDoubleApply, "group %d log %s: %d tokens of no acknowledged append on this key (%q)", g.id, key, len(toks), val)
	}
}

// finalPut: each of a client's keys holds its last put, or is absent if
// its last write was a delete.
func (c *checker) finalPut(g *groupInfo, key, val string, found bool, ops []*op) {
	s := c.s
	last := ops[len(ops)-1] // one client per key, in seq order
	if last.kind == opDel {
		if found {
			s.failf(KindLostAck, "group %d key %s holds %q; the last acknowledged write, client %d op %d, deleted it",
				g.id, key, val, last.c.id, last.seq)
		}
		return
	}
	if !found {
		s.failf(KindLostAck, "group %d key %s: missing; client %d op %d put it", g.id, key, last.c.id, last.seq)
		return
	}
	var cl, seq uint64
	var n int
	if _, err := fmt.Sscanf(val, "%d.%d.%d", &cl, &seq, &n); err != nil {
		s.failf(KindBadReply, "group %d key %s holds %q", g.id, key, val)
		return
	}
	if cl != last.c.id || seq != last.seq {
		s.failf(KindLostAck, "group %d key %s holds %q; the last acknowledged put was client %d op %d", g.id, key, val, last.c.id, last.seq)
		return
	}
	if n < 1 || n > len(last.attempts) {
		s.failf(KindBadReply, "group %d key %s holds %q, of an attempt never made", g.id, key, val)
		return
	}
	if last.attempts[n-1].notApplied {
		s.failf(KindNotAppliedButRan, "group %d key %s: client %d op %d attempt %d was answered certainly not applied, but it is the one applied",
			g.id, key, last.c.id, last.seq, n)
	}
}

// counterReads: a read of a counter is linearizable if it saw every
// increment acknowledged before it began, and none that began after it
// ended (each increment answered a distinct value, 1..final; finalCounter
// checked that).
func (c *checker) counterReads(g *groupInfo, key, val string, found bool, ops []*op, reads []*read) {
	s := c.s
	byValue := map[int64]*op{}
	for _, o := range ops {
		byValue[o.reply.Responses[0].Int] = o
	}
	for _, r := range reads {
		var got int64
		if r.found {
			var err error
			if got, err = strconv.ParseInt(r.value, 10, 64); err != nil {
				s.failf(KindBadReply, "group %d: client %d read %d of %s returned %q", g.id, r.c.id, r.n, key, r.value)
				return
			}
		}
		for _, o := range ops {
			if v := o.reply.Responses[0].Int; o.ackAt < r.invoke && v > got {
				s.failf(KindStaleRead, "group %d: client %d %s read %d of %s on %s (at %d..%dms) returned %d, but client %d op %d had made it %d at %dms",
					g.id, r.c.id, r.mode, r.n, key, r.node.name, r.invoke, r.resp, got, o.c.id, o.seq, v, o.ackAt)
				return
			}
		}
		if got > 0 {
			if o := byValue[got]; o == nil || o.invoke > r.resp {
				s.failf(KindStaleRead, "group %d: client %d %s read %d of %s on %s (at %d..%dms) returned %d, which no increment begun by then made",
					g.id, r.c.id, r.mode, r.n, key, r.node.name, r.invoke, r.resp, got)
				return
			}
		}
	}
}

// logReads: a read of an append log is linearizable if it is a prefix of
// the final log holding every append acknowledged before it began, and
// whose last token is of an append begun before it ended.
func (c *checker) logReads(g *groupInfo, key, val string, ops []*op, reads []*read) {
	s := c.s
	byTag := map[[2]uint64]*op{}
	for _, o := range ops {
		byTag[[2]uint64{o.c.id, o.seq}] = o
	}
	for _, r := range reads {
		if !strings.HasPrefix(val, r.value) {
			s.failf(KindStaleRead, "group %d: client %d %s read %d of %s on %s returned %q, not a prefix of the final %q",
				g.id, r.c.id, r.mode, r.n, key, r.node.name, r.value, val)
			return
		}
		for _, o := range ops {
			if end := o.reply.Responses[0].Int; o.ackAt < r.invoke && end > int64(len(r.value)) {
				s.failf(KindStaleRead, "group %d: client %d %s read %d of %s on %s (at %d..%dms) missed client %d op %d, acknowledged at %dms",
					g.id, r.c.id, r.mode, r.n, key, r.node.name, r.invoke, r.resp, o.c.id, o.seq, o.ackAt)
				return
			}
		}
		if r.value == "" {
			continue
		}
		toks := strings.SplitAfter(strings.TrimSuffix(r.value, ";"), ";")
		var cl, seq uint64
		var n int
		if _, err := fmt.Sscanf(toks[len(toks)-1], "%d.%d.%d", &cl, &seq, &n); err != nil {
			s.failf(KindBadReply, "group %d: client %d read %d of %s returned %q", g.id, r.c.id, r.n, key, r.value)
			return
		}
		if o := byTag[[2]uint64{cl, seq}]; o == nil || o.invoke > r.resp {
			s.failf(KindStaleRead, "group %d: client %d %s read %d of %s on %s (at %d..%dms) returned a token of an append not begun by then",
				g.id, r.c.id, r.mode, r.n, key, r.node.name, r.invoke, r.resp)
			return
		}
	}
}
