package sim

import (
	"container/heap"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/replica"
)

// Config is one simulation run. Everything left zero is drawn from Seed.
type Config struct {
	// Seed decides every choice of the run.
	Seed uint64
	// Engine is the registered engine (replica.Register) every node runs;
	// the caller links it (a blank import). It must build a
	// replica.ManualHost and register a ReadLog. Default "raft", the
	// engine of the meta group, which every cluster runs.
	Engine string
	// Nodes in the cluster. Default: 3 or 5, drawn from the seed.
	Nodes int
	// Groups hosted by the cluster, each on 3 of the nodes (or on all 5 of
	// a 5-node cluster, for some). Default: 4 to 8, drawn from the seed.
	Groups int
	// Duration is the simulated time of the fault phase. Default 10 s:
	// long enough for several crashes, partitions and snapshots per run,
	// short enough for many runs.
	Duration time.Duration
	// HealTimeout bounds the simulated time the healed cluster may take to
	// finish every request and catch every replica up. Default 60 s;
	// beyond it the run fails with KindNoConvergence.
	HealTimeout time.Duration
	// ConsistencyCheckInterval is how often each group's leader proposes a
	// consistency check (HostConfig.ConsistencyCheckInterval); 0: never. Nothing in
	// a simulation changes a replica's state behind the engine's back, so
	// a check that finds replicas differ is itself wrong: a digest not
	// taken at exactly its check's index (KindConsistencyAlarm).
	ConsistencyCheckInterval time.Duration
	// UnsafeAckBeforeSync runs every node in the engine's deliberately
	// broken mode (HostConfig.UnsafeAckBeforeSync: the log counts as
	// durable before its fsync), which the checks must catch.
	UnsafeAckBeforeSync bool
	// AsyncLoss, when not zero, says the engine runs a mode that may lose
	// acknowledged writes in a failover (primary-backup's async mode), at
	// most those acknowledged within AsyncLoss before the failover that
	// lost them: the checker then judges each acknowledged write missing
	// from the final log by that bound (the failover's time is when the
	// checker first saw a newer term committed after the write was
	// acknowledged, which is no earlier than the failover, or when the
	// acknowledging node stopped, if sooner: a cluster that was down
	// fails over that much later), and checks everything else as always,
	// without the lost writes. Zero: no loss.
	AsyncLoss time.Duration
	// RolledBack, with AsyncLoss, says whether the engine reported the
	// command cmd rolled back (its rollback records); the result counts
	// the lost writes it reported (Stats.LostReported).
	RolledBack func(cmd []byte) bool
	// Logger receives the hosts' logs. Default: discarded.
	Logger *slog.Logger
	// Trace, when set, receives one line per simulation event as it runs.
	Trace io.Writer
}

// Kinds of Violation. The safety kinds are what the simulation exists to
// find; KindNoConvergence is a liveness failure (the healed cluster did not
// catch up), KindPanic and KindFatal are the engine stopping on its own,
// and KindSetup a run that could not start (an engine this binary does
// not have, or one the simulation cannot drive).
const (
	KindDivergentCommit  = "divergent-commit"          // two entries committed at one index
	KindDivergentState   = "divergent-state"           // replicas differ at one applied index
	KindAppliedTerm      = "applied-term"              // applied term is not the committed entry's
	KindAppliedAhead     = "applied-beyond-commit"     // a replica applied past its commit index
	KindLogGap           = "log-gap"                   // a committed entry missing from the log
	KindWrongAck         = "wrong-ack"                 // an acknowledged index holds another command
	KindNotAppliedButRan = "not-applied-but-committed" // "certainly not applied" was wrong
	KindLostAck          = "lost-ack"                  // an acknowledged write is missing
	KindDoubleApply      = "double-apply"              // a session's command applied twice
	KindBadReply         = "bad-reply"                 // an answer that cannot be right
	KindRealTime         = "real-time-order"           // a counter went back in real time
	KindStaleRead        = "stale-read"                // a read missed a write, or saw one from its future
	KindConsistencyAlarm = "consistency-alarm"         // a consistency check found replicas differ though none was corrupted
	KindPanic            = "panic"
	KindFatal            = "fatal"
	KindNoConvergence    = "no-convergence"
	KindSetup            = "setup"
)

// Violation is the first thing a run found wrong.
type Violation struct {
	Kind   string
	Detail string
	At     time.Duration // simulated time
	Step   int
}

