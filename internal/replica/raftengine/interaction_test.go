package raftengine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cockroachdb/datadriven"
	"go.etcd.io/raft/v3/raftpb"
)

// TestInteraction runs the scripted interaction tests in
// testdata/interaction, as etcd raft's rafttest does for the library: each
// script drives a few Manual hosts over a queued network step by step
// (interaction_env_test.go) and its expected output shows what happened.
// Regenerate the output with
//
//	go test ./internal/replica/raftengine -run TestInteraction -rewrite
//
// and read it: the output must show correct Raft behaviour, not only the
// behaviour of the day.
//
// Commands (nodes are n1, n2, ...; the group is group 1):
//
//	create nodes=N [truncate-after=E] [truncate-max-bytes=B] [chunk=C]
//	                          N founders of the group, replicas r1..rN, all voters
//	add-node nI               an empty node (for a replica added later)
//	campaign nI               tick nI alone until it campaigns
//	tick [nI...] [n=K] [stabilize]
//	                          K ticks of the nodes (default all); after each, run
//	                          rounds (and with stabilize, deliver until quiet)
//	stabilize [nI...]         rounds and deliveries until nothing happens (among
//	                          the named nodes only: the rest stays on the wire)
//	process [nI...]           run rounds only, delivering nothing
//	msgs                      list what is on the wire
//	deliver [from=nI] [to=nJ] [type=MsgApp] [count=K]
//	drop [from=nI] [to=nJ] [type=MsgApp] [count=K]
//	delay [from=nI] [to=nJ] [type=MsgApp] [count=K]
//	                          deliver (then run rounds), lose, or hold back
//	                          matching messages
//	duplicate [from=nI] [to=nJ] [type=MsgApp] [count=K]
//	                          send matching messages again, after everything else
//	release                   put the held back messages on the wire again
//	remove-stale nI           Host.RemoveStale at nI with the leader's descriptor
//	partition nI... [| nJ...] cut every link between the two sides (default:
//	                          the named nodes against the rest)
//	heal                      restore every link
//	put nI key=value          ProposeAsync at nI; the outcome is printed when it comes
//	read nI key [mode=linearizable|follower|stale]
//	pending                   requests still unanswered
//	status [nI...] [progress] each node's view of the group
//	log [nI...] [entries]     each node's stored log and hard state
//	kv [nI...]                each node's stored key-value data
//	digest                    each node's applied index and state digest
//	crash nI...               power off between rounds: keep what was synced
//	power-cut nI... [after-sync]
//	                          arm a power cut inside the node's next fsync
//	restart nI...             reopen the host on what the store kept
//	transfer nI to=nJ         ask the leader nI to hand leadership to nJ
//	change [voters=(...)] [learners=(...)] [max-ticks=K]
//	                          drive ChangeMembersStep on the leader until done
//	change-step nI [voters=(...)] [learners=(...)]
//	                          one ChangeMembersStep on nI
//
// Any command takes verbose: print every message delivered or lost. The
// network delivers only when told (stabilize, deliver, and the rounds of
// tick and change), in the order messages were sent; a message to a node
// that is down or across a partition is lost on delivery.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		// Raft draws its randomized election timeouts from crypto/rand:
		// seeded, every run of a script takes the same path.
		cryptotest.SetGlobalRandom(t, 1)
		e := newIEnv(t)
		defer e.close()
		datadriven.RunTest(t, path, e.handle)
	})
}

