package primarybackup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// The harness: N cores (each in its Shell) over their own storage.Mem and
// one replica.MemConfigStore standing in for the meta group, driven in the
// driver's order (Ready; Stage into a batch; send early messages; commit
// the batch, synced if MustSync; apply Committed; send late messages;
// Advance, which makes the core's store calls), over a network the test
// controls. The store's answers come back through Post when the harness
// drains the store. A crash keeps what the store made durable and rebuilds
// the core from it. Every round checks safety (checker).

const (
	testGroup     = 7
	electionTicks = 10
	hbTicks       = 2
)

type envelope struct {
	from, to replica.ReplicaID
	payload  []byte
	snap     *snapData
}

type snapData struct {
	at   driver.SnapshotPoint
	kvs  [][2][]byte
	from replica.ReplicaID
}

type node struct {
	id      replica.ReplicaID
	store   *storage.Mem
	core    *Core
	shell   *Shell
	up      bool
	applied uint64
	snap    *snapData
	// posted are the config store's answers for this incarnation.
	posted [][]byte
}

type cluster struct {
	t     testing.TB
	rng   *rand.Rand
	nodes map[replica.ReplicaID]*node
	ids   []replica.ReplicaID
	net   []envelope
	cut   map[[2]replica.ReplicaID]bool
	meta  *replica.MemConfigStore
	// metaCut are the replicas cut off from the meta group: their store
	// calls fail as not applied (answered in the store's turn).
	metaCut map[replica.ReplicaID]bool
	opts    Options
	forced  bool // a forced promotion happened (lossy)
	drop    float64
	delay   float64
	chk     checker
	nextID  uint64
	// pending: reads in flight, ctx → the highest index committed
	// anywhere when it was asked.
	pending map[string]uint64
	reads   int
	observe func(n *node, rd *driver.Ready)
	// onStore, if set, sees every store answer as its core gets it.
	onStore func(n *node, m *message)
	trace   []string
}

// checker holds what the cluster ever committed.
type checker struct {
	committed map[uint64]committedEntry
	maxIndex  uint64
	byData    map[string]uint64
	// lost (async mode) are entries some replica applied that a newer
	// epoch's entry at the same index superseded: what a failover lost.
	lost map[uint64][]committedEntry
	// rolledBack are the rollbacks the replicas recorded (Options.Rollbacks).
	rolledBack []Rollback
}

type committedEntry struct {
	typ   driver.EntryType
	data  []byte
	hash  uint64
	epoch uint64
	by    replica.ReplicaID
}

// harnessRollbacks is the harness's RollbackLog: it keeps every rollback.
type harnessRollbacks struct{ cl *cluster }

func (h harnessRollbacks) Record(r Rollback) error {
	h.cl.chk.rolledBack = append(h.cl.chk.rolledBack, r)
	var ents []string
	for _, e := range r.Entries {
		ents = append(ents, fmt.Sprintf("%d:%s@e%d", e.Index, show(e.Data), e.Epoch))
	}
	h.cl.logf("%d: rolls back above %d (epoch %d, rebuild %v, unlisted %d): %s", r.Replica, r.After, r.Epoch, r.Rebuild, r.Unlisted, strings.Join(ents, " "))
	return nil
}

