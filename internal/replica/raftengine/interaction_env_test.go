package raftengine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The interaction tests' world (see interaction_test.go for the commands):
// Manual hosts on in-memory stores, one fake clock, and a network that only
// queues. Nothing moves unless a command says so: a tick, a round, a
// delivery. Everything runs on the test's goroutine, so a script replays
// exactly (raft's election timeouts too: TestInteraction seeds crypto/rand).

// igroup is the one group every script runs.
const igroup = replica.GroupID(1)

// Timing of the scripted hosts, in ticks: raftengine's defaults.
const (
	iElectionTicks  = 10
	iHeartbeatTicks = 1
	iTick           = 100 * time.Millisecond
)

type ienv struct {
	t     *testing.T
	out   strings.Builder
	clock *clock.Fake
	nodes []*inode // in the order they were created: n1, n2, ...
	opts  ioptions
	// wire holds the messages sent and not yet delivered or dropped, in
	// the order they were sent.
	wire  []imsg
	snaps []*isnap
	// delayed are messages held back until released.
	delayed []imsg
	// receiving are snapshots handed to their receivers and not answered.
	receiving []*isnap
	// reports are snapshot outcomes on their way back to their senders.
	reports []func()
	// blocked[{from, to}]: the link from → to loses everything.
	blocked map[[2]string]bool
	ops     []*iop
	// verbose prints every message delivered or dropped.
	verbose bool
	// header is printed before the next line of output (a tick's number,
	// printed only if the tick did something); indent prefixes every line.
	header string
	indent string
}

// ioptions are the hosts' settings a script may choose at create.
type ioptions struct {
	truncateAfter    uint64
	truncateMaxBytes uint64
	chunkSize        int
}

// imsg is one message on the wire.
type imsg struct {
	from, to string
	m        transport.Message
}

// isnap is one snapshot on its way, from the host that read it (from, in
// incarnation inc) to node to.
type isnap struct {
	from   *inode
	inc    int
	to     string
	header []byte
	chunks [][]byte
	index  uint64
	keys   int
	report func(error)
	// delivered: handed to the receiver (incarnation toInc); answered:
	// the receiver gave its outcome, or its crash did.
	delivered, answered bool
	toInc               int
}

// iop is a request a script made; its outcome is printed when it arrives.
type iop struct {
	id   int
	what string
	node *inode
	inc  int
	done bool
}

// cutMode arms a power cut inside a node's next synced commit.
// cutMode is where a power cut strikes (storage.PowerSwitch).
type cutMode = storage.CutStage

const (
	cutNone       = storage.CutNone
	cutBeforeSync = storage.CutBeforeSync // the commit is visible, its fsync never happens
	cutAfterSync  = storage.CutAfterSync  // the fsync happens, the rest of the round does not
)

func cutName(c cutMode) string {
	switch c {
	case cutBeforeSync:
		return "before the data is durable"
	case cutAfterSync:
		return "after the data is durable"
	}
	return "none"
}

// Panics that unwind a host call on a node that lost its power or stopped
// itself.
type (
	ipowerCut struct{ mode cutMode }
	ifatal    struct{ err error }
)

type inode struct {
	env  *ienv
	name string
	mem  *storage.Mem
	host *Host // nil while down
	tr   *itransport
	inc  int // incarnation: bumped by every crash
	cut  cutMode
	seen iview // what was printed last about its replica
}

// iview is what a node's replica looked like when last printed.
type iview struct {
	present bool
	state   replica.State
	term    uint64
	leader  replica.ReplicaID
	version uint64
}

func newIEnv(t *testing.T) *ienv {
	return &ienv{
		t:       t,
		clock:   clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		blocked: map[[2]string]bool{},
		opts:    ioptions{truncateAfter: 10000, truncateMaxBytes: 64 << 20, chunkSize: 256 << 10},
	}
}

// close stops every running host, printing nothing more.
func (e *ienv) close() {
	for _, op := range e.ops {
		op.done = true
	}
	for _, n := range e.nodes {
		if n.host != nil {
			_ = n.host.Close()
		}
	}
}