func (e *ienv) handle(t *testing.T, d *datadriven.TestData) string {
	e.out.Reset()
	e.header, e.indent, e.verbose = "", "", d.HasArg("verbose")
	switch d.Cmd {
	case "create":
		e.cmdCreate(t, d)
	case "add-node":
		for _, name := range e.nodeArgs(t, d, true) {
			if e.node(name) != nil {
				t.Fatalf("%s: node %s exists", d.Pos, name)
			}
			e.addNode(name, nil)
		}
	case "campaign":
		e.cmdCampaign(t, d)
	case "tick":
		e.cmdTick(t, d)
	case "stabilize":
		var only map[string]bool
		for _, n := range e.nodeArgs(t, d, false) {
			if only == nil {
				only = map[string]bool{}
			}
			only[n] = true
		}
		e.stabilizeSome(only)
	case "process":
		for _, n := range e.nodesOrAll(t, d) {
			n.runRounds()
		}
	case "msgs":
		e.cmdMsgs()
	case "deliver", "drop", "delay", "duplicate":
		e.cmdDeliver(t, d)
	case "partition":
		e.cmdPartition(t, d)
	case "release":
		for _, m := range e.delayed {
			e.printf("released %s", describeMsg(m))
		}
		e.wire = append(e.wire, e.delayed...)
		e.delayed = nil
	case "remove-stale":
		e.cmdRemoveStale(t, d)
	case "heal":
		clear(e.blocked)
	case "put":
		e.cmdPut(t, d)
	case "read":
		e.cmdRead(t, d)
	case "pending":
		for _, op := range e.ops {
			if !op.done {
				e.printf("%s: waiting", op.label())
			}
		}
	case "status":
		for _, n := range e.nodesOrAll(t, d) {
			e.printStatus(n, d.HasArg("progress"))
		}
	case "log":
		for _, n := range e.nodesOrAll(t, d) {
			e.printLog(n, d.HasArg("entries"))
		}
	case "kv":
		for _, n := range e.nodesOrAll(t, d) {
			e.printKV(n)
		}
	case "digest":
		e.cmdDigest()
	case "crash":
		for _, n := range e.nodesOf(t, d) {
			if n.host == nil {
				t.Fatalf("%s: %s is down already", d.Pos, n.name)
			}
			e.printf("%s crashes", n.name)
			n.crash()
		}
	case "power-cut":
		mode := cutBeforeSync
		if d.HasArg("after-sync") {
			mode = cutAfterSync
		}
		for _, n := range e.nodesOf(t, d) {
			n.cut = mode
			e.printf("%s: power cut armed for its next fsync (%s)", n.name, cutName(mode))
		}
	case "restart":
		for _, n := range e.nodesOf(t, d) {
			if n.host != nil {
				t.Fatalf("%s: %s is running", d.Pos, n.name)
			}
			n.start(nil)
		}
	case "transfer":
		e.cmdTransfer(t, d)
	case "change":
		e.cmdChange(t, d)
	case "change-step":
		e.cmdChangeStep(t, d)
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	if e.out.Len() == 0 {
		return "ok\n"
	}
	return e.out.String()
}

// Arguments.

func isNodeName(s string) bool {
	if len(s) < 2 || s[0] != 'n' {
		return false
	}
	_, err := strconv.Atoi(s[1:])
	return err == nil
}

// nodeArgs lists the arguments that name nodes (nI, without a value).
func (e *ienv) nodeArgs(t *testing.T, d *datadriven.TestData, allowNew bool) []string {
	var names []string
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 && isNodeName(a.Key) {
			if !allowNew && e.node(a.Key) == nil {
				t.Fatalf("%s: no node %s", d.Pos, a.Key)
			}
			names = append(names, a.Key)
		}
	}
	return names
}

func (e *ienv) nodesOf(t *testing.T, d *datadriven.TestData) []*inode {
	var ns []*inode
	for _, name := range e.nodeArgs(t, d, false) {
		ns = append(ns, e.node(name))
	}
	if len(ns) == 0 {
		t.Fatalf("%s: %s needs a node", d.Pos, d.Cmd)
	}
	return ns
}

func (e *ienv) nodesOrAll(t *testing.T, d *datadriven.TestData) []*inode {
	if len(e.nodeArgs(t, d, false)) == 0 {
		return e.nodes
	}
	return e.nodesOf(t, d)
}

// oneNode is the single node a command runs at.
func (e *ienv) oneNode(t *testing.T, d *datadriven.TestData) *inode {
	ns := e.nodesOf(t, d)
	if len(ns) != 1 {
		t.Fatalf("%s: %s runs at one node", d.Pos, d.Cmd)
	}
	return ns[0]
}

func intArg(t *testing.T, d *datadriven.TestData, key string, def int) int {
	if !d.HasArg(key) {
		return def
	}
	var v int
	d.ScanArgs(t, key, &v)
	return v
}

func strArg(d *datadriven.TestData, key string) string {
	if a, ok := d.Arg(key); ok && len(a.Vals) > 0 {
		return a.Vals[0]
	}
	return ""
}

// Commands.

