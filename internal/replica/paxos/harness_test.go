package paxos

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// The harness: N cores, each over its own storage.Mem, driven exactly in
// the driver's order (Ready; Stage into a batch; send early messages;
// commit the batch, synced if MustSync; apply Committed; send late
// messages; Advance), over a network the test controls. A crash keeps
// only what the store made durable and rebuilds the core from it; a crash
// inside a round loses that round's batch after its early messages left.
// Every step checks safety (checker).

const (
	testGroup     = 7
	electionTicks = 10
	hbTicks       = 2
)

// envelope is a message in flight; snap carries a snapshot's data.
type envelope struct {
	from, to replica.ReplicaID
	payload  []byte
	snap     *snapData
}

// snapData is a snapshot's stream: every key of the group's replicated
// span at its point.
type snapData struct {
	at   driver.SnapshotPoint
	kvs  [][2][]byte
	from replica.ReplicaID
}

type node struct {
	id      replica.ReplicaID
	store   *storage.Mem
	core    *Core
	up      bool
	applied uint64
	snap    *snapData // received, waiting for the core's Ready
}

type cluster struct {
	t     testing.TB
	rng   *rand.Rand
	nodes map[replica.ReplicaID]*node
	ids   []replica.ReplicaID
	net   []envelope
	cut   map[[2]replica.ReplicaID]bool

	drop, dup float64 // per delivered message
	// delay is the chance a message picked for delivery goes back to the
	// end of the queue instead: some messages arrive very late.
	delay float64
	// crashInRound is the chance a round crashes between its early sends
	// and its batch's commit.
	crashInRound float64

	chk     checker
	nextID  uint64
	pending map[string]uint64 // reads in flight: ctx → the highest committed index when asked
	// observe, if set, sees every round's Ready once its batch committed
	// (crashed: the round crashed inside its fsync instead).
	observe func(n *node, rd *driver.Ready, crashed bool)
	reads   int
	trace   []string
	// checkChosen: check what acceptors make durable, not only what is
	// committed: a value accepted at one ballot by a quorum of voters is
	// chosen, even if no replica ever commits it, and no slot has two
	// values chosen (checker.accepted). newCluster sets it.
	checkChosen bool
}

// checker holds what the cluster ever committed.
type checker struct {
	// committed is, per index, the entry some replica applied there.
	committed map[uint64]driver.LogEntry
	maxIndex  uint64
	byData    map[string]uint64
	// votes are, per slot and ballot, the value accepted and the
	// acceptors whose accept is durable (checkChosen); chosen is, per
	// slot, the value a quorum of voters accepted at one ballot.
	votes  map[uint64]map[Ballot]*votes
	chosen map[uint64]driver.LogEntry
}

type votes struct {
	typ  driver.EntryType
	data []byte
	by   map[replica.ReplicaID]bool
}

// accepted records n's durable accepts and checks that no slot gets two
// values chosen. A quorum is counted over n's voters as they are now.
// (A slot's accepted ballot never decreases and, in Paxos, a value chosen
// stays chosen: these are histories, never forgotten.)
func (k *checker) accepted(cl *cluster, n *node, ws []write) {
	if k.votes == nil {
		k.votes, k.chosen = map[uint64]map[Ballot]*votes{}, map[uint64]driver.LogEntry{}
	}
	voters := n.core.cfg.Voters
	for _, w := range ws {
		s, err := decodeSlot(w.value)
		must(cl.t, err)
		if k.votes[w.index] == nil {
			k.votes[w.index] = map[Ballot]*votes{}
		}
		v := k.votes[w.index][w.ballot]
		if v == nil {
			v = &votes{typ: s.typ, data: s.data, by: map[replica.ReplicaID]bool{}}
			k.votes[w.index][w.ballot] = v
		}
		if v.typ != s.typ || !bytes.Equal(v.data, s.data) {
			cl.fail("SAFETY: %d accepts %s at %d under %s, which %v accepted as %s", n.id, valueString(s.typ, s.data), w.index, w.ballot, v.by, valueString(v.typ, v.data))
		}
		v.by[n.id] = true
		q := 0
		for _, id := range voters {
			if v.by[id] {
				q++
			}
		}
		if q < len(voters)/2+1 {
			continue
		}
		e := driver.LogEntry{Index: w.index, Type: s.typ, Data: s.data}
		for _, prev := range []map[uint64]driver.LogEntry{k.chosen, k.committed} {
			if p, ok := prev[w.index]; ok && (p.Type != e.Type || !bytes.Equal(p.Data, e.Data)) {
				cl.fail("SAFETY: %s chosen at %d under %s (accepted by %v), but %s was chosen there", valueString(e.Type, e.Data), w.index, w.ballot, v.by, valueString(p.Type, p.Data))
			}
		}
		k.chosen[w.index] = e
	}
}