func (e *ienv) printf(format string, args ...any) {
	if e.header != "" {
		e.out.WriteString(e.header)
		e.header = ""
	}
	e.out.WriteString(e.indent)
	fmt.Fprintf(&e.out, format, args...)
	e.out.WriteByte('\n')
}

func (e *ienv) node(name string) *inode {
	for _, n := range e.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

func (e *ienv) up() []*inode {
	var up []*inode
	for _, n := range e.nodes {
		if n.host != nil {
			up = append(up, n)
		}
	}
	return up
}

// addNode creates a node and starts its host, founding the group with
// desc unless desc is nil (an empty node, for a replica added later).
func (e *ienv) addNode(name string, desc *replica.Descriptor) *inode {
	n := &inode{env: e, name: name, mem: storage.NewMem()}
	e.nodes = append(e.nodes, n)
	n.start(desc)
	return n
}

func (n *inode) config() Config {
	e := n.env
	return Config{Config: driver.Config{
		Node:             n.name,
		Store:            &storage.PowerSwitch{Mem: n.mem, Armed: func() cutMode { return n.cut }, Cut: func(at cutMode) { panic(ipowerCut{at}) }},
		NewStateMachine:  func(g replica.GroupID) replica.StateMachine { return kv.New(uint64(g)) },
		Clock:            e.clock,
		Logger:           quietLogger().With("node", n.name),
		Manual:           true,
		TickInterval:     iTick,
		ElectionTicks:    iElectionTicks,
		HeartbeatTicks:   iHeartbeatTicks,
		TruncateAfter:    e.opts.truncateAfter,
		TruncateMaxBytes: e.opts.truncateMaxBytes,
		// Small chunks, so that a snapshot of a few keys comes in several.
		SnapshotChunkSize: e.opts.chunkSize,
		SnapshotSender:    n.sendSnapshot,
		Fatal:             func(err error) { panic(ifatal{err}) },
	}}
}

// start opens a host on the node's store (after bootstrapping desc, when
// given) and connects it to the queued network.
func (n *inode) start(desc *replica.Descriptor) {
	e := n.env
	h, err := NewHost(n.config())
	if err != nil {
		e.printf("%s fails to start: %v", n.name, err)
		return
	}
	if desc != nil {
		if err := h.Bootstrap(*desc, nil); err != nil {
			e.t.Fatalf("%s: bootstrap: %v", n.name, err)
		}
	}
	n.tr = &itransport{n: n}
	h.Start(n.tr)
	n.host = h
	n.seen = iview{}
	n.observe(false)
}

// crash stops the node as a power loss does: its host is abandoned (it
// answers nothing more) and the store keeps only what was synced.
func (n *inode) crash() {
	e := n.env
	old := n.mem
	n.mem = old.Crash()
	_ = old.Close()
	n.host, n.tr, n.cut, n.seen = nil, nil, cutNone, iview{}
	// The streams it was receiving break: their senders hear so.
	keep := e.receiving[:0]
	for _, s := range e.receiving {
		switch {
		case s.answered:
		case s.to == n.name && s.toInc == n.inc:
			s.answered = true
			e.printf("snapshot %s->%s (index %d) broken: %s crashed", s.from.name, s.to, s.index, n.name)
			e.reports = append(e.reports, func() { s.answer(errors.New("receiver crashed")) })
		default:
			keep = append(keep, s)
		}
	}
	clear(e.receiving[len(keep):])
	e.receiving = keep
	for _, op := range e.ops {
		if op.node == n && op.inc == n.inc && !op.done {
			op.done = true
			e.printf("%s: no answer (%s crashed)", op.label(), n.name)
		}
	}
	n.inc++
}

// guard runs f, a call into the node's host; a power cut or a fail-stop
// inside it crashes the node and guard reports false.
func (n *inode) guard(f func()) (ok bool) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		ok = false
		n.flush() // what the host sent before it stopped is on the wire
		switch r := r.(type) {
		case ipowerCut:
			n.env.printf("%s loses power inside an fsync (%s)", n.name, cutName(r.mode))
		case ifatal:
			n.env.printf("%s stops itself (fail-stop): %v", n.name, r.err)
		default:
			panic(r)
		}
		n.crash()
	}()
	f()
	return true
}