func (e *ienv) cmdCreate(t *testing.T, d *datadriven.TestData) {
	if len(e.nodes) > 0 {
		t.Fatalf("%s: create twice", d.Pos)
	}
	n := intArg(t, d, "nodes", 3)
	e.opts.truncateAfter = uint64(intArg(t, d, "truncate-after", int(e.opts.truncateAfter)))
	e.opts.truncateMaxBytes = uint64(intArg(t, d, "truncate-max-bytes", int(e.opts.truncateMaxBytes)))
	e.opts.chunkSize = intArg(t, d, "chunk", e.opts.chunkSize)
	desc := replica.Descriptor{Group: igroup, Version: 1, NextReplicaID: replica.ReplicaID(n + 1)}
	for i := range n {
		id := replica.ReplicaID(i + 1)
		desc.Replicas = append(desc.Replicas, replica.Member{ID: id, Node: fmt.Sprintf("n%d", i+1)})
		desc.Voters = append(desc.Voters, id)
	}
	for i := range n {
		e.addNode(fmt.Sprintf("n%d", i+1), &desc)
	}
	e.printf("descriptor %s", describeDesc(desc))
}

func (e *ienv) cmdCampaign(t *testing.T, d *datadriven.TestData) {
	n := e.oneNode(t, d)
	for k := 1; k <= 3*iElectionTicks; k++ {
		e.tick([]*inode{n})
		n.runRounds()
		if n.seen.state != replica.StateFollower {
			e.printf("%s campaigns after %d ticks", n.name, k)
			return
		}
	}
	e.printf("%s did not campaign within %d ticks", n.name, 3*iElectionTicks)
}

func (e *ienv) cmdTick(t *testing.T, d *datadriven.TestData) {
	nodes := e.nodesOrAll(t, d)
	count := intArg(t, d, "n", 1)
	stab := d.HasArg("stabilize")
	for k := 1; k <= count; k++ {
		if count > 1 {
			e.header, e.indent = fmt.Sprintf("tick %d:\n", k), "  "
		}
		e.tick(nodes)
		if stab {
			e.stabilize()
		} else {
			e.runAll()
		}
	}
	e.header, e.indent = "", ""
}

func (e *ienv) cmdMsgs() {
	for i, m := range e.wire {
		e.printf("%d: %s", i+1, describeMsg(m))
	}
	for _, s := range e.snaps {
		e.printf("snapshot %s->%s index %d", s.from.name, s.to, s.index)
	}
}

func (e *ienv) cmdDeliver(t *testing.T, d *datadriven.TestData) {
	from, to, typ := strArg(d, "from"), strArg(d, "to"), strArg(d, "type")
	match := func(f, tt, ty string) bool {
		return (from == "" || f == from) && (to == "" || tt == to) && (typ == "" || ty == typ)
	}
	count := intArg(t, d, "count", len(e.wire))
	if d.Cmd == "duplicate" {
		// The copies go to the end of the wire: each arrives after
		// everything sent so far.
		var copies []imsg
		for _, m := range e.wire {
			if len(copies) < count && match(m.from, m.to, msgType(m)) {
				copies = append(copies, m)
				e.printf("duplicated %s", describeMsg(m))
			}
		}
		e.wire = append(e.wire, copies...)
		return
	}
	var take []imsg
	keep := e.wire[:0]
	for _, m := range e.wire {
		if len(take) < count && match(m.from, m.to, msgType(m)) {
			take = append(take, m)
		} else {
			keep = append(keep, m)
		}
	}
	e.wire = keep
	var snaps []*isnap
	keepSnaps := e.snaps[:0]
	for _, s := range e.snaps {
		if match(s.from.name, s.to, "MsgSnap") {
			snaps = append(snaps, s)
		} else {
			keepSnaps = append(keepSnaps, s)
		}
	}
	e.snaps = keepSnaps
	if d.Cmd == "delay" {
		for _, m := range take {
			e.printf("delayed %s", describeMsg(m))
		}
		e.delayed = append(e.delayed, take...)
		e.snaps = append(e.snaps, snaps...)
		return
	}
	if d.Cmd == "drop" {
		for _, m := range take {
			e.printf("dropped %s", describeMsg(m))
		}
		for _, s := range snaps {
			e.printf("dropped snapshot %s->%s index %d", s.from.name, s.to, s.index)
			e.reports = append(e.reports, func() { s.answer(errors.New("dropped")) })
		}
		return
	}
	e.verbose = true
	for _, m := range take {
		e.deliver(m)
	}
	for _, s := range snaps {
		e.deliverSnap(s)
	}
	e.runAll()
}

