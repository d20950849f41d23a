package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"sort"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
)

// LinkFault is what happens to messages on one direction of a link in a
// LocalNetwork. The zero value is a healthy link.
type LinkFault struct {
	// Drop loses every message and fails every snapshot on the link: a
	// partition in that direction.
	Drop bool
	// Delay holds each batch this long (by the real clock) before handing it
	// to the receiver; order is kept.
	Delay time.Duration
}

// LocalNetwork connects in-process endpoints without gRPC, for engine
// tests and the simulation. Each ordered pair of endpoints has a link with
// a queue (DefaultQueueSize messages) and a goroutine that delivers its
// batches in order; faults are set per direction.
type LocalNetwork struct {
	// MaxClockOffset is ClockHealthy's bound; default DefaultMaxClockOffset.
	// Set before creating endpoints.
	MaxClockOffset time.Duration

	mu struct {
		sync.Mutex
		endpoints map[string]*LocalEndpoint
		faults    map[[2]string]LinkFault
	}
}

// NewLocalNetwork returns an empty network.
func NewLocalNetwork() *LocalNetwork {
	n := &LocalNetwork{MaxClockOffset: DefaultMaxClockOffset}
	n.mu.endpoints = make(map[string]*LocalEndpoint)
	n.mu.faults = make(map[[2]string]LinkFault)
	return n
}

// Endpoint attaches node name with its handler and returns its transport,
// reading clock.Real{}; an endpoint of the same name replaces the old one
// (a restarted node). Close the returned transport to detach it.
func (n *LocalNetwork) Endpoint(name string, h Handler) *LocalEndpoint {
	return n.EndpointWithClock(name, h, clock.Real{})
}

// EndpointWithClock is Endpoint with the clock the node reads, so clock
// offsets between endpoints are the differences of their clocks (use
// clock.Skewed to skew one).
func (n *LocalNetwork) EndpointWithClock(name string, h Handler, c clock.Clock) *LocalEndpoint {
	e := &LocalEndpoint{net: n, name: name, h: h, clock: c}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.mu.links = make(map[string]*localLink)
	e.sem = make(chan struct{}, DefaultMaxSnapshots)
	n.mu.Lock()
	n.mu.endpoints[name] = e
	n.mu.Unlock()
	return e
}

// SetLink sets the fault on the link from → to (one direction).
func (n *LocalNetwork) SetLink(from, to string, f LinkFault) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f == (LinkFault{}) {
		delete(n.mu.faults, [2]string{from, to})
		return
	}
	n.mu.faults[[2]string{from, to}] = f
}

// Partition drops everything between a and b, both ways.
func (n *LocalNetwork) Partition(a, b string) {
	n.SetLink(a, b, LinkFault{Drop: true})
	n.SetLink(b, a, LinkFault{Drop: true})
}

// Heal clears every fault on every link.
func (n *LocalNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.mu.faults)
}

func (n *LocalNetwork) fault(from, to string) LinkFault {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.faults[[2]string{from, to}]
}

// endpoint returns the live endpoint called name.
func (n *LocalNetwork) endpoint(name string) (*LocalEndpoint, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.mu.endpoints[name]
	return e, ok
}

func (n *LocalNetwork) detach(e *LocalEndpoint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.endpoints[e.name] == e {
		delete(n.mu.endpoints, e.name)
	}
}