// runRounds runs the node's rounds until it is idle; it reports whether
// there was any work.
func (n *inode) runRounds() bool {
	worked := false
	for i := 0; n.host != nil; i++ {
		if i > 1000 {
			n.env.t.Fatalf("%s: rounds never go idle", n.name)
		}
		more := false
		if !n.guard(func() { more = n.host.RunRound() }) {
			return true
		}
		n.flush()
		n.observe(true)
		if !more {
			break
		}
		worked = true
	}
	return worked
}

// flush puts what the host sent during its round on the wire. The host
// sends to its peers in map order; a stable sort by destination keeps each
// destination's order and makes the wire the same every run.
func (n *inode) flush() {
	if n.tr == nil || len(n.tr.pending) == 0 {
		return
	}
	p := n.tr.pending
	n.tr.pending = nil
	slices.SortStableFunc(p, func(a, b imsg) int { return strings.Compare(a.to, b.to) })
	n.env.wire = append(n.env.wire, p...)
}

// observe prints what changed in the node's replica since it was last
// printed: its state, term or leader; its descriptor; its removal.
func (n *inode) observe(changesOnly bool) {
	e := n.env
	if n.host == nil {
		return
	}
	g, ok := n.host.Group(igroup)
	if !ok {
		if n.seen.present {
			tomb, _ := n.host.Tombstone(igroup)
			e.printf("%s: replica removed; data deleted, tombstone refuses replica IDs below %d", n.name, tomb)
		}
		n.seen = iview{}
		return
	}
	st := g.Status()
	v := iview{present: true, state: st.State, term: st.Term, leader: st.Leader, version: st.Descriptor.Version}
	if v.state != n.seen.state || v.term != n.seen.term || v.leader != n.seen.leader || !n.seen.present {
		e.printf("%s: %s term=%d leader=%s", n.name, st.State, st.Term, leaderName(st))
	}
	if v.version != n.seen.version && (n.seen.present || changesOnly) {
		e.printf("%s: descriptor %s", n.name, describeDesc(st.Descriptor))
	}
	n.seen = v
}

func leaderName(st replica.Status) string {
	if st.Leader == 0 {
		return "none"
	}
	if st.LeaderNode == "" {
		return fmt.Sprintf("r%d", st.Leader)
	}
	return st.LeaderNode
}

// sendSnapshot is the node's Config.SnapshotSender: the snapshot goes on
// the wire, to be delivered like a message.
func (n *inode) sendSnapshot(to string, header []byte, chunks [][]byte, report func(error)) {
	e := n.env
	s := &isnap{from: n, inc: n.inc, to: to, header: header, chunks: chunks, report: report}
	if _, _, _, m, err := driver.ParseSnapshotHeader(header); err == nil {
		if at, _, _, err := newCoreEngine(nil, rawOptions{}).DecodeSnapshot(m); err == nil {
			s.index = at.Index
		}
	}
	for _, c := range chunks {
		n, _ := driver.SnapshotChunkKeys(c)
		s.keys += n
	}
	e.snaps = append(e.snaps, s)
	e.printf("%s sends a snapshot to %s: index %d, %d keys in %d chunk(s)", n.name, to, s.index, s.keys, len(chunks))
}