// Safety reports whether v breaks a safety property (as opposed to a
// liveness failure or the engine stopping itself).
func (v *Violation) Safety() bool {
	switch v.Kind {
	case KindNoConvergence, KindPanic, KindFatal, KindSetup:
		return false
	}
	return true
}

func (v *Violation) String() string {
	if v == nil {
		return "no violation"
	}
	return fmt.Sprintf("%s at %v (step %d): %s", v.Kind, v.At, v.Step, v.Detail)
}

// Stats counts what a run did.
type Stats struct {
	Ops, Acked, Attempts, NotApplied, Indeterminate int
	Reads, Expired                                  int
	Messages, Dropped, Duplicated, Snapshots        int
	Crashes, PowerCuts, PowerLosses, Restarts       int
	Partitions, Pauses, Transfers                   int
	MembershipChanges, MembershipDone               int
	ConsistencyChecks                               int // judged, any verdict
	// With Config.AsyncLoss: acknowledged writes the failovers lost, how
	// many of those the engine reported rolled back, and the longest time
	// from a lost write's acknowledgement to the failover that lost it.
	LostAcked, LostReported int
	MaxLossWindow           time.Duration
}

// Result is the outcome of one run.
type Result struct {
	Seed          uint64
	Engine        string
	Nodes, Groups int
	Steps         int
	SimTime       time.Duration
	// Violation is the first violation found; nil when the run was clean.
	Violation *Violation
	// TraceHash identifies the sequence of events the run went through:
	// two runs of one seed took the same path if their hashes are equal.
	TraceHash uint64
	Stats     Stats
	// Recent are the last events before the run ended, for a report.
	Recent []string
}

// DefaultEngine is Config.Engine's default: Raft's registered name.
const DefaultEngine = "raft"

// Simulation timing, in milliseconds of simulated time.
const (
	tickMS          = 100  // HostConfig.TickInterval's default
	electionTicks   = 10   // HostConfig.ElectionTicks: raft's default
	heartbeatTicks  = 2    // HostConfig.HeartbeatTicks: raft's is 1; heartbeats are most of the messages, and 2 halves them
	requestTimeout  = 2000 // --request-timeout's default
	restartAfterMin = 200
	restartAfterMax = 4000
	recentEvents    = 300
)