func newCluster(t testing.TB, seed uint64, n int, opts Options) *cluster {
	cl := &cluster{
		t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes: map[replica.ReplicaID]*node{}, cut: map[[2]replica.ReplicaID]bool{},
		meta: replica.NewMemConfigStore(), opts: opts, metaCut: map[replica.ReplicaID]bool{},
		chk:     checker{committed: map[uint64]committedEntry{}, byData: map[string]uint64{}, lost: map[uint64][]committedEntry{}},
		pending: map[string]uint64{},
	}
	if cl.opts.Rollbacks == nil {
		cl.opts.Rollbacks = harnessRollbacks{cl}
	}
	desc := replica.Descriptor{Group: testGroup, Version: 1}
	for i := 1; i <= n; i++ {
		id := replica.ReplicaID(i)
		cl.ids = append(cl.ids, id)
		desc.Replicas = append(desc.Replicas, replica.Member{ID: id, Node: fmt.Sprintf("n%d", i)})
		desc.Voters = append(desc.Voters, id)
	}
	desc.NextReplicaID = replica.ReplicaID(n + 1)
	for _, id := range cl.ids {
		st := storage.NewMem()
		b := st.NewBatch()
		must(t, b.Set(storage.DescriptorKey(testGroup), desc.Encode(nil)))
		must(t, Engine{}.Bootstrap(b, desc))
		must(t, b.Commit(true))
		must(t, b.Close())
		nd := &node{id: id, store: st}
		cl.nodes[id] = nd
		cl.start(nd)
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
	desc := cl.descriptor(n)
	n.posted = nil
	var sh *Shell
	post := func(msg []byte) {
		if n.shell == sh && n.up {
			n.posted = append(n.posted, msg)
		}
	}
	dc, err := Engine{Options: cl.opts}.NewCore(driver.CoreConfig{
		Store: n.store, Group: testGroup, Replica: n.id, Applied: applied.Index,
		Conf: driver.ConfOf(desc), ElectionTicks: electionTicks, HeartbeatTicks: hbTicks,
		ConfigStore: nodeStore{cl, n.id}, Post: post,
	})
	if err != nil {
		cl.fail("open %d: %v", n.id, err)
	}
	sh = dc.(*Shell)
	c := sh.Core
	c.rng = rand.New(rand.NewPCG(cl.rng.Uint64(), uint64(n.id)))
	c.resetTimeout()
	n.core, n.shell, n.up, n.applied, n.snap = c, sh, true, applied.Index, nil
	cl.checkStored(n, false)
}

// descriptor is n's stored descriptor; none (an uninitialised replica): an
// empty one.
func (cl *cluster) descriptor(n *node) replica.Descriptor {
	raw, err := n.store.Get(storage.DescriptorKey(testGroup))
	if errors.Is(err, storage.ErrNotFound) {
		return replica.Descriptor{Group: testGroup}
	}
	must(cl.t, err)
	desc, err := replica.DecodeDescriptor(raw)
	must(cl.t, err)
	return desc
}

// addNode starts a new, uninitialised replica id (as a host creates one
// on an inbound message): it waits for a snapshot.
func (cl *cluster) addNode(id replica.ReplicaID) *node {
	if cl.nodes[id] != nil {
		cl.fail("replica %d exists", id)
	}
	n := &node{id: id, store: storage.NewMem()}
	cl.nodes[id] = n
	cl.ids = append(cl.ids, id)
	cl.start(n)
	return n
}

// nodeStore is the meta group as replica id reaches it: through
// cl.metaCut.
type nodeStore struct {
	cl *cluster
	id replica.ReplicaID
}

func (s nodeStore) cut() bool { return s.cl.metaCut[s.id] }

func (s nodeStore) CompareAndSwap(key string, version uint64, value []byte, done func(uint64, error)) {
	if s.cut() {
		s.cl.meta.Get(key, func([]byte, uint64, error) {
			done(0, fmt.Errorf("%w: cut off from the meta group", replica.ErrNotApplied))
		})
		return
	}
	s.cl.meta.CompareAndSwap(key, version, value, done)
}

func (s nodeStore) Get(key string, done func([]byte, uint64, error)) {
	if s.cut() {
		s.cl.meta.Get(key, func([]byte, uint64, error) {
			done(nil, 0, fmt.Errorf("%w: cut off from the meta group", replica.ErrNotApplied))
		})
		return
	}
	s.cl.meta.Get(key, done)
}

func (s nodeStore) Watch(key string, fn func([]byte, uint64)) func() { return s.cl.meta.Watch(key, fn) }

// crash drops everything n did not make durable.
func (cl *cluster) crash(n *node) {
	cl.logf("crash %d", n.id)
	n.store = n.store.Crash()
	n.up, n.core, n.shell, n.snap, n.posted = false, nil, nil, nil, nil
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
		desc := cl.descriptor(n)
		desc.Voters, desc.Learners, desc.Engine = rd.Snapshot.Conf.Voters, rd.Snapshot.Conf.Learners, rd.Snapshot.Conf.Engine
		must(cl.t, b.Set(storage.DescriptorKey(testGroup), desc.Encode(nil)))
		n.snap = nil
	}
	must(cl.t, n.shell.Stage(storage.LogOf(b), &rd))
	for _, m := range rd.Messages {
		if m.Kind != driver.MsgLate {
			cl.send(n, m)
		}
	}
	must(cl.t, b.Commit(rd.MustSync))
	if rd.Snapshot != nil {
		n.applied = rd.Snapshot.Index
	}
	if cl.observe != nil {
		cl.observe(n, &rd)
	}
	cl.traceReady(n, &rd)
	cl.checkLease(n, &rd)
	cl.apply(n, rd.Committed)
	for _, r := range rd.Reads {
		want, ok := cl.pending[string(r.Ctx)]
		if !ok {
			continue
		}
		delete(cl.pending, string(r.Ctx))
		if r.Index < want && cl.lossy() && (cl.chk.committed[want].epoch < n.core.epoch || cl.chk.lostIn(r.Index, want)) {
			// Async: want may be what the failover to this epoch lost.
			cl.reads++
			continue
		}
		if r.Index < want {
			cl.fail("SAFETY: %d: read %q at index %d, but %d was committed before it was asked", n.id, r.Ctx, r.Index, want)
		}
		cl.reads++
	}
	for _, m := range rd.Messages {
		if m.Kind == driver.MsgLate {
			cl.send(n, m)
		}
	}
	n.shell.Advance(rd)
	cl.checkInSync()
	return true
}