// deliverSnap hands a snapshot to its receiver, unless a crash or a
// partition broke the stream; the sender hears the outcome later.
func (e *ienv) deliverSnap(s *isnap) {
	to := e.node(s.to)
	lost := func(why string) {
		e.printf("snapshot %s->%s (index %d) lost: %s", s.from.name, s.to, s.index, why)
		e.reports = append(e.reports, func() { s.answer(errors.New(why)) })
	}
	switch {
	case to == nil || to.host == nil:
		lost(s.to + " is down")
		return
	case e.cut(s.from.name, s.to):
		lost("partitioned")
		return
	}
	i := 0
	next := func() ([]byte, error) {
		if i == len(s.chunks) {
			return nil, io.EOF
		}
		i++
		return s.chunks[i-1], nil
	}
	s.delivered, s.toInc = true, to.inc
	e.receiving = append(e.receiving, s)
	to.guard(func() {
		to.host.HandleSnapshotAsync(s.from.name, s.header, next, func(err error) {
			if s.answered {
				return
			}
			s.answered = true
			if err != nil {
				e.printf("%s refuses the snapshot from %s (index %d): %v", s.to, s.from.name, s.index, err)
			} else {
				e.printf("%s takes the snapshot from %s (index %d)", s.to, s.from.name, s.index)
			}
			e.reports = append(e.reports, func() { s.answer(err) })
		})
	})
}

// answer reports a snapshot's outcome to its sender, if it is still the
// process that sent it.
func (s *isnap) answer(err error) {
	if s.from.host == nil || s.from.inc != s.inc {
		return
	}
	s.from.guard(func() { s.report(err) })
}

// cut reports whether a partition separates a and b in either direction.
func (e *ienv) cut(a, b string) bool { return e.blocked[[2]string{a, b}] || e.blocked[[2]string{b, a}] }

// deliver hands one message to its destination, unless the destination is
// down or the link is cut; it reports whether it was delivered.
func (e *ienv) deliver(m imsg) bool {
	to := e.node(m.to)
	why := ""
	switch {
	case to == nil || to.host == nil:
		why = m.to + " is down"
	case e.blocked[[2]string{m.from, m.to}]:
		why = "partitioned"
	}
	if why != "" {
		if e.verbose {
			e.printf("dropped (%s): %s", why, describeMsg(m))
		}
		return false
	}
	if e.verbose {
		e.printf("%s", describeMsg(m))
	}
	to.guard(func() { to.host.HandleMessages(m.from, []transport.Message{m.m}) })
	return true
}

// runAll runs every running node's rounds until each is idle.
func (e *ienv) runAll() bool { return e.runSome(nil) }

// runSome runs the rounds of the nodes in only (all when nil).
func (e *ienv) runSome(only map[string]bool) bool {
	worked := false
	for _, n := range e.nodes {
		if (only == nil || only[n.name]) && n.runRounds() {
			worked = true
		}
	}
	return worked
}

// stabilize runs rounds, delivers what is on the wire and hands back
// snapshot outcomes until nothing happens any more.
func (e *ienv) stabilize() { e.stabilizeSome(nil) }

// stabilizeSome is stabilize among the nodes in only (all when nil):
// messages from or to the others stay on the wire.
func (e *ienv) stabilizeSome(only map[string]bool) {
	in := func(from, to string) bool { return only == nil || only[from] && only[to] }
	for i := 0; ; i++ {
		if i > 10000 {
			e.t.Fatalf("stabilize: still busy after %d steps", i)
		}
		worked := e.runSome(only)
		if rs := e.reports; len(rs) > 0 {
			e.reports = nil
			for _, r := range rs {
				r()
			}
			worked = true
		}
		var msgs []imsg
		var snaps []*isnap
		keep := e.wire[:0]
		for _, m := range e.wire {
			if in(m.from, m.to) {
				msgs = append(msgs, m)
			} else {
				keep = append(keep, m)
			}
		}
		e.wire = keep
		keepSnaps := e.snaps[:0]
		for _, sn := range e.snaps {
			if in(sn.from.name, sn.to) {
				snaps = append(snaps, sn)
			} else {
				keepSnaps = append(keepSnaps, sn)
			}
		}
		e.snaps = keepSnaps
		for _, m := range msgs {
			e.deliver(m)
		}
		for _, sn := range snaps {
			e.deliverSnap(sn)
		}
		if len(msgs) > 0 || len(snaps) > 0 {
			worked = true
		}
		if !worked {
			return
		}
	}
}