// event is something due at a simulated instant; seq keeps events of one
// instant in the order they were scheduled.
type event struct {
	at  int64
	seq uint64
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// world is one run in progress. Everything in it runs on one goroutine.
type world struct {
	cfg    Config
	rng    *rand.Rand
	clock  *clock.Fake
	now    int64 // ms since the start
	events eventQueue
	seq    uint64
	steps  int

	// readLog is the engine's replica.ReadLogFunc: the checker's view of
	// every replica's durable log.
	readLog replica.ReadLogFunc
	// termsAgree: the engine's replicas agree on a committed entry's term
	// (replica.Engine.TermsAgree), which the checker then checks.
	termsAgree bool

	nodes   []*node
	groups  []*groupInfo
	clients []*client
	changes []*change
	net     network
	check   *checker
	// meta stands in for the meta group's configuration store (meta.go).
	meta     *replica.MemConfigStore
	metaUsed bool

	// Drawn per seed: the hosts' log truncation threshold and snapshot
	// chunk size, and a client's longest pause between requests (ms).
	truncateAfter int
	chunkSize     int
	think         int64

	callbacks  []pendingCallback
	healing    bool
	checkQuiet bool
	quiet      bool
	violation  *Violation
	stats      Stats

	traceHash uint64
	recent    []string
	recentAt  int
}

// Run runs one seed to its end and reports what it found.
func Run(cfg Config) Result {
	s := newWorld(cfg)
	s.setup()
	faultEnd := int64(s.cfg.Duration / time.Millisecond)
	s.loop(func() bool { return s.now >= faultEnd })
	if s.violation == nil {
		s.heal()
		healEnd := s.now + int64(s.cfg.HealTimeout/time.Millisecond)
		s.loop(func() bool { return s.quiet || s.now >= healEnd })
		if s.violation == nil && !s.quiet {
			s.fail(KindNoConvergence, s.convergenceReport())
		}
	}
	if s.violation == nil {
		s.check.final()
	}
	s.countChecks()
	return s.result()
}

func newWorld(cfg Config) *world {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	if cfg.Engine == "" {
		cfg.Engine = DefaultEngine
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 3 + 2*rng.IntN(2)
	}
	if cfg.Groups == 0 {
		cfg.Groups = 4 + rng.IntN(5)
	}
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.HealTimeout == 0 {
		cfg.HealTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &world{
		cfg:       cfg,
		rng:       rng,
		clock:     clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		traceHash: fnv.New64a().Sum64(),
	}
	s.check = newChecker(s)
	s.meta = replica.NewMemConfigStore()
	return s
}

// at schedules fn at simulated time t (never in the past).
func (s *world) at(t int64, fn func()) {
	if t < s.now {
		t = s.now
	}
	s.seq++
	heap.Push(&s.events, &event{at: t, seq: s.seq, fn: fn})
}

// after schedules fn d milliseconds from now.
func (s *world) after(d int64, fn func()) { s.at(s.now+d, fn) }

// loop runs steps until done says so or a violation stops the run.
func (s *world) loop(done func() bool) {
	for s.violation == nil && !done() && s.events.Len() > 0 {
		s.step()
	}
}

// step runs every event of the next instant, then the rounds they caused,
// then the safety checks.
func (s *world) step() {
	ev := heap.Pop(&s.events).(*event)
	if ev.at > s.now {
		s.clock.Advance(time.Duration(ev.at-s.now) * time.Millisecond)
		s.now = ev.at
	}
	s.steps++
	s.mix(uint64(s.now))
	ev.fn()
	s.runCallbacks()
	for s.violation == nil && s.events.Len() > 0 && s.events[0].at == s.now {
		heap.Pop(&s.events).(*event).fn()
		s.runCallbacks()
	}
	if s.violation == nil {
		s.settle()
	}
	if s.violation == nil {
		s.check.step()
	}
	if s.violation == nil && s.checkQuiet {
		s.quietCheck()
	}
}

// settle runs rounds on every node that got input until none has any.
func (s *world) settle() {
	for s.violation == nil {
		worked := false
		for _, n := range s.nodes {
			if n.dirty && n.up && !n.paused {
				n.dirty = false
				worked = true
				n.runRounds()
				s.runCallbacks()
			}
		}
		if !worked {
			return
		}
	}
}

// callbackKey orders the host's callbacks of one batch: (client, seq,
// attempt) for a proposal's answer, (0, stream) for a snapshot's.
type callbackKey [3]uint64

type pendingCallback struct {
	key callbackKey
	fn  func()
}

// callback defers fn, a reaction to a host's callback, to the end of the
// current event or round. NB: a host calls back in an order that can
// follow Go map iteration (Close fails a group's proposals in map order,
// and its groups in map order), so a batch runs sorted by key: the
// reactions draw from the seed's source in the same order every time.
func (s *world) callback(key callbackKey, fn func()) {
	s.callbacks = append(s.callbacks, pendingCallback{key, fn})
}

// runCallbacks runs the deferred callbacks in key order.
func (s *world) runCallbacks() {
	for len(s.callbacks) > 0 {
		cbs := s.callbacks
		s.callbacks = nil
		slices.SortFunc(cbs, func(a, b pendingCallback) int { return slices.Compare(a.key[:], b.key[:]) })
		for _, cb := range cbs {
			cb.fn()
		}
	}
}

// note records one event in the trace: its text goes to the recent ring
// (and Config.Trace), and into the trace hash.
func (s *world) note(format string, args ...any) {
	line := fmt.Sprintf("%8dms %s", s.now, fmt.Sprintf(format, args...))
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(s.traceHash >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(line))
	s.traceHash = h.Sum64()
	if len(s.recent) < recentEvents {
		s.recent = append(s.recent, line)
	} else {
		s.recent[s.recentAt] = line
		s.recentAt = (s.recentAt + 1) % recentEvents
	}
	if s.cfg.Trace != nil {
		fmt.Fprintln(s.cfg.Trace, line)
	}
}

// mix folds v into the trace hash (FNV-1a over 64-bit words): cheaper
// than a note for what happens at every step.
func (s *world) mix(v uint64) {
	s.traceHash = (s.traceHash ^ v) * 1099511628211
}

// detail writes one line to Config.Trace, when set; unlike note it is not
// part of the trace hash or the recent events (formatting every message
// and request would cost more than the run).
func (s *world) detail(format string, args ...any) {
	if s.cfg.Trace != nil {
		fmt.Fprintf(s.cfg.Trace, "%8dms   %s\n", s.now, fmt.Sprintf(format, args...))
	}
}

// fail records the first violation; the run stops after the current event.
func (s *world) fail(kind, detail string) {
	if s.violation != nil {
		return
	}
	s.violation = &Violation{Kind: kind, Detail: detail, At: time.Duration(s.now) * time.Millisecond, Step: s.steps}
	first, _, _ := strings.Cut(detail, "\n") // not a stack trace: the hash must replay
	s.note("VIOLATION %s: %s", kind, first)
}

func (s *world) failf(kind, format string, args ...any) { s.fail(kind, fmt.Sprintf(format, args...)) }

func (s *world) result() Result {
	recent := append([]string(nil), s.recent[s.recentAt:]...)
	recent = append(recent, s.recent[:s.recentAt]...)
	return Result{
		Seed: s.cfg.Seed, Engine: s.cfg.Engine, Nodes: len(s.nodes), Groups: len(s.groups),
		Steps: s.steps, SimTime: time.Duration(s.now) * time.Millisecond,
		Violation: s.violation, TraceHash: s.traceHash, Stats: s.stats, Recent: recent,
	}
}

// Report is a human-readable account of a failed run: the violation, the
// run's shape and its last events.
func (r Result) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, engine %s: %d nodes, %d groups, %d steps, %v simulated\n", r.Seed, r.Engine, r.Nodes, r.Groups, r.Steps, r.SimTime)
	if r.Violation != nil {
		fmt.Fprintf(&b, "%s\n", r.Violation)
	}
	fmt.Fprintf(&b, "stats: %+v\n", r.Stats)
	fmt.Fprintf(&b, "last %d events:\n", len(r.Recent))
	for _, l := range r.Recent {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// groupInfo is one simulated group: its ID and the nodes that host it.
type groupInfo struct {
	id    replica.GroupID
	nodes []*node
	desc  replica.Descriptor
}

// setup creates the nodes, bootstraps every group on its nodes, starts
// the hosts, and schedules the ticks, the clients and the faults.
func (s *world) setup() {
	readLog, err := replica.ReadLogOf(s.cfg.Engine)
	if err != nil {
		s.failf(KindSetup, "sim: %v", err)
		return
	}
	s.readLog = readLog
	s.termsAgree = replica.TermsAgreeOf(s.cfg.Engine)
	for i := range s.cfg.Nodes {
		s.nodes = append(s.nodes, newNode(s, i))
	}
	s.net = newNetwork(s)
	// Short logs and small chunks: lagging and restarted replicas catch up
	// by snapshot, in several chunks, many times per run.
	s.truncateAfter = pick(s, []int{8, 32, 128, 10000})
	s.chunkSize = pick(s, []int{64, 512, 64 << 10})
	s.think = pick(s, []int64{50, 200, 600})
	for gi := range s.cfg.Groups {
		gid := replica.GroupOf(gi)
		r := 3
		if len(s.nodes) == 5 && s.rng.IntN(4) == 0 {
			r = 5
		}
		if r > len(s.nodes) {
			r = len(s.nodes)
		}
		perm := s.rng.Perm(len(s.nodes))[:r]
		g := &groupInfo{id: gid}
		g.desc = replica.Descriptor{Group: gid, Version: 1, NextReplicaID: replica.ReplicaID(r + 1)}
		for i, ni := range perm {
			n := s.nodes[ni]
			g.nodes = append(g.nodes, n)
			n.groups = append(n.groups, g)
			id := replica.ReplicaID(i + 1)
			g.desc.Replicas = append(g.desc.Replicas, replica.Member{ID: id, Node: n.name})
			g.desc.Voters = append(g.desc.Voters, id)
		}
		s.groups = append(s.groups, g)
	}
	for _, n := range s.nodes {
		if n.start(true); s.violation != nil {
			return
		}
		phase := int64(s.rng.IntN(tickMS))
		s.at(phase, n.tick)
	}
	clientID := uint64(1000)
	for _, g := range s.groups {
		for range 1 + s.rng.IntN(3) {
			clientID++
			c := newClient(s, g, clientID)
			s.clients = append(s.clients, c)
			s.at(int64(500+s.rng.IntN(1500)), c.next)
		}
	}
	s.at(int64(500+s.rng.IntN(2000)), s.nemesis)
	s.check.init()
	s.note("setup: %d nodes, %d groups, %d clients, net %s, truncate after %d, chunks of %dB, think 0..%dms",
		len(s.nodes), len(s.groups), len(s.clients), s.net.describe(), s.truncateAfter, s.chunkSize, s.think)
}

// heal ends the fault phase: every link back, every node up and running,
// a clean network, and the clients finish what they started.
func (s *world) heal() {
	s.healing = true
	s.note("heal: all links, all nodes, no more drops; clients finish")
	s.net.healAll()
	for _, n := range s.nodes {
		n.cut = cutNone
		if n.paused {
			n.resume()
		}
		if !n.up {
			n.restart()
		}
	}
	for _, c := range s.clients {
		c.stopped = true
	}
	s.after(tickMS, s.quietDue)
}

// quietDue asks the end of the step to check whether the healed cluster is
// quiet (at the end: after the step's rounds, which may change it).
func (s *world) quietDue() { s.checkQuiet = true }

// quietCheck ends the heal phase once every client is done and every
// replica of every group has applied its group's whole committed log.
func (s *world) quietCheck() {
	s.checkQuiet = false
	if s.isQuiet() {
		s.quiet = true
		s.note("quiet")
		return
	}
	s.after(tickMS, s.quietDue)
}

func (s *world) isQuiet() bool {
	if len(s.changes) > 0 {
		return false
	}
	for _, c := range s.clients {
		if c.cur != nil || c.reading != nil {
			return false
		}
	}
	members := make([][]*node, len(s.groups))
	for i, g := range s.groups {
		_, lst := s.leaderOf(g)
		d := lst.Descriptor
		if lst.State != replica.StateLeader || d.Joint() {
			return false
		}
		var applied uint64
		for j, m := range d.Replicas {
			n := s.nodeNamed(m.Node)
			st, ok := n.status(g.id)
			if !ok || st.Replica != m.ID || st.Applied != st.Commit || st.Commit != lst.Commit {
				return false
			}
			if j == 0 {
				applied = st.Applied
			} else if st.Applied != applied {
				return false
			}
			members[i] = append(members[i], n)
		}
	}
	for i, g := range s.groups {
		slices.SortFunc(members[i], func(a, b *node) int { return a.idx - b.idx })
		g.nodes = members[i]
	}
	return true
}

// convergenceReport says what kept the healed cluster from becoming quiet.
func (s *world) convergenceReport() string {
	var b strings.Builder
	b.WriteString("the healed cluster did not catch up:")
	for _, ch := range s.changes {
		fmt.Fprintf(&b, " group %d still changing to [%s];", ch.g.id, names(ch.target))
	}
	for _, c := range s.clients {
		if c.cur != nil {
			fmt.Fprintf(&b, " client %d op %d (%s) unanswered after %d attempts;", c.id, c.cur.seq, c.cur.kind, len(c.cur.attempts))
		}
	}
	for _, g := range s.groups {
		fmt.Fprintf(&b, " group %d:", g.id)
		for _, n := range s.nodes {
			st, ok := n.status(g.id)
			if !ok {
				continue
			}
			fmt.Fprintf(&b, " %s=r%d/%s/t%d/c%d/a%d/v%d", n.name, st.Replica, st.State, st.Term, st.Commit, st.Applied, st.Descriptor.Version)
			if len(st.Engine.Fields) > 0 {
				fmt.Fprintf(&b, " %v", st.Engine.Fields) // what only the engine can say (epoch, in-sync set, rebuilding)
			}
		}
		b.WriteString(";")
	}
	return b.String()
}

// pick returns a random element of xs.
func pick[T any](s *world, xs []T) T { return xs[s.rng.IntN(len(xs))] }

// chance is true with probability p.
func (s *world) chance(p float64) bool { return s.rng.Float64() < p }

// between returns a uniform integer in [lo, hi].
func (s *world) between(lo, hi int64) int64 { return lo + s.rng.Int64N(hi-lo+1) }

func (a *Stats) add(b Stats) {
	a.Ops += b.Ops
	a.Reads += b.Reads
	a.Expired += b.Expired
	a.Acked += b.Acked
	a.Attempts += b.Attempts
	a.NotApplied += b.NotApplied
	a.Indeterminate += b.Indeterminate
	a.Messages += b.Messages
	a.Dropped += b.Dropped
	a.Duplicated += b.Duplicated
	a.Snapshots += b.Snapshots
	a.Crashes += b.Crashes
	a.PowerCuts += b.PowerCuts
	a.PowerLosses += b.PowerLosses
	a.Restarts += b.Restarts
	a.Partitions += b.Partitions
	a.Pauses += b.Pauses
	a.Transfers += b.Transfers
	a.MembershipChanges += b.MembershipChanges
	a.LostAcked += b.LostAcked
	a.LostReported += b.LostReported
	a.MaxLossWindow = max(a.MaxLossWindow, b.MaxLossWindow)
	a.MembershipDone += b.MembershipDone
	a.ConsistencyChecks += b.ConsistencyChecks
}
