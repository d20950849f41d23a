package transport

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// keepaliveTime is how often an idle connection to a peer is probed by
// gRPC, so a peer that vanished without a reset is noticed even while a
// write is blocked on flow control. 10s is gRPC's floor for clients.
const keepaliveTime = 10 * time.Second

// ServerOptions are the options the node must pass to grpc.NewServer for
// the server it registers the transport on: the message-size limits that
// match the dialling side, and a keepalive policy that allows the peers'
// probes.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveTime / 2,
			PermitWithoutStream: true,
		}),
	}
}

// GRPC is the Transport between nodes over gRPC: one outbound stream per
// peer node, a snapshot RPC, and the Peer service for inbound ones.
type GRPC struct {
	cfg    Config
	m      *metrics
	ctx    context.Context // cancelled by Close; every goroutine and call ends with it
	cancel context.CancelFunc
	// wg counts every goroutine the transport runs and every inbound call
	// and SendSnapshot in progress, so Close returns only when they are done.
	wg sync.WaitGroup

	outSnap, inSnap chan struct{} // snapshot semaphores, MaxSnapshots slots each

	reportSignal chan struct{} // cap 1: mu.unreachable has names

	handshakeMu sync.Mutex // serialises PeerBook check-and-remember

	faults faults // injected link faults (SetFault)

	mu struct {
		sync.Mutex
		closed      bool
		out         map[string]*outbound
		peers       map[string]*peerInfo
		unreachable map[string]struct{} // to report, by the reporter goroutine
	}
}

// peerInfo is what the transport knows about one peer node; guarded by
// GRPC.mu.
type peerInfo struct {
	known       bool // a handshake with it succeeded, either way
	incarnation uint64
	connected   bool  // our outbound stream to it is up
	lastErr     error // why the outbound stream last failed; nil once up

	hasOffset  bool
	offset     time.Duration // smoothed, theirs minus ours
	measuredAt time.Time     // by our clock
}

// PeerStatus is a snapshot of one peer's state, for status pages and tests.
type PeerStatus struct {
	Name string
	// Known: a handshake with it succeeded, in either direction.
	Known       bool
	Incarnation uint64
	// Connected: our outbound stream to it is up.
	Connected bool
	// LastError says why the outbound stream is down (dial, handshake
	// refusal, broken stream); nil while connected.
	LastError     error
	ClockOffset   time.Duration
	ClockMeasured bool
	// Queued is the number of messages waiting in its send queue.
	Queued int
}

var _ Transport = (*GRPC)(nil)

// New validates cfg and returns a transport that dials peers on demand.
// Serve inbound streams by calling Register on the node's gRPC server.
func New(cfg Config) (*GRPC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("transport: registering metrics: %w", err)
	}
	t := &GRPC{
		cfg:          cfg,
		m:            m,
		outSnap:      make(chan struct{}, cfg.MaxSnapshots),
		inSnap:       make(chan struct{}, cfg.MaxSnapshots),
		reportSignal: make(chan struct{}, 1),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.out = make(map[string]*outbound)
	t.mu.peers = make(map[string]*peerInfo)
	t.mu.unreachable = make(map[string]struct{})
	t.wg.Add(1)
	go t.reportLoop()
	return t, nil
}

// Register adds the Peer service to the node's gRPC server, which must have
// been made with ServerOptions().
func (t *GRPC) Register(s grpc.ServiceRegistrar) {
	cairnv1.RegisterPeerServer(s, &peerServer{t: t})
}

// track counts an inbound call or SendSnapshot in wg unless the transport
// is closed; the caller must call wg.Done when it returns true.
func (t *GRPC) track() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

// Send implements Transport. The transport keeps msgs' payloads until they
// are written: the caller must not change them after Send.
func (t *GRPC) Send(node string, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	if t.inject(node, Outbound, len(msgs), func() { t.enqueue(node, msgs) }) {
		return
	}
	t.enqueue(node, msgs)
}

// enqueue queues msgs on node's outbound stream.
func (t *GRPC) enqueue(node string, msgs []Message) {
	o := t.outbound(node)
	if o == nil {
		return // closed
	}
	o.mu.Lock()
	n := min(t.cfg.QueueSize-len(o.mu.queue), len(msgs))
	o.mu.queue = append(o.mu.queue, msgs[:n]...)
	o.mu.Unlock()
	if n > 0 {
		o.wake()
	}
	if n < len(msgs) {
		o.dropped.Add(float64(len(msgs) - n))
		t.reportUnreachable(node)
	}
}

// outbound returns node's queue and sender, starting it on first use; nil
// once closed.
func (t *GRPC) outbound(node string) *outbound {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return nil
	}
	if o, ok := t.mu.out[node]; ok {
		return o
	}
	o := newOutbound(t, node)
	t.mu.out[node] = o
	t.peerLocked(node)
	t.wg.Add(1)
	go o.run()
	return o
}

// peerLocked returns node's info, creating it.
func (t *GRPC) peerLocked(node string) *peerInfo {
	p, ok := t.mu.peers[node]
	if !ok {
		p = &peerInfo{}
		t.mu.peers[node] = p
	}
	return p
}

func (t *GRPC) markKnown(node string, inc uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peerLocked(node)
	p.known, p.incarnation = true, inc
}

// setOutboundState records whether the outbound stream to node is up, and
// if not why; it returns the previous error, for logging only changes.
func (t *GRPC) setOutboundState(node string, connected bool, err error) (prevErr error, wasConnected bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peerLocked(node)
	prevErr, wasConnected = p.lastErr, p.connected
	p.connected, p.lastErr = connected, err
	return prevErr, wasConnected
}

