package sim

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// cutMode arms a power cut in the middle of a node's next synced commit.
// cutMode is where a power cut strikes (storage.PowerSwitch).
type cutMode = storage.CutStage

const (
	cutNone       = storage.CutNone
	cutBeforeSync = storage.CutBeforeSync // the commit is visible, its fsync never happens
	cutAfterSync  = storage.CutAfterSync  // the fsync happens, the rest of the round does not
)

// powerCut unwinds a round whose node lost power; fatalStop one whose node
// stopped itself on a storage error (fail-stop).
type (
	powerCut  struct{}
	fatalStop struct{ err error }
)

// node is one simulated node: a ManualHost of the run's engine on an
// in-memory store. A crash abandons the host (a crashed process answers
// nothing) and keeps only what the store had synced.
type node struct {
	s    *world
	idx  int
	name string
	mem  *storage.Mem
	host replica.ManualHost
	tr   *simTransport
	// regs are the metrics of each host the node ran, one per start.
	regs []*prometheus.Registry

	// stops are the times the node stopped (crash, power loss, graceful
	// stop): a primary's tenure ends there (Config.AsyncLoss).
	stops []int64

	up, paused  bool
	dirty       bool // got input since its last rounds
	touched     bool // changed since the last check
	incarnation int
	cut         cutMode
	cutArmedAt  int64
	groups      []*groupInfo
}

func newNode(s *world, i int) *node {
	n := &node{s: s, idx: i, name: fmt.Sprintf("n%d", i+1), mem: storage.NewMem()}
	n.tr = &simTransport{n: n}
	return n
}

func (n *node) hostConfig() replica.HostConfig {
	s := n.s
	cfg := replica.HostConfig{
		Node: n.name,
		Store: &storage.PowerSwitch{Mem: n.mem, Armed: func() cutMode { return n.cut },
			Cut: func(cutMode) { panic(powerCut{}) }},
		NewStateMachine: func(g replica.GroupID) replica.StateMachine {
			return kv.New(uint64(g))
		},
		Clock:               s.clock,
		Logger:              s.cfg.Logger.With("node", n.name),
		Manual:              true,
		TickInterval:        tickMS * time.Millisecond,
		ElectionTicks:       electionTicks,
		HeartbeatTicks:      heartbeatTicks,
		TruncateAfter:       uint64(s.truncateAfter),
		SnapshotChunkSize:   s.chunkSize,
		UnsafeAckBeforeSync: s.cfg.UnsafeAckBeforeSync,
		SnapshotSender:      n.sendSnapshot,
		Fatal:               func(err error) { panic(fatalStop{err}) },
		ConfigStore:         nodeMeta{n},
	}
	reg := prometheus.NewRegistry()
	n.regs = append(n.regs, reg)
	cfg.ConsistencyCheckInterval, cfg.Registry = s.cfg.ConsistencyCheckInterval, reg
	return cfg
}

// start opens a host of the run's engine on the node's store; first, it
// bootstraps the node's groups (as a founder does).
func (n *node) start(bootstrap bool) {
	engine := n.s.cfg.Engine
	host, err := replica.NewHost(engine, n.hostConfig())
	if err != nil {
		n.s.failf(KindFatal, "node %s: opening the host: %v", n.name, err)
		return
	}
	h, ok := host.(replica.ManualHost)
	if !ok {
		_ = host.Close()
		n.s.failf(KindSetup, "sim: engine %q cannot be driven step by step: its Host (%T) built with HostConfig.Manual is not a replica.ManualHost",
			engine, host)
		return
	}
	if bootstrap {
		for _, g := range n.groups {
			if err := h.Bootstrap(g.desc, nil); err != nil {
				n.s.failf(KindFatal, "node %s: bootstrap group %d: %v", n.name, g.id, err)
				return
			}
		}
	}
	h.Start(n.tr)
	n.host, n.up, n.touched = h, true, true
}