// truncate drops n's log up to what it applied, as the driver does when
// its log grows (a backup that lags then needs a snapshot).
func (cl *cluster) truncate(n *node) {
	to := min(n.applied, n.core.handedOut)
	if to <= n.core.trunc.Index {
		return
	}
	b := n.store.NewBatch()
	defer b.Close()
	must(cl.t, n.core.Log().StageTruncate(storage.LogOf(b), to))
	must(cl.t, b.Commit(true))
	cl.logf("%d: truncated to %d", n.id, to)
}

// traceReady records what a round of n did, for a failure's report.
func (cl *cluster) traceReady(n *node, rd *driver.Ready) {
	c := n.core
	if rd.Soft != nil {
		cl.logf("%d: state %v leader %d epoch %d rec v%d %s", n.id, rd.Soft.State, rd.Soft.Leader, c.epoch, c.recVersion, recString(c.rec))
	}
	er := rd.Engine.(*engineReady)
	if er.cut {
		cl.logf("%d: cut above %d", n.id, er.cutAbove)
	}
	if len(rd.Entries) > 0 {
		cl.logf("%d: persists %d..%d (epoch %d..%d)", n.id, rd.Entries[0].Index, rd.Entries[len(rd.Entries)-1].Index, rd.Entries[0].Term, rd.Entries[len(rd.Entries)-1].Term)
	}
	if len(rd.Committed) > 0 {
		cl.logf("%d: applies %d..%d", n.id, rd.Committed[0].Index, rd.Committed[len(rd.Committed)-1].Index)
	}
	for _, call := range er.calls {
		if call.Get {
			cl.logf("%d: store Get (op %d)", n.id, call.ID)
		} else {
			r, _ := DecodeRecord(call.Value)
			cl.logf("%d: store CAS v%d %s (op %d)", n.id, call.Version, recString(r), call.ID)
		}
	}
}

// apply applies committed entries, as the state machine does.
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
		cl.chk.record(cl, n, e)
		if e.Type == driver.EntryChange {
			// As the driver does: the core's configuration into the
			// descriptor, in the apply batch.
			conf, err := n.core.ApplyChange(e)
			if err != nil {
				cl.fail("%d: apply change %d: %v", n.id, e.Index, err)
			}
			desc := cl.descriptor(n)
			desc.Version++
			desc.Voters, desc.Learners, desc.Engine = conf.Voters, conf.Learners, conf.Engine
			must(cl.t, b.Set(storage.DescriptorKey(testGroup), desc.Encode(nil)))
		}
		must(cl.t, b.Set(storage.DataKey(testGroup, binary.BigEndian.AppendUint64(nil, e.Index)), encodeEntry(nil, &entry{epoch: e.Term, typ: e.Type, data: e.Data})))
		n.applied = e.Index
	}
	last := ents[len(ents)-1]
	must(cl.t, b.Set(storage.AppliedKey(testGroup), storage.EncodeAppliedState(nil, storage.AppliedState{Index: last.Index, Term: last.Term})))
	must(cl.t, b.Commit(false))
}