// reportUnreachable has the reporter goroutine call the handler's
// ReportUnreachable(node). NB: never called inline, so Send never calls
// back into a caller that may hold its own locks, and a burst of drops to
// one node is reported once.
func (t *GRPC) reportUnreachable(node string) {
	t.mu.Lock()
	t.mu.unreachable[node] = struct{}{}
	t.mu.Unlock()
	select {
	case t.reportSignal <- struct{}{}:
	default:
	}
}

func (t *GRPC) reportLoop() {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.reportSignal:
		}
		t.mu.Lock()
		nodes := make([]string, 0, len(t.mu.unreachable))
		for n := range t.mu.unreachable {
			nodes = append(nodes, n)
		}
		clear(t.mu.unreachable)
		t.mu.Unlock()
		sort.Strings(nodes)
		for _, n := range nodes {
			t.cfg.Handler.ReportUnreachable(n)
		}
	}
}

// ClockOffset implements Transport.
func (t *GRPC) ClockOffset(node string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.mu.peers[node]
	if !ok || !p.hasOffset {
		return 0, false
	}
	return p.offset, true
}

// offsetStaleAfter is how old a measurement may be and still count in
// ClockHealthy: ten missed pings, and at least a second so a short
// PingInterval (tests) does not make a busy process look unhealthy.
func (t *GRPC) offsetStaleAfter() time.Duration { return max(10*t.cfg.PingInterval, time.Second) }

// silenceLimit is how long an outbound stream may go without a pong before
// it is taken for broken and redialled: ten missed pings, and at least 5s,
// so a peer busy for a moment (GC, a slow disk) does not lose its stream
// and the messages queued on it.
func (t *GRPC) silenceLimit() time.Duration { return max(10*t.cfg.PingInterval, 5*time.Second) }

// ClockHealthy implements Transport. The nodes counted are those a
// handshake succeeded with since this transport started, plus this node.
// A peer counts against us only with a measurement fresher than ten ping
// intervals (at least 1s) beyond MaxClockOffset; a peer not measured yet,
// or not lately (partitioned), is no evidence either way and counts as
// agreeing, so a node is not stripped of leadership at start-up or when a
// new node joins before the first pings. Healthy while the agreeing nodes
// are a majority.
func (t *GRPC) ClockHealthy() bool {
	now := t.cfg.Clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	nodes, disagree := 1, 0
	for _, p := range t.mu.peers {
		if !p.known {
			continue
		}
		nodes++
		if p.hasOffset && now.Sub(p.measuredAt) <= t.offsetStaleAfter() &&
			p.offset.Abs() > t.cfg.MaxClockOffset {
			disagree++
		}
	}
	return 2*(nodes-disagree) > nodes
}

// clockSmoothing is the weight of a new sample in the smoothed offset:
// enough to follow a clock that jumps within a few pings, enough averaging
// to damp one delayed pong.
const clockSmoothing = 4 // new = old + (sample-old)/clockSmoothing

// recordOffset adds one measurement of node's offset (theirs minus ours).
func (t *GRPC) recordOffset(node string, sample time.Duration) {
	now := t.cfg.Clock.Now()
	t.mu.Lock()
	p := t.peerLocked(node)
	if p.hasOffset {
		p.offset += (sample - p.offset) / clockSmoothing
	} else {
		p.offset, p.hasOffset = sample, true
	}
	p.measuredAt = now
	off := p.offset
	t.mu.Unlock()
	t.m.clockOffset.WithLabelValues(node).Set(off.Seconds())
}

// Peers returns the state of every peer node this transport has sent to or
// heard from, sorted by name.
func (t *GRPC) Peers() []PeerStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PeerStatus, 0, len(t.mu.peers))
	for name, p := range t.mu.peers {
		s := PeerStatus{
			Name: name, Known: p.known, Incarnation: p.incarnation,
			Connected: p.connected, LastError: p.lastErr,
			ClockOffset: p.offset, ClockMeasured: p.hasOffset,
		}
		if o, ok := t.mu.out[name]; ok {
			s.Queued = o.queued()
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops every goroutine, ends every stream and waits for inbound
// calls in progress to return, so no Handler method runs after it.
// Messages still queued are dropped. The gRPC server stays the node's to
// stop.
func (t *GRPC) Close() error {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return nil
	}
	t.mu.closed = true
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
	return nil
}

// dialOptions are the transport's own options, then the config's.
func (t *GRPC) dialOptions() []grpc.DialOption {
	return append(DialOptions(), t.cfg.DialOptions...)
}

// DialOptions are the options for any node-to-node connection: message
// limits matching ServerOptions and keepalive probes, so a half-open
// connection to a vanished peer is noticed within seconds.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                keepaliveTime,
			Timeout:             keepaliveTime / 2,
			PermitWithoutStream: true,
		}),
	}
}

// metricsFor returns the counters of one peer, looked up once per stream
// or queue rather than per message.
type peerCounters struct {
	sent, dropped, frames, bytes prometheus.Counter
}

func (t *GRPC) countersFor(node string) peerCounters {
	return peerCounters{
		sent:    t.m.messagesSent.WithLabelValues(node),
		dropped: t.m.messagesDropped.WithLabelValues(node),
		frames:  t.m.framesSent.WithLabelValues(node),
		bytes:   t.m.bytesSent.WithLabelValues(node),
	}
}
