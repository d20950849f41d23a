package primarybackup

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cockroachdb/datadriven"
)

// ienv is the script environment of TestInteraction: the harness's
// cluster with no random faults, driven command by command, and a printer
// that shows what each node persists, becomes, commits, applies, answers
// and asks of the configuration store, and every message delivered or
// lost.
type ienv struct {
	t   testing.TB
	cl  *cluster
	out strings.Builder
	// quiet: messages delivered are not printed (tick ... settle).
	quiet bool
}

func (e *ienv) printf(format string, args ...any) {
	fmt.Fprintf(&e.out, format, args...)
	e.out.WriteByte('\n')
}

func name(id replica.ReplicaID) string { return fmt.Sprintf("n%d", id) }

func (e *ienv) handle(t testing.TB, d *datadriven.TestData) string {
	e.out.Reset()
	if d.Cmd != "create" && d.Cmd != "broken" && e.cl == nil {
		t.Fatalf("%s: create first", d.Pos)
	}
	switch d.Cmd {
	case "create":
		n, minIn, seed := 3, 0, 1
		d.MaybeScanArgs(t, "n", &n)
		d.MaybeScanArgs(t, "min-in-sync", &minIn)
		d.MaybeScanArgs(t, "seed", &seed)
		opts := Options{MinInSync: minIn}
		if d.HasArg("mode") {
			var mode string
			d.ScanArgs(t, "mode", &mode)
			if mode == "async" {
				opts.Mode = ModeAsync
			}
		}
		d.MaybeScanArgs(t, "max-lag", &opts.MaxLagTicks)
		e.cl = newCluster(t, uint64(seed), n, opts)
		e.cl.observe = e.observe
		e.cl.onStore = e.onStore
		e.status(nil)
	case "broken":
		var mode string
		d.ScanArgs(t, "mode", &mode)
		on := !d.HasArg("off")
		flags := map[string]*bool{
			"ack-before-all": &broken.ackBeforeAll, "drop-after-ack": &broken.dropAfterAck,
			"promote-outside": &broken.promoteOutside, "old-commits": &broken.oldCommits,
			"early-reads": &broken.earlyReads, "admit-while-ack": &broken.admitWhileAck,
			"async-no-lease": &broken.asyncNoLease, "rollback-in-place": &broken.rollbackInPlace,
			"no-snap-divergence": &broken.noSnapDivergence,
		}
		f, ok := flags[mode]
		if !ok {
			t.Fatalf("%s: no broken mode %q", d.Pos, mode)
		}
		*f = on
		e.printf("broken %s: %v", mode, on)
	case "tick":
		k := 1
		d.MaybeScanArgs(t, "n", &k)
		ids := e.nodeArgs(t, d)
		if len(ids) == 0 {
			ids = e.cl.ids
		}
		epochs := func() (top uint64) {
			for _, n := range e.cl.nodes {
				if n.up && n.core.role == rolePrimary {
					top = max(top, n.core.epoch)
				}
			}
			return top
		}
		start := epochs()
		var untilNode, untilIndex int
		if d.HasArg("until-applied") {
			var v string
			d.ScanArgs(t, "until-applied", &v)
			if _, err := fmt.Sscanf(v, "n%d:%d", &untilNode, &untilIndex); err != nil {
				t.Fatalf("%s: until-applied=nI:K: %v", d.Pos, err)
			}
		}
		for i := range k {
			if d.HasArg("until-new-primary") && epochs() > start {
				e.printf("(a new primary after %d ticks)", i)
				break
			}
			if n := e.cl.nodes[replica.ReplicaID(untilNode)]; n != nil && n.applied >= uint64(untilIndex) {
				e.printf("(n%d applied %d after %d ticks)", untilNode, untilIndex, i)
				break
			}
			for _, id := range ids {
				if n := e.cl.nodes[id]; n.up {
					n.core.Tick()
				}
			}
			e.process()
			if d.HasArg("settle") {
				e.quiet = true
				e.stabilize()
				e.quiet = false
			}
		}
	case "stabilize":
		e.stabilize()
	case "partition":
		ids := e.nodeArgs(t, d)
		for _, a := range ids {
			if !d.HasArg("keep-meta") {
				e.cl.metaCut[a] = true
			}
			for _, b := range e.cl.ids {
				if !slices.Contains(ids, b) {
					e.cl.cut[[2]replica.ReplicaID{a, b}] = true
					e.cl.cut[[2]replica.ReplicaID{b, a}] = true
				}
			}
		}
		if d.HasArg("keep-meta") {
			e.printf("partitioned %v from the rest (the meta group still reachable)", names(ids))
		} else {
			e.printf("partitioned %v from the rest and from the meta group", names(ids))
		}
	case "heal":
		e.cl.cut = map[[2]replica.ReplicaID]bool{}
		e.cl.metaCut = map[replica.ReplicaID]bool{}
		e.printf("links healed")
	case "crash":
		for _, id := range e.nodeArgs(t, d) {
			e.cl.crash(e.node(t, id))
			e.printf("%s crashes", name(id))
		}
	case "restart":
		for _, id := range e.nodeArgs(t, d) {
			e.cl.start(e.node(t, id))
			e.printf("%s restarts: %s", name(id), e.line(e.node(t, id)))
		}
		e.process()
	case "meta":
		on := d.HasArg("up")
		e.cl.meta.SetUnavailable(!on)
		if on {
			e.printf("the meta group has a leader again")
		} else {
			e.printf("the meta group has no leader: every store call fails as not applied")
		}
	case "propose":
		ids := e.nodeArgs(t, d)
		n := e.node(t, ids[0])
		for _, arg := range d.CmdArgs {
			if len(arg.Vals) > 0 || strings.HasPrefix(arg.Key, "n") && len(arg.Key) > 1 && arg.Key[1] >= '0' && arg.Key[1] <= '9' {
				continue
			}
			e.cl.nextID++
			data := driver.Frame(e.cl.nextID, []byte(arg.Key))
			if err := n.core.Propose(data); err != nil {
				e.printf("%s proposes %q: refused: %v", name(n.id), arg.Key, err)
			} else {
				e.printf("%s proposes %q: appended", name(n.id), arg.Key)
			}
		}
		e.process()
	case "read":
		ids := e.nodeArgs(t, d)
		var ctx string
		d.ScanArgs(t, "ctx", &ctx)
		n := e.node(t, ids[0])
		e.cl.pending[ctx] = e.cl.chk.maxIndex
		n.core.ReadIndex([]byte(ctx))
		e.printf("%s asks read %q (committed anywhere: %d)", name(n.id), ctx, e.cl.chk.maxIndex)
		e.process()
	case "status":
		e.status(e.nodeArgs(t, d))
	case "log":
		ids := e.nodeArgs(t, d)
		if len(ids) == 0 {
			ids = e.cl.ids
		}
		for _, id := range ids {
			e.printLog(e.node(t, id))
		}
	case "record":
		e.printRecord()
	case "add-node":
		for _, id := range e.nodeArgs(t, d) {
			n := e.cl.addNode(id)
			e.printf("%s added (uninitialised): %s", name(id), e.line(n))
		}
	case "change":
		// change nP learner=nX | voter=nX | remove=nX: nP's core is asked
		// for the change, as the driver's ChangeMembers asks it.
		n := e.node(t, e.nodeArgs(t, d)[0])
		var ch driver.Change
		for _, kind := range []struct {
			key string
			k   driver.ChangeKind
		}{{"learner", driver.AddLearner}, {"voter", driver.AddVoter}, {"remove", driver.Remove}} {
			if d.HasArg(kind.key) {
				var v string
				d.ScanArgs(t, kind.key, &v)
				var id int
				if _, err := fmt.Sscanf(v, "n%d", &id); err != nil {
					t.Fatalf("%s: %s=nX: %v", d.Pos, kind.key, err)
				}
				ch.Ops = append(ch.Ops, driver.ChangeOp{Kind: kind.k, Replica: replica.ReplicaID(id)})
			}
		}
		if err := n.core.ProposeChange(ch); err != nil {
			e.printf("%s: change %s: refused: %v", name(n.id), d.CmdArgs[1:], err)
		} else {
			e.printf("%s: change %s: appended", name(n.id), d.CmdArgs[1:])
		}
		e.process()
	case "promote":
		// A forced promotion (promote --unsafe): Campaign.
		e.cl.forced = true
		for _, id := range e.nodeArgs(t, d) {
			if err := e.node(t, id).core.Campaign(); err != nil {
				e.printf("%s refuses the forced promotion: %v", name(id), err)
			} else {
				e.printf("%s: forced promotion asked", name(id))
			}
		}
		e.process()
	case "forced":
		for _, id := range e.nodeArgs(t, d) {
			f := e.node(t, id).core.forced
			if f == nil {
				e.printf("%s: no forced promotion", name(id))
				continue
			}
			e.printf("%s: forced promotion: %s; last index %d, highest reported %d (n%d): may lose %d", name(id), f.State, f.LastIndex, f.MaxReported, f.MaxReportedBy, f.MayLose())
		}
	case "transfer":
		n := e.node(t, e.nodeArgs(t, d)[0])
		var v string
		d.ScanArgs(t, "to", &v)
		var id int
		if _, err := fmt.Sscanf(v, "n%d", &id); err != nil {
			t.Fatalf("%s: to=nX: %v", d.Pos, err)
		}
		n.core.TransferLeader(replica.ReplicaID(id))
		e.printf("%s: transfer to n%d", name(n.id), id)
		e.process()
	case "conf":
		for _, id := range e.nodeArgs(t, d) {
			desc := e.cl.descriptor(e.node(t, id))
			sec, _ := decodeSection(desc.Engine)
			e.printf("%s: descriptor v%d voters=(%s) learners=(%s) section: epoch=%d primary=%s in-sync=(%s)", name(id), desc.Version,
				names(desc.Voters), names(desc.Learners), sec.Epoch, name(sec.Primary), names(sec.InSync))
		}
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	return e.out.String()
}

func names(ids []replica.ReplicaID) string {
	var s []string
	for _, id := range ids {
		s = append(s, name(id))
	}
	return strings.Join(s, " ")
}

func (e *ienv) nodeArgs(t testing.TB, d *datadriven.TestData) []replica.ReplicaID {
	var ids []replica.ReplicaID
	for _, arg := range d.CmdArgs {
		var i int
		if len(arg.Vals) == 0 {
			if _, err := fmt.Sscanf(arg.Key, "n%d", &i); err == nil {
				ids = append(ids, replica.ReplicaID(i))
			}
		}
	}
	return ids
}

func (e *ienv) node(t testing.TB, id replica.ReplicaID) *node {
	n := e.cl.nodes[id]
	if n == nil {
		t.Fatalf("no node %s", name(id))
	}
	return n
}

// process runs rounds on every node until none has anything ready; it
// delivers nothing and lets the store do nothing.
func (e *ienv) process() {
	for busy := true; busy; {
		busy = false
		for _, id := range e.cl.ids {
			for e.cl.round(e.cl.nodes[id]) {
				busy = true
			}
		}
	}
}

// stabilize delivers every message in order and lets the store answer,
// with rounds after each, until nothing is left.
func (e *ienv) stabilize() {
	for range 10000 {
		e.process()
		if len(e.cl.net) > 0 {
			env, ok := e.cl.deliver(0)
			e.printMsg(env, ok)
			continue
		}
		if e.cl.meta.Pending() > 0 || e.cl.deliverPosted() {
			e.cl.storeStep()
			continue
		}
		return
	}
	e.t.Fatal("stabilize: never quiet")
}

func short(h uint64) string { return fmt.Sprintf("%04x", h>>48) }

func (e *ienv) printMsg(env envelope, ok bool) {
	if e.quiet {
		return
	}
	m, err := decodeMessage(env.payload)
	if err != nil {
		e.printf("%s->%s: undecodable: %v", name(env.from), name(env.to), err)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s->%s %s e%d", name(env.from), name(env.to), m.Type, m.Epoch)
	switch m.Type {
	case msgAppend:
		fmt.Fprintf(&b, " prev=%d@e%d/%s commit=%d seq=%d", m.Prev.Index, m.Prev.Epoch, short(m.Prev.Hash), m.Commit, m.Seq)
		if len(m.Entries) > 0 {
			var es []string
			for k, w := range m.Entries {
				es = append(es, fmt.Sprintf("%d:%s@e%d", m.Prev.Index+1+uint64(k), show(w.Data), w.Epoch))
			}
			fmt.Fprintf(&b, " entries=[%s]", strings.Join(es, " "))
		}
	case msgAppendResp:
		if m.Reject {
			fmt.Fprintf(&b, " reject prev=%d last=%d@e%d/%s", m.Index, m.Last.Index, m.Last.Epoch, short(m.Last.Hash))
		} else {
			fmt.Fprintf(&b, " index=%d seq=%d", m.Index, m.Seq)
		}
	case msgSnapshot:
		fmt.Fprintf(&b, " at=%d@e%d", m.Index, m.Term)
	}
	if !ok {
		b.WriteString(" (lost)")
	}
	e.printf("%s", b.String())
}

func recString(r Record) string {
	return fmt.Sprintf("epoch=%d primary=%s in-sync=(%s)", r.Epoch, name(r.Primary), names(r.InSync))
}

func (e *ienv) observe(n *node, rd *driver.Ready) {
	if rd.Soft != nil {
		if rd.Soft.State == replica.StateLeader {
			e.printf("%s: in office at e%d", name(n.id), n.core.epoch)
		} else if rd.Soft.Leader == n.id {
			e.printf("%s: becomes primary at e%d (taking office)", name(n.id), n.core.epoch)
		} else if rd.Soft.Leader != 0 {
			e.printf("%s: becomes backup of %s at e%d", name(n.id), name(rd.Soft.Leader), n.core.epoch)
		} else {
			e.printf("%s: becomes backup (no primary known) at e%d", name(n.id), n.core.epoch)
		}
	}
	er := rd.Engine.(*engineReady)
	for _, r := range er.rollbacks {
		var es []string
		for _, en := range r.Entries {
			a := ""
			if en.Applied {
				a = " (applied)"
			}
			es = append(es, fmt.Sprintf("%d:%s@e%d%s", en.Index, show(en.Data), en.Epoch, a))
		}
		how := "cuts its log and catches up"
		if r.Rebuild {
			how = "rebuilds from a snapshot"
		}
		e.printf("%s: rolls back above %d for e%d (recorded first; unlisted %d): %s; %s", name(n.id), r.After, r.Epoch, r.Unlisted, strings.Join(es, " "), how)
	}
	if er.cut {
		e.printf("%s: drops its log above %d (divergent)", name(n.id), er.cutAbove)
	}
	if rd.Snapshot != nil {
		e.printf("%s: installs a snapshot at %d@e%d", name(n.id), rd.Snapshot.Index, rd.Snapshot.Term)
	}
	if len(rd.Entries) > 0 {
		var es []string
		for _, en := range rd.Entries {
			es = append(es, fmt.Sprintf("%d:%s@e%d", en.Index, show(en.Data), en.Term))
		}
		e.printf("%s: persists %s", name(n.id), strings.Join(es, " "))
	}
	if len(rd.Committed) > 0 {
		var es []string
		for _, en := range rd.Committed {
			es = append(es, fmt.Sprintf("%d:%s", en.Index, show(en.Data)))
		}
		e.printf("%s: applies %s", name(n.id), strings.Join(es, " "))
	}
	for _, r := range rd.Reads {
		e.printf("%s: read %q may run at index %d", name(n.id), r.Ctx, r.Index)
	}
	for _, c := range er.calls {
		if c.Get {
			e.printf("%s: store Get %s", name(n.id), c.Key)
			continue
		}
		r, _ := DecodeRecord(c.Value)
		e.printf("%s: store CAS %s if version=%d: %s", name(n.id), c.Key, c.Version, recString(r))
	}
}

func (e *ienv) onStore(n *node, m *message) {
	what := map[storeResult]string{storeOK: "ok", storeConflict: "conflict", storeNotApplied: "not applied", storeUnknown: "unknown"}[m.Result]
	if m.Value != nil {
		r, _ := DecodeRecord(m.Value)
		e.printf("store->%s: %s version=%d %s", name(n.id), what, m.Version, recString(r))
		return
	}
	e.printf("store->%s: %s version=%d", name(n.id), what, m.Version)
}

func (e *ienv) line(n *node) string {
	if !n.up {
		return "down"
	}
	c := n.core
	role := "backup"
	if c.role == rolePrimary {
		role = "primary"
		if c.inOffice() {
			role += " (in office)"
		}
	}
	return fmt.Sprintf("%s e%d commit=%d applied=%d last=%d record=v%d %s", role, c.epoch, c.commit, n.applied, c.lastIndex(), c.recVersion, recString(c.rec))
}

func (e *ienv) status(ids []replica.ReplicaID) {
	if len(ids) == 0 {
		ids = e.cl.ids
	}
	for _, id := range ids {
		e.printf("%s: %s", name(id), e.line(e.cl.nodes[id]))
	}
}

func (e *ienv) printLog(n *node) {
	if !n.up {
		e.printf("%s: down", name(n.id))
		return
	}
	c := n.core
	var es []string
	for i := c.firstIndex(); i <= c.lastIndex(); i++ {
		en := c.entry(i)
		mark := ""
		if i <= c.commit {
			mark = "*"
		}
		es = append(es, fmt.Sprintf("%d:%s@e%d%s", i, show(en.data), en.epoch, mark))
	}
	var hs []string
	for _, h := range c.history {
		hs = append(hs, fmt.Sprintf("e%d@%d", h.Epoch, h.First))
	}
	e.printf("%s: trunc=%d [%s] epochs=[%s]", name(n.id), c.trunc.Index, strings.Join(es, " "), strings.Join(hs, " "))
}

func (e *ienv) printRecord() {
	raw, v := e.cl.meta.Peek(recordKey(testGroup))
	if raw == nil {
		e.printf("record: absent")
		return
	}
	r, err := DecodeRecord(raw)
	if err != nil {
		e.printf("record: corrupt: %v", err)
		return
	}
	var offs []string
	for _, o := range r.Offsets {
		offs = append(offs, fmt.Sprintf("%s:%d", name(o.Replica), o.Offset))
	}
	e.printf("record v%d: %s replicas=(%s) offsets=(%s)", v, recString(r), names(r.Replicas), strings.Join(offs, " "))
}