// record checks that no index is ever committed with two values.
func (k *checker) record(cl *cluster, n *node, e driver.LogEntry) {
	prev, ok := k.committed[e.Index]
	if ok && cl.lossy() && prev.epoch != e.Term && (prev.typ != e.Type || !bytes.Equal(prev.data, e.Data)) {
		// Async mode: a failover lost what the new primary lacked; the
		// newer epoch's entry is the one that stays.
		lost := committedEntry{typ: e.Type, data: bytes.Clone(e.Data), epoch: e.Term, by: n.id}
		if e.Term > prev.epoch {
			lost, ok = prev, false
		}
		cl.logf("LOSS: %d applied %s at %d (epoch %d); it is lost", lost.by, show(lost.data), e.Index, lost.epoch)
		k.lost[e.Index] = append(k.lost[e.Index], lost)
		if ok {
			return // the lost one, applied late
		}
	}
	if !ok {
		ce := committedEntry{typ: e.Type, data: bytes.Clone(e.Data), epoch: e.Term, by: n.id}
		if en := n.core.entry(e.Index); en != nil {
			ce.hash = en.hash
		}
		k.committed[e.Index] = ce
		k.maxIndex = max(k.maxIndex, e.Index)
		if len(e.Data) > 0 {
			k.byData[string(e.Data)] = e.Index
		}
		return
	}
	if prev.typ != e.Type || !bytes.Equal(prev.data, e.Data) {
		cl.fail("SAFETY: replica %d commits %s at %d, another committed %s", n.id, show(e.Data), e.Index, show(prev.data))
	}
}

// checkLease is async mode's promise: a primary acknowledges (commits)
// nothing once the store names a newer epoch — its lease ran out before
// the store could (the failover waited a whole lease).
func (cl *cluster) checkLease(n *node, rd *driver.Ready) {
	c := n.core
	if !c.async() || c.role != rolePrimary || !c.lead.confirmed || len(rd.Committed) == 0 {
		// (A restarted primary applies what it committed before it
		// stopped: no acknowledgement, its proposers went with it.)
		return
	}
	raw, _ := cl.meta.Peek(recordKey(testGroup))
	if raw == nil {
		return
	}
	r, err := DecodeRecord(raw)
	must(cl.t, err)
	if r.Epoch > c.epoch {
		last := rd.Committed[len(rd.Committed)-1]
		cl.fail("SAFETY: async primary %d (epoch %d) acknowledges up to %d, but the store names epoch %d (primary %d): its lease ran out",
			n.id, c.epoch, last.Index, r.Epoch, r.Primary)
	}
}

// checkInSync is sync mode's promise: every entry committed anywhere is
// durable on every member of the in-sync set the store holds now (the
// authority), whether that member is up or down.
func (cl *cluster) checkInSync() {
	k := cl.chk.maxIndex
	if k == 0 || cl.lossy() {
		return // async: backups follow; what a failover loses is the lag
	}
	raw, _ := cl.meta.Peek(recordKey(testGroup))
	var rec Record
	if raw == nil {
		rec = cl.nodes[cl.ids[0]].foundingRecord()
	} else {
		var err error
		if rec, err = DecodeRecord(raw); err != nil {
			cl.fail("the store's record: %v", err)
		}
	}
	want := cl.chk.committed[k]
	for _, id := range rec.InSync {
		n := cl.nodes[id]
		trunc, err := storage.ReadTruncated(n.store, testGroup)
		must(cl.t, err)
		if trunc.Index >= k {
			continue
		}
		raw, err := storage.ReadLogSlot(n.store, testGroup, k)
		if err != nil {
			cl.fail("SAFETY: %d was committed, but in-sync member %d (record epoch %d, in-sync %v) lacks it durably", k, id, rec.Epoch, rec.InSync)
		}
		e, err := decodeEntry(raw)
		must(cl.t, err)
		if e.typ != want.typ || !bytes.Equal(e.data, want.data) {
			cl.fail("SAFETY: %d was committed as %s, but in-sync member %d holds %s there", k, show(want.data), id, show(e.data))
		}
	}
}

// foundingRecord is the record the stored descriptor implies.
func (n *node) foundingRecord() Record {
	raw, _ := n.store.Get(storage.DescriptorKey(testGroup))
	desc, _ := replica.DecodeDescriptor(raw)
	c := &Core{conf: driver.ConfOf(desc)}
	_ = c.foundingRecord()
	return c.rec
}