// tick advances the clock by one tick and ticks the given running nodes.
func (e *ienv) tick(nodes []*inode) {
	e.clock.Advance(iTick)
	for _, n := range nodes {
		if n.host != nil {
			n.guard(n.host.Tick)
		}
	}
}

// leader is the running node whose replica leads in the highest term.
func (e *ienv) leader() *inode {
	var best *inode
	var term uint64
	for _, n := range e.up() {
		g, ok := n.host.Group(igroup)
		if !ok {
			continue
		}
		if st := g.Status(); st.State == replica.StateLeader && (best == nil || st.Term > term) {
			best, term = n, st.Term
		}
	}
	return best
}

func (op *iop) label() string { return fmt.Sprintf("#%d %s at %s", op.id, op.what, op.node.name) }

// newOp records a request made at node n.
func (e *ienv) newOp(n *inode, what string) *iop {
	op := &iop{id: len(e.ops) + 1, what: what, node: n, inc: n.inc}
	e.ops = append(e.ops, op)
	return op
}

// settle prints a request's outcome, once.
func (e *ienv) settle(op *iop, outcome string) {
	if op.done {
		return
	}
	op.done = true
	e.printf("%s: %s", op.label(), outcome)
}

// itransport is a node's transport.Transport: Send only queues; the node
// puts what it queued on the wire after each round.
type itransport struct {
	n       *inode
	pending []imsg
}

func (t *itransport) Send(node string, msgs []transport.Message) {
	for _, m := range msgs {
		t.pending = append(t.pending, imsg{from: t.n.name, to: node, m: m})
	}
}

var errNoStreams = errors.New("interaction: snapshots travel through Config.SnapshotSender")

func (t *itransport) SendSnapshot(_ context.Context, _ string, _ []byte, _ func(func([]byte) error) error) error {
	return errNoStreams
}
func (t *itransport) ClockOffset(string) (time.Duration, bool) { return 0, true }
func (t *itransport) ClockHealthy() bool                       { return true }
func (t *itransport) Close() error                             { return nil }

// Descriptions.

func describeDesc(d replica.Descriptor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d voters=%s", d.Version, ids(d.Voters))
	if len(d.Learners) > 0 {
		fmt.Fprintf(&b, " learners=%s", ids(d.Learners))
	}
	if j, _ := replica.JointOf(d.Engine); len(j.Outgoing) > 0 {
		fmt.Fprintf(&b, " outgoing=%s", ids(j.Outgoing))
		if len(j.LearnersNext) > 0 {
			fmt.Fprintf(&b, " learners-next=%s", ids(j.LearnersNext))
		}
	}
	var reps []string
	for _, m := range d.Replicas {
		reps = append(reps, fmt.Sprintf("r%d@%s", m.ID, m.Node))
	}
	fmt.Fprintf(&b, " replicas=(%s) next-id=%d", strings.Join(reps, " "), d.NextReplicaID)
	return b.String()
}

func ids(xs []replica.ReplicaID) string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("r%d", x))
	}
	return "(" + strings.Join(s, " ") + ")"
}