// tick is the node's ticker: one host tick every tickMS, unless it is down
// or paused (a stopped process's ticks are lost, not queued).
func (n *node) tick() {
	s := n.s
	s.after(tickMS, n.tick)
	if !n.up || n.paused {
		return
	}
	if n.cut != cutNone && s.now-n.cutArmedAt > 10*tickMS {
		// No synced commit came along for the armed cut: crash now.
		n.crash("armed power cut timed out")
		return
	}
	n.host.Tick()
	n.dirty = true
}

// runRounds runs the node's rounds until it is idle. A power cut or a
// fail-stop inside a round unwinds it; the node is then crashed.
func (n *node) runRounds() {
	s := n.s
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		s.net.flush(n) // what the round sent before it stopped is on its way
		switch r := r.(type) {
		case powerCut:
			s.stats.PowerCuts++
			n.crash("power cut during a round's fsync")
		case fatalStop:
			s.failf(KindFatal, "node %s stopped itself (fail-stop): %v", n.name, r.err)
			n.crash("fail-stop")
		default:
			s.failf(KindPanic, "node %s: panic in a round: %v\n%s", n.name, r, debug.Stack())
			n.crash("panic")
		}
	}()
	for i := 0; n.host.RunRound(); i++ {
		if i > 10000 {
			s.failf(KindPanic, "node %s: rounds never go idle", n.name)
			return
		}
		n.touched = true
		s.net.flush(n)
	}
	s.net.flush(n)
}

// crash stops the node as a power loss would: the host is abandoned
// mid-flight (it answers nothing more; its clients see their connections
// break), and the store keeps what was synced.
func (n *node) crash(why string) { n.stop(why, false) }

// stop ends the node's process: crashed (abandoned), or gracefully with
// Host.Close, which answers every pending proposal (queued ones "certainly
// not applied", a claim the checker holds it to) before the power goes.
func (n *node) stop(why string, graceful bool) {
	if !n.up {
		return
	}
	s := n.s
	s.stats.Crashes++
	s.note("stop %s (%s, graceful %v)", n.name, why, graceful)
	n.stops = append(n.stops, s.now)
	if graceful {
		_ = n.host.Close()
	}
	old := n.mem
	n.mem = old.Crash()
	_ = old.Close()
	n.host, n.up, n.paused, n.cut, n.dirty = nil, false, false, cutNone, false
	n.incarnation++
	s.net.nodeDown(n)
	if !graceful {
		for _, c := range s.clients {
			c.nodeDown(n)
		}
	}
	s.check.nodeRestarted(n)
	if !s.healing {
		s.after(s.between(restartAfterMin, restartAfterMax), n.restart)
	}
}

// restart brings a crashed node back on what its store kept.
func (n *node) restart() {
	if n.up {
		return
	}
	n.s.stats.Restarts++
	n.s.note("restart %s", n.name)
	n.start(false)
	n.dirty = true
}

func (n *node) pause() {
	n.paused = true
	n.s.stats.Pauses++
	n.s.note("pause %s", n.name)
}

func (n *node) resume() {
	n.paused = false
	n.dirty = true
	n.s.note("resume %s", n.name)
}

// armCut makes the node lose power inside its next synced commit.
func (n *node) armCut() {
	n.cut = cutBeforeSync
	if n.s.chance(0.4) {
		n.cut = cutAfterSync
	}
	n.cutArmedAt = n.s.now
	n.s.note("arm power cut on %s (%d)", n.name, n.cut)
}

// group returns the node's replica of gid, if it runs and has one.
func (n *node) group(gid replica.GroupID) (replica.Group, bool) {
	if !n.up {
		return nil, false
	}
	return n.host.Group(gid)
}

func (n *node) status(gid replica.GroupID) (replica.Status, bool) {
	g, ok := n.group(gid)
	if !ok {
		return replica.Status{}, false
	}
	return g.Status(), true
}