func (e *ienv) cmdPartition(t *testing.T, d *datadriven.TestData) {
	side := map[string]bool{}
	var left, right []string
	sep := false
	for _, a := range d.CmdArgs {
		switch {
		case a.Key == "|":
			sep = true
		case !isNodeName(a.Key) || e.node(a.Key) == nil:
			t.Fatalf("%s: partition: no node %s", d.Pos, a.Key)
		case sep:
			right = append(right, a.Key)
		default:
			left = append(left, a.Key)
			side[a.Key] = true
		}
	}
	if !sep {
		for _, n := range e.nodes {
			if !side[n.name] {
				right = append(right, n.name)
			}
		}
	}
	for _, l := range left {
		for _, r := range right {
			e.blocked[[2]string{l, r}] = true
			e.blocked[[2]string{r, l}] = true
		}
	}
	e.printf("partition: %s | %s", strings.Join(left, " "), strings.Join(right, " "))
}

func (e *ienv) group(n *inode) (replica.Group, string) {
	if n.host == nil {
		return nil, n.name + " is down"
	}
	g, ok := n.host.Group(igroup)
	if !ok {
		return nil, n.name + " has no replica"
	}
	return g, ""
}

func (e *ienv) cmdPut(t *testing.T, d *datadriven.TestData) {
	n := e.oneNode(t, d)
	for _, a := range d.CmdArgs {
		if len(a.Vals) != 1 {
			continue
		}
		key, val := a.Key, a.Vals[0]
		op := e.newOp(n, fmt.Sprintf("put %s=%s", key, val))
		g, why := e.group(n)
		if g == nil {
			e.settle(op, why)
			continue
		}
		cmd := kv.NewCommand(kv.Put([]byte(key), []byte(val)))
		g.ProposeAsync(cmd.Encode(), func(result []byte, index uint64, err error) {
			if err != nil {
				e.settle(op, err.Error())
				return
			}
			rep, err := kv.DecodeResult(result)
			switch {
			case err != nil:
				e.settle(op, fmt.Sprintf("undecodable result: %v", err))
			case rep.Code != kv.CodeOK:
				e.settle(op, fmt.Sprintf("%s (index %d)", rep.Code, index))
			default:
				e.settle(op, fmt.Sprintf("ok (index %d)", index))
			}
		})
		if !op.done {
			e.printf("%s: proposed", op.label())
		}
	}
}

func (e *ienv) cmdRead(t *testing.T, d *datadriven.TestData) {
	n := e.oneNode(t, d)
	var key string
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 && !isNodeName(a.Key) {
			key = a.Key
		}
	}
	if key == "" {
		t.Fatalf("%s: read needs a key", d.Pos)
	}
	mode := replica.Linearizable
	switch m := strArg(d, "mode"); m {
	case "", "linearizable":
	case "follower":
		mode = replica.Follower
	case "stale":
		mode = replica.Stale
	default:
		t.Fatalf("%s: read: unknown mode %q", d.Pos, m)
	}
	op := e.newOp(n, fmt.Sprintf("read %s (%s)", key, mode))
	g, why := e.group(n)
	if g == nil {
		e.settle(op, why)
		return
	}
	// NB: done runs in a round with the group locked: it reads the store,
	// never the group's Status.
	value := func() string {
		applied, _ := kv.ReadApplied(n.mem, uint64(igroup))
		item, found, err := kv.Get(n.mem, uint64(igroup), []byte(key))
		switch {
		case err != nil:
			return err.Error()
		case !found:
			return fmt.Sprintf("%s absent (applied %d)", key, applied.Index)
		}
		return fmt.Sprintf("%s=%s version %d (applied %d)", key, item.Value, item.Version, applied.Index)
	}
	if mode == replica.Stale {
		e.settle(op, value())
		return
	}
	g.ReadAsync(mode, func(err error) {
		if err != nil {
			e.settle(op, err.Error())
			return
		}
		e.settle(op, value())
	})
	if !op.done {
		e.printf("%s: waiting for a read index", op.label())
	}
}