func describeMsg(m imsg) string {
	rm := new(raftpb.Message)
	if err := proto.Unmarshal(m.m.Payload, rm); err != nil {
		return fmt.Sprintf("%s->%s malformed: %v", m.from, m.to, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s->%s %s term=%d", m.from, m.to, rm.GetType(), rm.GetTerm())
	switch rm.GetType() {
	case raftpb.MsgReadIndex:
		return b.String() // its one entry is the request's context
	case raftpb.MsgReadIndexResp:
		fmt.Fprintf(&b, " index=%d", rm.GetIndex())
		return b.String()
	}
	if rm.GetLogTerm() != 0 || rm.GetIndex() != 0 {
		fmt.Fprintf(&b, " log=%d/%d", rm.GetLogTerm(), rm.GetIndex())
	}
	if rm.GetCommit() != 0 {
		fmt.Fprintf(&b, " commit=%d", rm.GetCommit())
	}
	if rm.GetReject() {
		fmt.Fprintf(&b, " rejected(hint=%d)", rm.GetRejectHint())
	}
	if ents := rm.GetEntries(); len(ents) > 0 {
		var es []string
		for _, en := range ents {
			es = append(es, describeEntry(en))
		}
		fmt.Fprintf(&b, " entries=[%s]", strings.Join(es, ", "))
	}
	return b.String()
}

func describeEntry(en *raftpb.Entry) string {
	at := fmt.Sprintf("%d/%d", en.GetTerm(), en.GetIndex())
	switch en.GetType() {
	case raftpb.EntryNormal:
		if len(en.GetData()) == 0 {
			return at + " empty"
		}
		cmd, ok := EntryCommand(en.GetData())
		if !ok {
			return at + " unframed"
		}
		return at + " " + describeCommand(cmd)
	case raftpb.EntryConfChangeV2:
		cc := new(raftpb.ConfChangeV2)
		if err := proto.Unmarshal(en.GetData(), cc); err != nil {
			return at + " malformed conf change"
		}
		return at + " " + describeConfChange(cc)
	}
	return at + " " + en.GetType().String()
}

func describeCommand(b []byte) string {
	c, err := kv.DecodeCommand(b)
	if err != nil {
		return "malformed command"
	}
	var parts []string
	for _, r := range c.Requests {
		switch r.Op {
		case kv.OpPut:
			parts = append(parts, fmt.Sprintf("put %s=%s", r.Key, r.Value))
		case kv.OpDelete:
			parts = append(parts, fmt.Sprintf("delete %s", r.Key))
		default:
			parts = append(parts, fmt.Sprintf("%s %s", strings.ToLower(r.Op.String()), r.Key))
		}
	}
	return strings.Join(parts, "; ")
}

func describeConfChange(cc *raftpb.ConfChangeV2) string {
	if len(cc.GetChanges()) == 0 {
		return "conf change: leave joint"
	}
	var parts []string
	for _, ch := range cc.GetChanges() {
		switch ch.GetType() {
		case raftpb.ConfChangeAddNode:
			parts = append(parts, fmt.Sprintf("voter r%d", ch.GetNodeId()))
		case raftpb.ConfChangeAddLearnerNode:
			parts = append(parts, fmt.Sprintf("learner r%d", ch.GetNodeId()))
		case raftpb.ConfChangeRemoveNode:
			parts = append(parts, fmt.Sprintf("remove r%d", ch.GetNodeId()))
		default:
			parts = append(parts, fmt.Sprintf("%s r%d", ch.GetType(), ch.GetNodeId()))
		}
	}
	kind := "conf change"
	if cc.GetTransition() != raftpb.ConfChangeTransitionAuto || len(parts) > 1 {
		kind = "joint conf change"
	}
	return fmt.Sprintf("%s: %s", kind, strings.Join(parts, ", "))
}

// describeChange says what a planned change does, as describeConfChange
// says it of the conf change it becomes.
func describeChange(ops []driver.ChangeOp) string {
	var parts []string
	for _, op := range ops {
		switch op.Kind {
		case driver.AddVoter:
			parts = append(parts, fmt.Sprintf("voter r%d", op.Replica))
		case driver.AddLearner:
			parts = append(parts, fmt.Sprintf("learner r%d", op.Replica))
		case driver.Remove:
			parts = append(parts, fmt.Sprintf("remove r%d", op.Replica))
		}
	}
	kind := "conf change"
	if len(parts) > 1 {
		kind = "joint conf change"
	}
	return fmt.Sprintf("%s: %s", kind, strings.Join(parts, ", "))
}

// sortedProgress lists a leader's followers in replica order.
func sortedProgress(p map[replica.ReplicaID]replica.PeerProgress) []replica.ReplicaID {
	var out []replica.ReplicaID
	for id := range p {
		out = append(out, id)
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}

// msgType is the raft message type of a message on the wire ("MsgApp").
func msgType(m imsg) string {
	rm := new(raftpb.Message)
	if err := proto.Unmarshal(m.m.Payload, rm); err != nil {
		return ""
	}
	return rm.GetType().String()
}