// checkStored checks a (re)started replica's applied entries against what
// was committed.
func (cl *cluster) checkStored(n *node, strict bool) {
	start, end := storage.DataSpan(testGroup)
	it, err := n.store.NewIter(start, end)
	must(cl.t, err)
	for ok := it.First(); ok; ok = it.Next() {
		i := binary.BigEndian.Uint64(it.Key()[len(it.Key())-8:])
		e, err := decodeEntry(it.Value())
		must(cl.t, err)
		want, ok := cl.chk.committed[i]
		if !ok {
			cl.fail("%d: applied %d, which nobody committed", n.id, i)
		}
		if !strict && cl.chk.isLost(i, e.typ, e.data) {
			continue // async: applied before a failover lost it; the replica rebuilds
		}
		if want.typ != e.typ || !bytes.Equal(want.data, e.data) {
			cl.fail("SAFETY: %d applied %s at %d, committed was %s", n.id, show(e.data), i, show(want.data))
		}
	}
	must(cl.t, it.Close())
}

func (cl *cluster) send(n *node, m driver.Message) {
	e := envelope{from: n.id, to: m.To, payload: m.Payload}
	if m.Kind == driver.MsgSnapshot {
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
func (cl *cluster) deliver(i int) (envelope, bool) {
	e := cl.net[i]
	cl.net = slices.Delete(cl.net, i, i+1)
	if cl.rng.Float64() < cl.delay {
		cl.net = append(cl.net, e)
		return e, false
	}
	to := cl.nodes[e.to]
	lost := to == nil || !to.up || cl.cut[[2]replica.ReplicaID{e.from, e.to}] || cl.rng.Float64() < cl.drop
	if e.snap != nil {
		if from := cl.nodes[e.from]; from != nil && from.up {
			from.core.ReportSnapshot(e.to, !lost)
		}
	}
	if lost {
		return e, false
	}
	if err := to.core.Step(e.from, e.payload); err != nil {
		cl.logf("%d: step from %d: %v", e.to, e.from, err)
	}
	if e.snap != nil && to.core.snapshot != nil && to.core.snapshot.Index == e.snap.at.Index {
		to.snap = e.snap
	}
	return e, true
}

// storeStep lets the meta group do one piece of work, and hands its
// answers to their cores.
func (cl *cluster) storeStep() bool {
	did := cl.meta.Step()
	return cl.deliverPosted() || did
}

func (cl *cluster) deliverPosted() bool {
	did := false
	for _, id := range cl.ids {
		n := cl.nodes[id]
		for len(n.posted) > 0 && n.up {
			m := n.posted[0]
			n.posted = n.posted[1:]
			dm, err := decodeMessage(m)
			must(cl.t, err)
			if cl.onStore != nil {
				cl.onStore(n, dm)
			}
			cl.logf("%d: store answers op %d: result %d v%d", n.id, dm.Op, dm.Result, dm.Version)
			if err := n.core.Step(n.id, m); err != nil {
				cl.fail("%d: store answer: %v", n.id, err)
			}
			did = true
		}
	}
	return did
}

// settle runs rounds, delivers messages in order and lets the store
// answer, until quiet.
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
		if cl.storeStep() {
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

// primary is the up replica acting as primary at the highest epoch.
func (cl *cluster) primary() *node {
	var best *node
	for _, id := range cl.ids {
		n := cl.nodes[id]
		if n.up && n.core.role == rolePrimary && (best == nil || best.core.epoch < n.core.epoch) {
			best = n
		}
	}
	return best
}

func (cl *cluster) propose(n *node) ([]byte, error) {
	cl.nextID++
	data := driver.Frame(cl.nextID, fmt.Appendf(nil, "v%d", cl.nextID))
	return data, n.core.Propose(data)
}

// waitCommitted ticks until every up replica applied the entry with data.
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

func (cl *cluster) heal() {
	cl.cut = map[[2]replica.ReplicaID]bool{}
	cl.metaCut = map[replica.ReplicaID]bool{}
	cl.drop, cl.delay = 0, 0
	cl.meta.SetUnavailable(false)
	for _, id := range cl.ids {
		if n := cl.nodes[id]; !n.up {
			cl.start(n)
		}
	}
}

// checkConverged: every replica applied the same prefix; nothing
// committed was lost.
func (cl *cluster) checkConverged() {
	var top uint64
	for _, id := range cl.ids {
		top = max(top, cl.nodes[id].applied)
	}
	if cl.lossy() {
		// Async: what was committed above where the replicas reach now was
		// lost in a failover (the rollback checks below judge it).
		for i := top + 1; i <= cl.chk.maxIndex; i++ {
			if ce, ok := cl.chk.committed[i]; ok {
				cl.chk.lost[i] = append(cl.chk.lost[i], ce)
				delete(cl.chk.committed, i)
			}
		}
		cl.chk.maxIndex = min(cl.chk.maxIndex, top)
	}
	if top < cl.chk.maxIndex {
		cl.fail("LOST: %d was committed, the replicas reach %d", cl.chk.maxIndex, top)
	}
	for _, id := range cl.ids {
		cl.checkStored(cl.nodes[id], true)
	}
	cl.checkRollbacks()
}

// lostIn: an entry in (from, to] was lost in a failover.
func (k *checker) lostIn(from, to uint64) bool {
	for i := range k.lost {
		if from < i && i <= to {
			return true
		}
	}
	return false
}

func (k *checker) isLost(i uint64, typ driver.EntryType, data []byte) bool {
	for _, l := range k.lost[i] {
		if l.typ == typ && bytes.Equal(l.data, data) {
			return true
		}
	}
	return false
}

// checkRollbacks (async mode): every lost entry a replica applied is in a
// rollback that replica recorded, and no rollback lists an entry that
// stayed committed.
// lossy: committed entries may be lost — async mode, or after a forced
// promotion (the loss is then the rollbacks' to account for).
func (cl *cluster) lossy() bool { return cl.opts.Mode == ModeAsync || cl.forced }

func (cl *cluster) checkRollbacks() {
	type key struct {
		id replica.ReplicaID
		i  uint64
		d  string
	}
	recorded := map[key]bool{}
	for _, r := range cl.chk.rolledBack {
		for _, e := range r.Entries {
			if want, ok := cl.chk.committed[e.Index]; ok && want.epoch == e.Epoch && bytes.Equal(want.data, e.Data) {
				cl.fail("SAFETY: %d rolled back %s at %d (epoch %d), which stayed committed", r.Replica, show(e.Data), e.Index, e.Epoch)
			}
			recorded[key{r.Replica, e.Index, string(e.Data)}] = true
		}
	}
	for i, ls := range cl.chk.lost {
		for _, l := range ls {
			unlisted := false
			for _, r := range cl.chk.rolledBack {
				unlisted = unlisted || r.Replica == l.by && r.After < i && i <= r.After+r.Unlisted
			}
			if !recorded[key{l.by, i, string(l.data)}] && !unlisted {
				cl.fail("LOSS UNRECORDED: %d applied %s at %d (epoch %d), lost (committed there: %s at epoch %d), and recorded no rollback of it",
					l.by, show(l.data), i, l.epoch, show(cl.chk.committed[i].data), cl.chk.committed[i].epoch)
			}
		}
	}
}

// show prints entry data: a command's value, or noop.
func show(data []byte) string {
	if len(data) == 0 {
		return "noop"
	}
	if ce, err := decodeChange(data); err == nil {
		var ops []string
		for _, op := range ce.change.Ops {
			ops = append(ops, fmt.Sprintf("%s n%d", map[driver.ChangeKind]string{driver.AddLearner: "learner", driver.AddVoter: "voter", driver.Remove: "remove"}[op.Kind], op.Replica))
		}
		return fmt.Sprintf("rec(e%d n%d [%s]%s)", ce.rec.Epoch, ce.rec.Primary, names(ce.rec.InSync), strings.Join(append([]string{""}, ops...), " "))
	}
	if _, _, cmd, err := driver.Unframe(data); err == nil {
		return fmt.Sprintf("%q", cmd)
	}
	return fmt.Sprintf("%x", data)
}

// TestBasic: the founding primary writes the record, takes office, and a
// write commits on every member.
func TestBasic(t *testing.T) {
	cl := newCluster(t, 1, 3, Options{})
	cl.settle(1000)
	p := cl.primary()
	if p == nil || p.id != 1 || !p.core.inOffice() {
		t.Fatalf("no primary in office: %+v", p)
	}
	data, err := cl.propose(p)
	must(t, err)
	if !cl.waitCommitted(data, 5) {
		cl.fail("write not committed everywhere")
	}
	cl.checkConverged()
}
