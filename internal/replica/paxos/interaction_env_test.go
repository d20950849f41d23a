package paxos

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cockroachdb/datadriven"
)

// ienv is the script environment of TestInteraction: the test harness's
// cluster (harness_test.go) with every fault probability zero, driven
// command by command, and a printer that shows what each node persists,
// becomes, applies and answers, and every message delivered or lost.
type ienv struct {
	t   testing.TB
	cl  *cluster
	out strings.Builder
	// persisted is each node's durable promise, as the printer last saw it.
	persisted map[replica.ReplicaID]Ballot
}

func newIEnv(t testing.TB) *ienv {
	return &ienv{t: t, persisted: map[replica.ReplicaID]Ballot{}}
}

func (e *ienv) printf(format string, args ...any) {
	fmt.Fprintf(&e.out, format, args...)
	e.out.WriteByte('\n')
}

func (e *ienv) handle(t testing.TB, d *datadriven.TestData) string {
	e.out.Reset()
	if d.Cmd != "create" && e.cl == nil {
		t.Fatalf("%s: create first", d.Pos)
	}
	switch d.Cmd {
	case "create":
		voters, learners, seed := 3, 0, 1
		d.MaybeScanArgs(t, "voters", &voters)
		d.MaybeScanArgs(t, "learners", &learners)
		d.MaybeScanArgs(t, "seed", &seed)
		e.cl = newCluster(t, uint64(seed), voters, learners)
		e.cl.observe = e.observe
		e.status(nil)
	case "add-node":
		for _, id := range e.nodeArgs(t, d) {
			e.addNode(id)
		}
		e.status(nil)
	case "campaign":
		for _, id := range e.nodeArgs(t, d) {
			must(t, e.node(t, id).core.Campaign())
			e.printf("%s campaigns (forced)", name(id))
			if !d.HasArg("hold") {
				e.process(id)
			}
		}
	case "timeout":
		for _, id := range e.nodeArgs(t, d) {
			n := e.node(t, id)
			k := 0
			for n.core.state == replica.StateFollower {
				if k++; k > 10*electionTicks {
					t.Fatalf("%s: %s never timed out", d.Pos, name(id))
				}
				n.core.Tick()
			}
			e.printf("%s times out after %d ticks", name(id), k)
			e.process(id)
		}
	case "tick":
		k := 1
		d.MaybeScanArgs(t, "n", &k)
		ids := e.nodeArgs(t, d)
		if len(ids) == 0 {
			ids = e.cl.ids
		}
		for range k {
			for _, id := range ids {
				if n := e.cl.nodes[id]; n.up {
					n.core.Tick()
				}
			}
			e.process(ids...)
		}
	case "process":
		e.process(e.nodeArgs(t, d)...)
	case "stabilize":
		e.stabilize(e.nodeArgs(t, d))
	case "msgs":
		if len(e.cl.net) == 0 {
			e.printf("no messages")
		}
		for _, m := range e.cl.net {
			e.printf("%s", e.describe(m))
		}
	case "deliver", "drop":
		e.deliverMatching(t, d)
	case "partition":
		ids := e.nodeArgs(t, d)
		for _, x := range ids {
			for _, y := range e.cl.ids {
				if !slices.Contains(ids, y) {
					e.cl.cut[[2]replica.ReplicaID{x, y}] = true
					e.cl.cut[[2]replica.ReplicaID{y, x}] = true
				}
			}
		}
		e.printf("cut %v from the rest", names(ids))
	case "heal":
		clear(e.cl.cut)
		e.printf("every link restored")
	case "crash":
		for _, id := range e.nodeArgs(t, d) {
			e.cl.crash(e.node(t, id))
			e.printf("%s crashes: keeps what it synced", name(id))
		}
	case "crash-in-fsync":
		// One round whose early messages leave and whose batch is lost.
		for _, id := range e.nodeArgs(t, d) {
			n := e.node(t, id)
			if !n.core.HasReady() {
				t.Fatalf("%s: %s has nothing to write", d.Pos, name(id))
			}
			e.cl.crashInRound = 1
			e.cl.round(n)
			e.cl.crashInRound = 0
		}
	case "restart":
		for _, id := range e.nodeArgs(t, d) {
			n := e.cl.nodes[id]
			if n.up {
				t.Fatalf("%s: %s is up", d.Pos, name(id))
			}
			e.cl.start(n)
			e.persisted[id] = n.core.promise
			e.printf("%s restarts from its store", name(id))
			e.statusOf(n)
		}
	case "propose":
		// propose nI v1 v2 ...: each value a proposal at nI.
		ids := e.nodeArgs(t, d)
		for _, a := range d.CmdArgs {
			if _, ok := nodeID(a.Key); !ok && len(a.Vals) == 0 && a.Key != "hold" {
				e.proposeOne(ids[0], a.Key)
			}
		}
		if !d.HasArg("hold") {
			e.process(ids[0])
		}
	case "read":
		ids := e.nodeArgs(t, d)
		var ctx string
		d.ScanArgs(t, "ctx", &ctx)
		e.cl.pending[ctx] = e.cl.chk.maxIndex
		e.node(t, ids[0]).core.ReadIndex([]byte(ctx))
		e.printf("%s reads %q (highest index committed anywhere: %d)", name(ids[0]), ctx, e.cl.chk.maxIndex)
		e.process(ids[0])
	case "transfer":
		ids := e.nodeArgs(t, d)
		to := nodeArg(t, d, "to")
		e.node(t, ids[0]).core.TransferLeader(to)
		e.printf("%s transfers leadership to %s", name(ids[0]), name(to))
		e.process(ids[0])
	case "truncate":
		for _, id := range e.nodeArgs(t, d) {
			n := e.node(t, id)
			to := n.applied
			d.MaybeScanArgs(t, "to", &to)
			b := n.store.NewBatch()
			must(t, n.core.Log().StageTruncate(storage.LogOf(b), to))
			must(t, b.Commit(true))
			must(t, b.Close())
			e.printf("%s truncates its log to %d", name(id), to)
		}
	case "change":
		ids := e.nodeArgs(t, d)
		var ch driver.Change
		for _, k := range []struct {
			arg  string
			kind driver.ChangeKind
		}{{"add-learner", driver.AddLearner}, {"add-voter", driver.AddVoter}, {"remove", driver.Remove}} {
			for _, a := range d.CmdArgs {
				if a.Key != k.arg {
					continue
				}
				for _, v := range a.Vals {
					r, ok := nodeID(v)
					if !ok {
						t.Fatalf("%s: %s=%s is not a node", d.Pos, k.arg, v)
					}
					ch.Ops = append(ch.Ops, driver.ChangeOp{Kind: k.kind, Replica: r})
				}
			}
		}
		ch.Context = []byte("ctx")
		err := e.node(t, ids[0]).core.ProposeChange(ch)
		e.printf("%s proposes change %s: %s", name(ids[0]), changeString(ch), outcome(err))
		e.process(ids[0])
	case "status":
		e.status(e.nodeArgs(t, d))
	case "log":
		ids := e.nodeArgs(t, d)
		if len(ids) == 0 {
			ids = e.cl.ids
		}
		for _, id := range ids {
			e.logOf(e.cl.nodes[id])
		}
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	return e.out.String()
}

func name(id replica.ReplicaID) string { return fmt.Sprintf("n%d", id) }

func names(ids []replica.ReplicaID) string {
	var s []string
	for _, id := range ids {
		s = append(s, name(id))
	}
	return "(" + strings.Join(s, " ") + ")"
}

func outcome(err error) string {
	if err != nil {
		return "dropped"
	}
	return "ok"
}

// nodeArgs are the nI arguments without values.
func (e *ienv) nodeArgs(t testing.TB, d *datadriven.TestData) []replica.ReplicaID {
	var ids []replica.ReplicaID
	for _, a := range d.CmdArgs {
		if id, ok := nodeID(a.Key); ok && len(a.Vals) == 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

// nodeArg is the node named by key=nI; 0 if there is no such argument.
func nodeArg(t testing.TB, d *datadriven.TestData, key string) replica.ReplicaID {
	if !d.HasArg(key) {
		return 0
	}
	var v string
	d.ScanArgs(t, key, &v)
	id, ok := nodeID(v)
	if !ok {
		t.Fatalf("%s: %s=%s is not a node", d.Pos, key, v)
	}
	return id
}

func nodeID(s string) (replica.ReplicaID, bool) {
	if !strings.HasPrefix(s, "n") {
		return 0, false
	}
	i, err := strconv.Atoi(s[1:])
	return replica.ReplicaID(i), err == nil && i > 0
}

func (e *ienv) node(t testing.TB, id replica.ReplicaID) *node {
	n := e.cl.nodes[id]
	if n == nil || !n.up {
		t.Fatalf("%s is not up", name(id))
	}
	return n
}

// addNode adds an empty node: a replica the group does not know yet,
// waiting for a snapshot (its descriptor names no replica).
func (e *ienv) addNode(id replica.ReplicaID) {
	st := storage.NewMem()
	b := st.NewBatch()
	desc := replica.Descriptor{Group: testGroup}
	must(e.t, b.Set(storage.DescriptorKey(testGroup), desc.Encode(nil)))
	must(e.t, b.Commit(true))
	must(e.t, b.Close())
	n := &node{id: id, store: st}
	e.cl.nodes[id] = n
	e.cl.ids = append(e.cl.ids, id)
	e.cl.start(n)
}

func (e *ienv) proposeOne(id replica.ReplicaID, v string) {
	e.cl.nextID++
	err := e.cl.nodes[id].core.Propose(driver.Frame(e.cl.nextID, []byte(v)))
	e.printf("%s proposes %q: %s", name(id), v, outcome(err))
}

// process runs rounds on the nodes (default all) until none is ready.
func (e *ienv) process(ids ...replica.ReplicaID) {
	if len(ids) == 0 {
		ids = e.cl.ids
	}
	for busy := true; busy; {
		busy = false
		for _, id := range ids {
			if n := e.cl.nodes[id]; n != nil && n.up {
				for e.cl.round(n) {
					busy = true
				}
			}
		}
	}
}

// stabilize delivers, in order, every message among ids (default all),
// running rounds after each, until none is left.
func (e *ienv) stabilize(ids []replica.ReplicaID) {
	in := func(id replica.ReplicaID) bool { return len(ids) == 0 || slices.Contains(ids, id) }
	e.process(ids...)
	for k := 0; ; k++ {
		if k > 100000 {
			e.t.Fatalf("stabilize: no end")
		}
		i := slices.IndexFunc(e.cl.net, func(m envelope) bool { return in(m.from) && in(m.to) })
		if i < 0 {
			return
		}
		e.deliverAt(i, false)
		e.process(ids...)
	}
}

func (e *ienv) deliverMatching(t testing.TB, d *datadriven.TestData) {
	from, to := nodeArg(t, d, "from"), nodeArg(t, d, "to")
	typ, count, slot := "", -1, 0
	d.MaybeScanArgs(t, "slot", &slot)
	d.MaybeScanArgs(t, "type", &typ)
	d.MaybeScanArgs(t, "count", &count)
	match := func(m envelope) bool {
		if from != 0 && m.from != from || to != 0 && m.to != to {
			return false
		}
		mm, err := decodeMessage(m.payload)
		if err != nil || typ != "" && msgName(mm.Type) != typ {
			return false
		}
		return slot == 0 || slices.ContainsFunc(mm.Slots, func(s wireSlot) bool { return s.Index == uint64(slot) })
	}
	n := 0
	for i := 0; i < len(e.cl.net) && n != count; {
		if !match(e.cl.net[i]) {
			i++
			continue
		}
		n++
		if d.Cmd == "drop" {
			e.printf("dropped %s", e.describe(e.cl.net[i]))
			e.cl.net = slices.Delete(e.cl.net, i, i+1)
			continue
		}
		e.deliverAt(i, true)
		if !d.HasArg("hold") {
			e.process()
		}
	}
	if n == 0 {
		t.Fatalf("%s: no message matches", d.Pos)
	}
}

// deliverAt delivers the message at i (lost if its receiver is down or cut
// off), printing it.
func (e *ienv) deliverAt(i int, _ bool) {
	m := e.cl.net[i]
	to := e.cl.nodes[m.to]
	lost := ""
	switch {
	case to == nil || !to.up:
		lost = " (lost: receiver down)"
	case e.cl.cut[[2]replica.ReplicaID{m.from, m.to}]:
		lost = " (lost: cut)"
	}
	e.printf("%s%s", e.describe(m), lost)
	e.cl.deliver(i)
}

var msgNames = map[msgType]string{
	msgPrePrepare: "PrePrepare", msgPrePrepareResp: "PrePrepareResp", msgPrepare: "Prepare",
	msgPromise: "Promise", msgAccept: "Accept", msgAccepted: "Accepted", msgHeartbeat: "Heartbeat",
	msgHeartbeatResp: "HeartbeatResp", msgChosen: "Chosen", msgCommitted: "Committed", msgFetch: "Fetch",
	msgSnapshot: "Snapshot", msgTimeoutNow: "TimeoutNow", msgReadIndex: "ReadIndex", msgReadIndexResp: "ReadIndexResp",
}

func msgName(t msgType) string { return msgNames[t] }

func valueString(typ driver.EntryType, data []byte) string {
	switch {
	case typ == driver.EntryChange:
		ch, err := decodeChange(data)
		if err != nil {
			return "change(?)"
		}
		return "change" + changeString(ch)
	case len(data) == 0:
		return "noop"
	}
	if _, _, cmd, err := driver.Unframe(data); err == nil {
		return strconv.Quote(string(cmd))
	}
	return strconv.Quote(string(data))
}

func changeString(ch driver.Change) string {
	var s []string
	for _, op := range ch.Ops {
		switch op.Kind {
		case driver.AddLearner:
			s = append(s, "+learner "+name(op.Replica))
		case driver.AddVoter:
			s = append(s, "+voter "+name(op.Replica))
		case driver.Remove:
			s = append(s, "-"+name(op.Replica))
		}
	}
	return "(" + strings.Join(s, ", ") + ")"
}

func slotsString(ss []wireSlot) string {
	var s []string
	for _, w := range ss {
		x := fmt.Sprintf("%d:%s@%s", w.Index, valueString(w.Type, w.Data), w.Ballot)
		if w.Chosen {
			x += "(chosen)"
		}
		s = append(s, x)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// describe is one message, as it reads in the protocol.
func (e *ienv) describe(env envelope) string {
	m, err := decodeMessage(env.payload)
	head := fmt.Sprintf("%s->%s ", name(env.from), name(env.to))
	if err != nil {
		return head + "undecodable"
	}
	head += msgName(m.Type)
	rej := m.has(flagReject)
	switch m.Type {
	case msgPrePrepare:
		return fmt.Sprintf("%s %s commit=%d", head, m.Ballot, m.Commit)
	case msgPrePrepareResp, msgAccepted, msgHeartbeatResp, msgPromise:
		if rej {
			return fmt.Sprintf("%s reject (promised %s)", head, m.Ballot)
		}
	}
	switch m.Type {
	case msgPrePrepareResp:
		return fmt.Sprintf("%s %s yes", head, m.Ballot)
	case msgPrepare:
		s := fmt.Sprintf("%s %s from=%d", head, m.Ballot, m.Index)
		if m.has(flagForce) {
			s += " force"
		}
		return s
	case msgPromise:
		s := fmt.Sprintf("%s %s commit=%d trunc=%d slots=%s", head, m.Ballot, m.Commit, m.Trunc, slotsString(m.Slots))
		if m.has(flagMore) {
			s += fmt.Sprintf(" more from %d", m.Index)
		}
		return s
	case msgAccept:
		return fmt.Sprintf("%s %s commit=%d slots=%s", head, m.Ballot, m.Commit, slotsString(m.Slots))
	case msgAccepted:
		return fmt.Sprintf("%s %s acks=%v commit=%d", head, m.Ballot, m.Acks, m.Commit)
	case msgHeartbeat:
		return fmt.Sprintf("%s %s commit=%d seq=%d", head, m.Ballot, m.Commit, m.Seq)
	case msgHeartbeatResp:
		s := fmt.Sprintf("%s %s commit=%d seq=%d", head, m.Ballot, m.Commit, m.Seq)
		if m.has(flagCurrent) {
			s += " current"
		}
		return s
	case msgChosen:
		return fmt.Sprintf("%s slots=%s", head, slotsString(m.Slots))
	case msgCommitted:
		return fmt.Sprintf("%s commit=%d", head, m.Commit)
	case msgFetch:
		return fmt.Sprintf("%s from=%d", head, m.Index)
	case msgSnapshot:
		return fmt.Sprintf("%s index=%d voters=%v learners=%v", head, m.Index, m.Config.Voters, m.Config.Learners)
	case msgTimeoutNow:
		return fmt.Sprintf("%s %s", head, m.Ballot)
	case msgReadIndex:
		return fmt.Sprintf("%s %q", head, m.Ctx)
	case msgReadIndexResp:
		return fmt.Sprintf("%s %q index=%d", head, m.Ctx, m.Index)
	}
	return head
}

// observe prints one round: what it made durable (or lost in a crash),
// the role it changed to, what it applied and the reads it answered.
func (e *ienv) observe(n *node, rd *driver.Ready, crashed bool) {
	er := rd.Engine.(*engineReady)
	who := name(n.id)
	if rd.Soft != nil {
		e.printf("%s: becomes %s", who, e.role(n))
	}
	var w []string
	if er.snap != nil {
		w = append(w, fmt.Sprintf("snapshot at %d", er.snap.Index))
	}
	if er.cutAbove != 0 {
		w = append(w, fmt.Sprintf("deletes slots above %d", er.cutAbove))
	}
	for _, x := range er.writes {
		s, _ := decodeSlot(x.value)
		w = append(w, fmt.Sprintf("%d:%s@%s", x.index, valueString(s.typ, s.data), x.ballot))
	}
	if er.hs != nil && er.promise != e.persisted[n.id] {
		w = append(w, "promise "+er.promise.String())
	}
	if len(w) > 0 {
		if crashed {
			e.printf("%s: CRASHES inside its fsync; lost: %s", who, strings.Join(w, ", "))
		} else {
			e.printf("%s: persists %s", who, strings.Join(w, ", "))
		}
	} else if crashed {
		e.printf("%s: CRASHES inside its fsync", who)
	}
	if crashed {
		return
	}
	if er.hs != nil {
		e.persisted[n.id] = er.promise
	}
	if len(rd.Committed) > 0 {
		var a []string
		for _, c := range rd.Committed {
			a = append(a, fmt.Sprintf("%d:%s", c.Index, valueString(c.Type, c.Data)))
		}
		e.printf("%s: applies %s", who, strings.Join(a, " "))
	}
	for _, r := range rd.Reads {
		e.printf("%s: read %q answered at index %d", who, r.Ctx, r.Index)
	}
}

func (e *ienv) role(n *node) string {
	c := n.core
	switch c.state {
	case replica.StateLeader:
		return fmt.Sprintf("leader at %s", c.ballot)
	case replica.StateCandidate:
		return fmt.Sprintf("candidate at %s", c.ballot)
	case replica.StatePreCandidate:
		return fmt.Sprintf("pre-candidate for %s", c.nextBallot())
	}
	if c.leader != 0 {
		return fmt.Sprintf("follower of %s", name(c.leader))
	}
	return "follower"
}

func (e *ienv) status(ids []replica.ReplicaID) {
	if len(ids) == 0 {
		ids = e.cl.ids
	}
	for _, id := range ids {
		e.statusOf(e.cl.nodes[id])
	}
}

func (e *ienv) statusOf(n *node) {
	if !n.up {
		e.printf("%s: down", name(n.id))
		return
	}
	c := n.core
	s := fmt.Sprintf("%s: %s promise=%s commit=%d applied=%d trunc=%d last=%d", name(n.id), e.role(n), c.promise, c.commit, n.applied, c.trunc.Index, c.lastIndex())
	if c.initialized() {
		s += " voters=" + names(c.cfg.Voters)
		if len(c.cfg.Learners) > 0 {
			s += " learners=" + names(c.cfg.Learners)
		}
	} else {
		s += " (no configuration)"
	}
	if c.lead != nil && c.commit < c.lead.readyAt {
		s += fmt.Sprintf(" reads-wait-for=%d", c.lead.readyAt)
	}
	e.printf("%s", s)
}

func (e *ienv) logOf(n *node) {
	if !n.up {
		e.printf("%s: down", name(n.id))
		return
	}
	c := n.core
	var s []string
	for i := c.firstIndex(); i <= c.lastIndex(); i++ {
		sl := c.slot(i)
		if sl == nil {
			s = append(s, fmt.Sprintf("%d:hole", i))
			continue
		}
		x := fmt.Sprintf("%d:%s@%s", i, valueString(sl.typ, sl.data), sl.ballot)
		if i <= c.commit {
			x += "(chosen)"
		}
		s = append(s, x)
	}
	if len(s) == 0 {
		s = append(s, "empty")
	}
	e.printf("%s: log after %d: %s", name(n.id), c.trunc.Index, strings.Join(s, " "))
}
