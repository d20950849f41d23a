package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/transport"
)

// simTransport is a node's transport.Transport: Send only queues what the
// host sends; the simulation routes it once the round is over.
type simTransport struct {
	n       *node
	pending []sent
}

type sent struct {
	to   string
	msgs []transport.Message
}

func (t *simTransport) Send(node string, msgs []transport.Message) {
	t.pending = append(t.pending, sent{to: node, msgs: slices.Clone(msgs)})
}

var errNoStreams = errors.New("sim: snapshots travel through HostConfig.SnapshotSender")

func (t *simTransport) SendSnapshot(context.Context, string, []byte, func(func([]byte) error) error) error {
	return errNoStreams
}

func (t *simTransport) ClockOffset(string) (time.Duration, bool) { return 0, true }
func (t *simTransport) ClockHealthy() bool                       { return true }
func (t *simTransport) Close() error                             { return nil }

var _ transport.Transport = (*simTransport)(nil)

// network is the simulated network: its per-seed rates of drops,
// duplicates and long (reordering) delays, and the links a partition cuts.
type network struct {
	s *world
	// blocked[from][to]: messages from → to are lost.
	blocked [][]bool
	// Drawn per seed; zero during the heal phase.
	drop, dup, slow float64
	delayMax        int64 // ms; a normal trip takes 1..delayMax
	streams         []*stream
	streamIDs       uint64
}

// stream is a snapshot on its way, from the sender's host to the
// receiver's, and the sender's report of its outcome.
type stream struct {
	id           uint64
	from, to     *node
	fromInc      int
	toInc        int
	report       func(error)
	delivered    bool
	reported     bool
	size, chunks int
}

func newNetwork(s *world) network {
	n := network{s: s}
	n.blocked = make([][]bool, len(s.nodes))
	for i := range n.blocked {
		n.blocked[i] = make([]bool, len(s.nodes))
	}
	n.drop = pick(s, []float64{0, 0.01, 0.05, 0.15})
	n.dup = pick(s, []float64{0, 0.01, 0.05})
	n.slow = pick(s, []float64{0, 0.01, 0.05})
	n.delayMax = pick(s, []int64{2, 5, 20})
	return n
}

func (n *network) describe() string {
	return fmt.Sprintf("drop %.2f dup %.2f slow %.2f delay 1..%dms", n.drop, n.dup, n.slow, n.delayMax)
}

// delay is one message's trip: short, or now and then long enough to
// arrive after messages sent well after it.
func (n *network) delay() int64 {
	s := n.s
	if n.slow > 0 && s.chance(n.slow) {
		return s.between(50, 10*tickMS)
	}
	return s.between(1, n.delayMax)
}

// flush routes what node from sent during its rounds. Within one round the
// host sends to its peers in map order; sorting by destination (stably,
// keeping each destination's order) makes the fates drawn here, and so the
// run, the same every time.
func (n *network) flush(from *node) {
	p := from.tr.pending
	if len(p) == 0 {
		return
	}
	from.tr.pending = nil
	slices.SortStableFunc(p, func(a, b sent) int { return strings.Compare(a.to, b.to) })
	s := n.s
	for _, snd := range p {
		to := s.nodeNamed(snd.to)
		if to == nil {
			s.failf(KindBadReply, "node %s sent to unknown node %q", from.name, snd.to)
			return
		}
		for _, m := range snd.msgs {
			s.stats.Messages++
			if n.drop > 0 && s.chance(n.drop) {
				s.stats.Dropped++
				continue
			}
			copies := 1
			if n.dup > 0 && s.chance(n.dup) {
				s.stats.Duplicated++
				copies = 2
			}
			for range copies {
				s.after(n.delay(), func() { n.deliver(from, to, m) })
			}
		}
	}
}

// deliver hands one message to its destination, unless a partition or a
// crash lost it on the way.
func (n *network) deliver(from, to *node, m transport.Message) {
	if !to.up || n.blocked[from.idx][to.idx] {
		return
	}
	to.host.HandleMessages(from.name, []transport.Message{m})
	to.dirty = true
}

// sendSnapshot is the node's HostConfig.SnapshotSender: the stream
// arrives after a delay that grows with its size, unless a partition or a
// crash breaks it, and the sender learns the outcome a trip later.
func (from *node) sendSnapshot(to string, header []byte, chunks [][]byte, report func(error)) {
	s := from.s
	dst := s.nodeNamed(to)
	s.net.streamIDs++
	st := &stream{id: s.net.streamIDs, from: from, fromInc: from.incarnation, to: dst, report: report, chunks: len(chunks)}
	for _, c := range chunks {
		st.size += len(c)
	}
	s.stats.Snapshots++
	s.net.streams = append(s.net.streams, st)
	s.after(s.net.delay()+int64(st.size/4096), func() {
		s.note("snapshot %s->%s arrives (%d bytes in %d chunks)", from.name, to, st.size, st.chunks)
		if dst == nil || !dst.up || s.net.cut(from, dst) {
			st.finish(errors.New("sim: snapshot stream broken"))
			return
		}
		st.delivered, st.toInc = true, dst.incarnation
		i := 0
		next := func() ([]byte, error) {
			if i == len(chunks) {
				return nil, io.EOF
			}
			i++
			return chunks[i-1], nil
		}
		dst.host.HandleSnapshotAsync(from.name, header, next, func(err error) {
			// Called in the receiver's round, or by Close, or right here.
			s.callback(callbackKey{0, st.id, 0}, func() {
				s.after(s.net.delay(), func() {
					if s.net.cut(from, dst) {
						err = errors.New("sim: snapshot stream broken before its answer")
					}
					st.finish(err)
				})
			})
		})
		dst.dirty = true
	})
}

// finish reports a stream's outcome to its sender, once, if the sender is
// still the process that sent it.
func (st *stream) finish(err error) {
	if st.reported {
		return
	}
	st.reported = true
	s := st.from.s
	s.net.streams = slices.DeleteFunc(s.net.streams, func(x *stream) bool { return x == st })
	s.note("snapshot %s->%s outcome: %v", st.from.name, st.to.name, err)
	if !st.from.up || st.from.incarnation != st.fromInc {
		return
	}
	st.report(err)
	st.from.dirty = true
}

// cut reports whether a partition separates a and b in either direction
// (a stream needs both).
func (n *network) cut(a, b *node) bool { return n.blocked[a.idx][b.idx] || n.blocked[b.idx][a.idx] }

// nodeDown breaks the streams a crashed node was part of.
func (n *network) nodeDown(d *node) {
	for _, st := range slices.Clone(n.streams) {
		if st.to == d && st.delivered && st.toInc != d.incarnation {
			st.finish(errors.New("sim: receiver crashed"))
		}
	}
}

func (n *network) healAll() {
	for i := range n.blocked {
		clear(n.blocked[i])
	}
	n.drop, n.dup, n.slow = 0, 0, 0
}

func (s *world) nodeNamed(name string) *node {
	for _, n := range s.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}