func (e *ienv) printStatus(n *inode, progress bool) {
	if n.host == nil {
		e.printf("%s: down", n.name)
		return
	}
	g, ok := n.host.Group(igroup)
	if !ok {
		if id, _, ok := n.host.LocalReplica(igroup); ok {
			e.printf("%s: uninitialised replica r%d (waiting for a snapshot)", n.name, id)
			return
		}
		tomb, _ := n.host.Tombstone(igroup)
		if tomb > 0 {
			e.printf("%s: no replica (tombstone: replica IDs below %d refused)", n.name, tomb)
		} else {
			e.printf("%s: no replica", n.name)
		}
		return
	}
	st := g.Status()
	d := st.Descriptor
	desc := fmt.Sprintf("v%d voters=%s", d.Version, ids(d.Voters))
	if len(d.Learners) > 0 {
		desc += " learners=" + ids(d.Learners)
	}
	if d.Joint() {
		desc += " outgoing=" + ids(d.Outgoing())
	}
	cut := ""
	if n.cut != cutNone {
		cut = " (power cut armed)"
	}
	e.printf("%s r%d: %s term=%d commit=%d applied=%d leader=%s desc %s%s", n.name, st.Replica, st.State, st.Term,
		st.Commit, st.Applied, leaderName(st), desc, cut)
	if !progress {
		return
	}
	for _, id := range sortedProgress(st.Progress) {
		p := st.Progress[id]
		if id == st.Replica {
			continue
		}
		flags := "not replicating (probing or snapshot)"
		if p.CaughtUp {
			flags = "replicating"
		}
		if !p.Active {
			flags += " inactive"
		}
		e.printf("  r%d: match=%d next=%d lag=%d %s", id, p.Match, p.Next, p.LagEntries, flags)
	}
}

// openLog reads a node's stored log (what a restart would find, for a node
// that is down).
func openLog(n *inode) (*Log, error) {
	return NewLog(n.mem, uint64(igroup), func(v storage.View) (*raftpb.ConfState, error) {
		return confStateOf(v, uint64(igroup))
	})
}

func (e *ienv) printLog(n *inode, entries bool) {
	l, err := openLog(n)
	if err != nil {
		e.printf("%s: log: %v", n.name, err)
		return
	}
	hs, _, err := l.InitialState()
	if err != nil {
		e.printf("%s: hard state: %v", n.name, err)
		return
	}
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	ti, tt := l.Truncated()
	applied, _ := storage.ReadAppliedState(n.mem, uint64(igroup))
	e.printf("%s: log %d..%d (truncated at %d/%d) term=%d vote=r%d commit=%d applied=%d", n.name, first, last, ti, tt,
		hs.GetTerm(), hs.GetVote(), hs.GetCommit(), applied.Index)
	if !entries || last < first {
		return
	}
	ents, err := l.Entries(first, last+1, 1<<30)
	if err != nil {
		e.printf("  entries: %v", err)
		return
	}
	for _, en := range ents {
		e.printf("  %s", describeEntry(en))
	}
}

func (e *ienv) printKV(n *inode) {
	items, _, err := kv.Scan(n.mem, uint64(igroup), nil, nil, 0)
	if err != nil {
		e.printf("%s: %v", n.name, err)
		return
	}
	var parts []string
	for _, it := range items {
		parts = append(parts, fmt.Sprintf("%s=%s@%d", it.Key, it.Value, it.Version))
	}
	if len(parts) == 0 {
		parts = append(parts, "(none)")
	}
	e.printf("%s: %s", n.name, strings.Join(parts, " "))
}

func (e *ienv) cmdDigest() {
	for _, n := range e.nodes {
		if _, err := n.mem.Get(storage.DescriptorKey(uint64(igroup))); err != nil {
			e.printf("%s: no replicated state", n.name)
			continue
		}
		idx, sum, err := kv.New(uint64(igroup)).Digest(n.mem)
		if err != nil {
			e.printf("%s: digest: %v", n.name, err)
			continue
		}
		e.printf("%s: applied=%d digest=%x", n.name, idx, sum[:6])
	}
}

func (e *ienv) replicaOn(t *testing.T, d *datadriven.TestData, g replica.Group, node string) replica.ReplicaID {
	m, ok := g.Status().Descriptor.ReplicaOn(node)
	if !ok {
		t.Fatalf("%s: no replica on %s", d.Pos, node)
	}
	return m.ID
}

func (e *ienv) cmdTransfer(t *testing.T, d *datadriven.TestData) {
	n := e.oneNode(t, d)
	to := strArg(d, "to")
	g, why := e.group(n)
	if g == nil {
		e.printf("%s", why)
		return
	}
	id := e.replicaOn(t, d, g, to)
	// A done context: TransferLeader queues the request and returns at
	// once, where it would otherwise wait (by the real clock) for the
	// outcome; the script's rounds and ticks decide it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := g.TransferLeader(ctx, id)
	switch {
	case err == nil:
		e.printf("%s (r%d) leads already", to, id)
	case errors.Is(err, context.Canceled):
		e.printf("%s asked to hand leadership to %s (r%d)", n.name, to, id)
	default:
		e.printf("%s: %v", n.name, err)
	}
}