func newCluster(t testing.TB, seed uint64, voters, learners int) *cluster {
	cl := &cluster{
		t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes: map[replica.ReplicaID]*node{}, cut: map[[2]replica.ReplicaID]bool{},
		chk:     checker{committed: map[uint64]driver.LogEntry{}, byData: map[string]uint64{}},
		pending: map[string]uint64{}, checkChosen: true,
	}
	desc := replica.Descriptor{Group: testGroup, Version: 1}
	for i := 1; i <= voters+learners; i++ {
		id := replica.ReplicaID(i)
		cl.ids = append(cl.ids, id)
		desc.Replicas = append(desc.Replicas, replica.Member{ID: id, Node: fmt.Sprintf("n%d", i)})
		if i <= voters {
			desc.Voters = append(desc.Voters, id)
		} else {
			desc.Learners = append(desc.Learners, id)
		}
	}
	desc.NextReplicaID = replica.ReplicaID(voters + learners + 1)
	for _, id := range cl.ids {
		st := storage.NewMem()
		b := st.NewBatch()
		must(t, b.Set(storage.DescriptorKey(testGroup), desc.Encode(nil)))
		must(t, Engine{}.Bootstrap(b, desc))
		must(t, b.Commit(true))
		must(t, b.Close())
		n := &node{id: id, store: st}
		cl.nodes[id] = n
		cl.start(n)
	}
	return cl
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (cl *cluster) logf(format string, args ...any) {
	cl.trace = append(cl.trace, fmt.Sprintf(format, args...))
	if len(cl.trace) > 400 {
		cl.trace = cl.trace[len(cl.trace)-300:]
	}
}

func (cl *cluster) fail(format string, args ...any) {
	cl.t.Helper()
	for _, l := range cl.trace {
		cl.t.Log(l)
	}
	cl.t.Fatalf(format, args...)
}

// start opens n's core from its store, as a node does on restart.
func (cl *cluster) start(n *node) {
	applied, err := storage.ReadAppliedState(n.store, testGroup)
	must(cl.t, err)
	raw, err := n.store.Get(storage.DescriptorKey(testGroup))
	must(cl.t, err)
	desc, err := replica.DecodeDescriptor(raw)
	must(cl.t, err)
	c, err := newCore(driver.CoreConfig{
		Store: n.store, Group: testGroup, Replica: n.id, Applied: applied.Index,
		Conf: driver.ConfOf(desc), ElectionTicks: electionTicks, HeartbeatTicks: hbTicks,
	})
	if err != nil {
		cl.fail("open %d: %v", n.id, err)
	}
	// The random election timeouts differ per incarnation, as a real
	// node's would (its seed is fixed by group and replica otherwise).
	c.rng = rand.New(rand.NewPCG(cl.rng.Uint64(), uint64(n.id)))
	c.resetTimers()
	n.core, n.up, n.applied, n.snap = c, true, applied.Index, nil
	cl.checkStored(n)
}

// crash drops everything n did not make durable.
func (cl *cluster) crash(n *node) {
	cl.logf("crash %d", n.id)
	n.store = n.store.Crash()
	n.up, n.core, n.snap = false, nil, nil
}

// round runs one driver round on n, if it has anything ready.
func (cl *cluster) round(n *node) bool {
	if !n.up || !n.core.HasReady() {
		return false
	}
	c := n.core
	rd := c.Ready()
	b := n.store.NewBatch()
	defer b.Close()
	if rd.Snapshot != nil {
		s := n.snap
		if s == nil || s.at.Index != rd.Snapshot.Index {
			cl.fail("%d: Ready snapshot at %d without its data", n.id, rd.Snapshot.Index)
		}
		start, end := storage.ReplicatedSpan(testGroup)
		must(cl.t, b.DeleteRange(start, end))
		for _, kv := range s.kvs {
			must(cl.t, b.Set(kv[0], kv[1]))
		}
		n.snap = nil
	}
	must(cl.t, c.Stage(storage.LogOf(b), &rd))
	for _, m := range rd.Messages {
		if m.Kind != driver.MsgLate {
			cl.send(n, m)
		}
	}
	if cl.rng.Float64() < cl.crashInRound {
		if cl.observe != nil {
			cl.observe(n, &rd, true)
		}
		cl.crash(n) // the batch never commits
		return true
	}
	must(cl.t, b.Commit(rd.MustSync))
	if rd.Snapshot != nil {
		n.applied = rd.Snapshot.Index
	}
	if cl.observe != nil {
		cl.observe(n, &rd, false)
	}
	if cl.checkChosen {
		cl.chk.accepted(cl, n, rd.Engine.(*engineReady).writes)
	}
	cl.apply(n, rd.Committed)
	for _, r := range rd.Reads {
		want, ok := cl.pending[string(r.Ctx)]
		if !ok {
			continue
		}
		delete(cl.pending, string(r.Ctx))
		if r.Index < want {
			cl.fail("%d: read %q at index %d, but %d was committed before it was asked", n.id, r.Ctx, r.Index, want)
		}
		cl.reads++
	}
	for _, m := range rd.Messages {
		if m.Kind == driver.MsgLate {
			cl.send(n, m)
		}
	}
	c.Advance(rd)
	return true
}

// apply applies committed entries, as the state machine does: each
// entry's data under its index in the replicated span, the applied state,
// and the descriptor after a change, in one batch.
func (cl *cluster) apply(n *node, ents []driver.LogEntry) {
	if len(ents) == 0 {
		return
	}
	b := n.store.NewBatch()
	defer b.Close()
	for _, e := range ents {
		if e.Index != n.applied+1 {
			cl.fail("%d: applies %d after %d", n.id, e.Index, n.applied)
		}
		cl.chk.record(cl, n.id, e)
		must(cl.t, b.Set(storage.DataKey(testGroup, binary.BigEndian.AppendUint64(nil, e.Index)), encodeSlot(nil, &slot{typ: e.Type, data: e.Data})))
		if e.Type == driver.EntryChange {
			cfg, err := n.core.ApplyChange(e)
			if err != nil {
				cl.fail("%d: apply change %d: %v", n.id, e.Index, err)
			}
			raw, err := b.Get(storage.DescriptorKey(testGroup))
			must(cl.t, err)
			desc, err := replica.DecodeDescriptor(raw)
			must(cl.t, err)
			desc.Voters, desc.Learners, desc.Engine = cfg.Voters, cfg.Learners, cfg.Engine
			desc.Version++
			must(cl.t, b.Set(storage.DescriptorKey(testGroup), desc.Encode(nil)))
			cl.logf("%d: config at %d: voters %v learners %v", n.id, e.Index, cfg.Voters, cfg.Learners)
		}
		n.applied = e.Index
	}
	last := ents[len(ents)-1]
	must(cl.t, b.Set(storage.AppliedKey(testGroup), storage.EncodeAppliedState(nil, storage.AppliedState{Index: last.Index, Term: last.Term})))
	must(cl.t, b.Commit(false))
}

// record checks that no index is ever committed with two values.
func (k *checker) record(cl *cluster, id replica.ReplicaID, e driver.LogEntry) {
	if p, ok := k.chosen[e.Index]; ok && (p.Type != e.Type || !bytes.Equal(p.Data, e.Data)) {
		cl.fail("SAFETY: replica %d commits %s at %d, but %s was chosen there", id, valueString(e.Type, e.Data), e.Index, valueString(p.Type, p.Data))
	}
	prev, ok := k.committed[e.Index]
	if !ok {
		k.committed[e.Index] = driver.LogEntry{Index: e.Index, Type: e.Type, Data: bytes.Clone(e.Data)}
		k.maxIndex = max(k.maxIndex, e.Index)
		if len(e.Data) > 0 {
			k.byData[string(e.Data)] = e.Index
		}
		return
	}
	if prev.Type != e.Type || !bytes.Equal(prev.Data, e.Data) {
		cl.fail("SAFETY: replica %d commits %q (type %d) at %d, another committed %q (type %d)", id, e.Data, e.Type, e.Index, prev.Data, prev.Type)
	}
}

// checkStored checks a (re)started replica against what was committed:
// its applied entries and the chosen prefix of its log.
func (cl *cluster) checkStored(n *node) {
	start, end := storage.DataSpan(testGroup)
	it, err := n.store.NewIter(start, end)
	must(cl.t, err)
	for ok := it.First(); ok; ok = it.Next() {
		i := binary.BigEndian.Uint64(it.Key()[len(it.Key())-8:])
		s, err := decodeSlot(it.Value())
		must(cl.t, err)
		want, ok := cl.chk.committed[i]
		if !ok {
			cl.fail("%d: applied %d, which nobody committed", n.id, i)
		}
		if want.Type != s.typ || !bytes.Equal(want.Data, s.data) {
			cl.fail("SAFETY: %d applied %q at %d, committed was %q", n.id, s.data, i, want.Data)
		}
	}
	must(cl.t, it.Close())
	c := n.core
	for i := c.firstIndex(); i <= c.commit; i++ {
		if want, ok := cl.chk.committed[i]; ok {
			if s := c.slot(i); s.typ != want.Type || !bytes.Equal(s.data, want.Data) {
				cl.fail("SAFETY: %d holds %q chosen at %d, committed was %q", n.id, s.data, i, want.Data)
			}
		}
	}
}

func (cl *cluster) send(n *node, m driver.Message) {
	e := envelope{from: n.id, to: m.To, payload: m.Payload}
	if m.Kind == driver.MsgSnapshot {
		// What the driver does: a consistent store snapshot now, the
		// message rewritten to say where it is.
		snap := n.store.NewSnapshot()
		applied, err := storage.ReadAppliedState(snap, testGroup)
		must(cl.t, err)
		raw, err := snap.Get(storage.DescriptorKey(testGroup))
		must(cl.t, err)
		desc, err := replica.DecodeDescriptor(raw)
		must(cl.t, err)
		sd := &snapData{at: driver.SnapshotPoint{Index: applied.Index, Term: applied.Term, Conf: driver.ConfOf(desc)}, from: n.id}
		start, end := storage.ReplicatedSpan(testGroup)
		it, err := snap.NewIter(start, end)
		must(cl.t, err)
		for ok := it.First(); ok; ok = it.Next() {
			sd.kvs = append(sd.kvs, [2][]byte{bytes.Clone(it.Key()), bytes.Clone(it.Value())})
		}
		must(cl.t, it.Close())
		must(cl.t, snap.Close())
		if e.payload, err = (Engine{}).SnapshotMessage(m.Payload, sd.at); err != nil {
			cl.fail("%d: SnapshotMessage: %v", n.id, err)
		}
		e.snap = sd
	}
	cl.net = append(cl.net, e)
}

// deliver hands the message at i to its receiver, or loses it.
func (cl *cluster) deliver(i int) {
	e := cl.net[i]
	cl.net = slices.Delete(cl.net, i, i+1)
	if cl.rng.Float64() < cl.delay {
		cl.net = append(cl.net, e)
		return
	}
	to := cl.nodes[e.to]
	lost := to == nil || !to.up || cl.cut[[2]replica.ReplicaID{e.from, e.to}] || cl.rng.Float64() < cl.drop
	if e.snap != nil {
		if from := cl.nodes[e.from]; from != nil && from.up {
			from.core.ReportSnapshot(e.to, !lost)
		}
	}
	if lost {
		return
	}
	if cl.rng.Float64() < cl.dup {
		cl.net = append(cl.net, e)
	}
	if e.snap != nil {
		at, from, _, err := Engine{}.DecodeSnapshot(e.payload)
		if err != nil || from != e.from || at.Index != e.snap.at.Index {
			cl.fail("DecodeSnapshot: %v", err)
		}
	}
	_ = to.core.Step(e.from, e.payload)
	// The data waits for the Ready if the core took the snapshot (a core
	// refuses one at or below its commit, which may be above applied),
	// as the driver keeps it aside.
	if e.snap != nil && to.core.snapshot != nil && to.core.snapshot.Index == e.snap.at.Index {
		to.snap = e.snap
	}
}

// settle runs rounds and delivers every message in order until quiet.
func (cl *cluster) settle(limit int) {
	for range limit {
		busy := false
		for _, id := range cl.ids {
			for cl.round(cl.nodes[id]) {
				busy = true
			}
		}
		if len(cl.net) > 0 {
			cl.deliver(0)
			busy = true
		}
		if !busy {
			return
		}
	}
}

func (cl *cluster) tick() {
	for _, id := range cl.ids {
		if n := cl.nodes[id]; n.up {
			n.core.Tick()
		}
	}
}

func (cl *cluster) leader() *node {
	var best *node
	for _, id := range cl.ids {
		n := cl.nodes[id]
		if n.up && n.core.state == replica.StateLeader && (best == nil || best.core.ballot.Less(n.core.ballot)) {
			best = n
		}
	}
	return best
}

func (cl *cluster) propose(n *node) ([]byte, bool) {
	cl.nextID++
	data := driver.Frame(cl.nextID, fmt.Appendf(nil, "v%d", cl.nextID))
	return data, n.core.Propose(data) == nil
}

// waitCommitted ticks until every up replica applied an entry with data.
func (cl *cluster) waitCommitted(data []byte, ticks int) bool {
	for range ticks {
		cl.tick()
		cl.settle(10000)
		all := true
		for _, id := range cl.ids {
			n := cl.nodes[id]
			if !n.up {
				continue
			}
			i, ok := cl.chk.byData[string(data)]
			all = all && ok && n.applied >= i
		}
		if all {
			return true
		}
	}
	return false
}

// heal ends every fault: all replicas up, no cut, no loss.
func (cl *cluster) heal() {
	cl.cut = map[[2]replica.ReplicaID]bool{}
	cl.drop, cl.dup, cl.crashInRound, cl.delay = 0, 0, 0, 0
	for _, id := range cl.ids {
		if n := cl.nodes[id]; !n.up {
			cl.start(n)
		}
	}
}

// checkConverged: after healing and a committed proposal, every replica
// applied the same prefix, nothing committed was lost.
func (cl *cluster) checkConverged() {
	var top uint64
	for _, id := range cl.ids {
		top = max(top, cl.nodes[id].applied)
	}
	for i := bootstrapIndex + 1; i <= int(top); i++ {
		if _, ok := cl.chk.committed[uint64(i)]; !ok {
			cl.fail("index %d below %d was never committed anywhere", i, top)
		}
	}
	if top < cl.chk.maxIndex {
		cl.fail("LOST: %d was committed, the replicas reach %d", cl.chk.maxIndex, top)
	}
	for _, id := range cl.ids {
		cl.checkStored(cl.nodes[id])
	}
}