func (n *LocalNetwork) names() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	names := make([]string, 0, len(n.mu.endpoints))
	for name := range n.mu.endpoints {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// LocalEndpoint is one node's Transport on a LocalNetwork.
type LocalEndpoint struct {
	net    *LocalNetwork
	name   string
	h      Handler
	clock  clock.Clock
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{} // outbound snapshot slots
	mu     struct {
		sync.Mutex
		closed bool
		links  map[string]*localLink
	}
}

var _ Transport = (*LocalEndpoint)(nil)

// localLink is the queue and delivery goroutine from one endpoint to one
// node.
type localLink struct {
	signal chan struct{}
	mu     struct {
		sync.Mutex
		queue       []Message
		unreachable bool // messages were dropped on overflow: report it
	}
}

// Send implements Transport: msgs are queued on the link and handed to the
// receiver's HandleMessages by the link's goroutine, in order. Overflow,
// a dropping link or a missing receiver drop them and report the node
// unreachable (from the link's goroutine).
func (e *LocalEndpoint) Send(node string, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	l := e.link(node)
	if l == nil {
		return
	}
	l.mu.Lock()
	n := min(DefaultQueueSize-len(l.mu.queue), len(msgs))
	l.mu.queue = append(l.mu.queue, msgs[:n]...)
	// NB: the link goroutine reports the overflow, so the handler is never
	// called from inside Send.
	l.mu.unreachable = l.mu.unreachable || n < len(msgs)
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

func (e *LocalEndpoint) link(node string) *localLink {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.mu.links[node]; ok {
		return l
	}
	if e.mu.closed {
		return nil
	}
	l := &localLink{signal: make(chan struct{}, 1)}
	e.mu.links[node] = l
	e.wg.Add(1)
	go e.deliver(node, l)
	return l
}

// deliver hands the link's queue to node's handler, batch by batch.
func (e *LocalEndpoint) deliver(node string, l *localLink) {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-l.signal:
		}
		l.mu.Lock()
		msgs, unreachable := l.mu.queue, l.mu.unreachable
		l.mu.queue, l.mu.unreachable = nil, false
		l.mu.Unlock()
		f := e.net.fault(e.name, node)
		if f.Delay > 0 {
			timer := time.NewTimer(f.Delay)
			select {
			case <-e.ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			f = e.net.fault(e.name, node) // a partition made meanwhile applies
		}
		to, ok := e.net.endpoint(node)
		if f.Drop || !ok {
			unreachable = true
		} else if len(msgs) > 0 {
			to.h.HandleMessages(e.name, msgs)
		}
		if unreachable {
			e.h.ReportUnreachable(node)
		}
	}
}

// SendSnapshot implements Transport by calling the receiver's
// HandleSnapshot directly, its next pulling from chunks. At most
// DefaultMaxSnapshots run at once per sender.
func (e *LocalEndpoint) SendSnapshot(ctx context.Context, node string, header []byte, chunks func(yield func([]byte) error) error) error {
	if len(header) > MaxChunkSize {
		return fmt.Errorf("transport: snapshot header to %q: %w", node, ErrChunkTooLarge)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.ctx, cancel)()
	select {
	case e.sem <- struct{}{}:
		defer func() { <-e.sem }()
	case <-ctx.Done():
		if e.ctx.Err() != nil {
			return ErrClosed
		}
		return ctx.Err()
	}
	to, ok := e.net.endpoint(node)
	if !ok || e.net.fault(e.name, node).Drop {
		return fmt.Errorf("transport: snapshot to %q: %w", node, ErrUnreachable)
	}
	var chunksErr error
	seq := func(yield func([]byte) bool) {
		chunksErr = chunks(func(b []byte) error {
			if len(b) > MaxChunkSize {
				return ErrChunkTooLarge
			}
			if !yield(bytes.Clone(b)) {
				return io.ErrClosedPipe
			}
			return nil
		})
	}
	pull, stop := iter.Pull(seq)
	defer stop()
	next := func() ([]byte, error) {
		b, ok := pull()
		if ok {
			return b, nil
		}
		if chunksErr != nil {
			return nil, chunksErr
		}
		return nil, io.EOF
	}
	if err := to.h.HandleSnapshot(ctx, e.name, bytes.Clone(header), next); err != nil {
		return fmt.Errorf("transport: snapshot to %q: %w", node, err)
	}
	return nil
}

// ClockOffset implements Transport: the difference of the two endpoints'
// clocks, read now.
func (e *LocalEndpoint) ClockOffset(node string) (time.Duration, bool) {
	to, ok := e.net.endpoint(node)
	if !ok || node == e.name {
		return 0, false
	}
	return to.clock.Now().Sub(e.clock.Now()), true
}

// ClockHealthy implements Transport over every endpoint attached.
func (e *LocalEndpoint) ClockHealthy() bool {
	// As GRPC.ClockHealthy: only a measured offset counts against us.
	nodes, disagree := 1, 0
	for _, name := range e.net.names() {
		if name == e.name {
			continue
		}
		nodes++
		if off, ok := e.ClockOffset(name); ok && off.Abs() > e.net.MaxClockOffset {
			disagree++
		}
	}
	return 2*(nodes-disagree) > nodes
}

// Close implements Transport: it detaches the endpoint and stops its
// links; queued messages are dropped.
func (e *LocalEndpoint) Close() error {
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return nil
	}
	e.mu.closed = true
	e.mu.Unlock()
	e.net.detach(e)
	e.cancel()
	e.wg.Wait()
	return nil
}