// target reads a membership from voters=(...) and learners=(...).
func (e *ienv) target(t *testing.T, d *datadriven.TestData) replica.Membership {
	var m replica.Membership
	for _, a := range d.CmdArgs {
		role := replica.RoleVoter
		switch a.Key {
		case "voters":
		case "learners":
			role = replica.RoleLearner
		default:
			continue
		}
		for _, v := range a.Vals {
			m.Members = append(m.Members, replica.Member{Node: strings.TrimSpace(v), Role: role})
		}
	}
	return m
}

// stepKind is what one ChangeMembersStep did.
type stepKind int

const (
	stepReached  stepKind = iota // the membership is the target
	stepProposed                 // a conf change was proposed
	stepHandover                 // the leader leaves: it hands leadership over first
	stepWait                     // a joint config to leave, or a learner catching up
	stepFailed
)

// changeStep takes one ChangeMembersStep on n and says what it did;
// answered is set, and the outcome printed, when a proposed step's answer
// comes.
func (e *ienv) changeStep(n *inode, target replica.Membership, answered *bool) (stepKind, string) {
	g, why := e.group(n)
	if g == nil {
		return stepFailed, why
	}
	st := g.Status()
	var what string
	if st.State == replica.StateLeader && !st.Descriptor.Joint() {
		if ops, _, err := driver.PlanChange(st.Descriptor, target, st, true); err == nil && ops != nil {
			what = describeChange(ops)
		}
	}
	done, proposed, err := g.ChangeMembersStep(target, func(err error) {
		*answered = true
		if err != nil {
			e.printf("%s: membership step answered: %v", n.name, err)
		} else {
			e.printf("%s: membership step applied", n.name)
		}
	})
	var nl *replica.ErrNotLeader
	switch {
	case done:
		return stepReached, fmt.Sprintf("%s: membership reached: %s", n.name, describeDesc(st.Descriptor))
	case proposed:
		return stepProposed, fmt.Sprintf("%s proposes %s", n.name, what)
	case errors.As(err, &nl) && st.State == replica.StateLeader:
		return stepHandover, fmt.Sprintf("%s leaves the group: it hands leadership to a voter that stays first", n.name)
	case err != nil:
		return stepFailed, fmt.Sprintf("%s: %v", n.name, err)
	}
	return stepWait, fmt.Sprintf("%s: nothing to propose yet (a joint config to leave, or a learner catching up)", n.name)
}

func (e *ienv) cmdChangeStep(t *testing.T, d *datadriven.TestData) {
	var answered bool
	_, text := e.changeStep(e.oneNode(t, d), e.target(t, d), &answered)
	e.printf("%s", text)
}

// cmdChange steps the membership change on whichever node leads, ticking
// and stabilizing in between, as a rebalancer drives ChangeMembers.
func (e *ienv) cmdChange(t *testing.T, d *datadriven.TestData) {
	target := e.target(t, d)
	maxTicks := intArg(t, d, "max-ticks", 100)
	ticks := 0
	tickOnce := func() {
		ticks++
		e.tick(e.nodes)
		e.stabilize()
	}
	waited := 0
	for ticks < maxTicks {
		l := e.leader()
		if l == nil {
			tickOnce()
			continue
		}
		var answered bool
		kind, text := e.changeStep(l, target, &answered)
		if kind == stepWait {
			if waited == 0 {
				e.printf("%s", text)
			}
			waited++
			tickOnce()
			continue
		}
		if waited > 0 {
			e.printf("(waited %d ticks)", waited)
			waited = 0
		}
		e.printf("%s", text)
		switch kind {
		case stepReached, stepFailed:
			return
		case stepProposed:
			e.stabilize()
			for !answered && ticks < maxTicks {
				tickOnce()
			}
		case stepHandover:
			e.stabilize()
			tickOnce()
		}
	}
	e.printf("membership not reached within %d ticks", maxTicks)
}

// cmdRemoveStale gives node n the leader's descriptor, as the routing layer
// does when it learns a newer one by gossip.
func (e *ienv) cmdRemoveStale(t *testing.T, d *datadriven.TestData) {
	n := e.oneNode(t, d)
	l := e.leader()
	if l == nil || n.host == nil {
		e.printf("no leader, or %s is down", n.name)
		return
	}
	g, _ := l.host.Group(igroup)
	desc := g.Status().Descriptor
	removed, err := n.host.RemoveStale(desc)
	e.printf("%s: RemoveStale(descriptor v%d from %s) = %v, %v", n.name, desc.Version, l.name, removed, err)
	n.observe(true)
}
