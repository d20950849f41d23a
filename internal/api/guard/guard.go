package guard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// DefaultMaxConnections is --max-connections' default, per door: Redis's
// maxclients default. MaxConnections lowers it to what the file-descriptor
// limit allows.
const DefaultMaxConnections = 10000

// Metrics are the doors' shared collectors, registered once per node.
type Metrics struct {
	panics  *prometheus.CounterVec
	refused *prometheus.CounterVec
	open    *prometheus.GaugeVec
}

// NewMetrics registers the doors' metrics in reg (nil: a private
// registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_door_panics_total",
			Help: "Panics recovered while serving one connection or request of a front door (each is a bug; the log has its stack).",
		}, []string{"door"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_door_connections_refused_total",
			Help: "Connections refused because the door held --max-connections.",
		}, []string{"door"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cairn_door_connections",
			Help: "Connections a front door holds open.",
		}, []string{"door"}),
	}
	reg.MustRegister(m.panics, m.refused, m.open)
	return m
}

// Config configures one Door.
type Config struct {
	// Name labels the metrics and logs: "resp", "http", "grpc".
	Name string
	// MaxConnections bounds the connections open at once; 0: no bound.
	MaxConnections int
	// Logger gets recovered panics and accept failures; nil: slog.Default().
	Logger *slog.Logger
}

// Door guards one front door. Its methods are safe for concurrent use.
type Door struct {
	name    string
	max     int
	log     *slog.Logger
	panics  prometheus.Counter
	refused prometheus.Counter
	open    prometheus.Gauge

	n atomic.Int64 // connections admitted and not yet closed

	// overflow: gRPC connections over the bound, by remote address; every
	// call on them is refused (see GRPCListener).
	overflow  sync.Map     // remote address → *overflowConn
	overflowN atomic.Int64 // over-the-bound connections not kept
	keptN     atomic.Int64 // over-the-bound connections kept for peers

	lingering chan struct{} // slots for refusals that drain before closing

	lastAcceptLog atomic.Int64 // unix nanos of the last accept-failure line
}

// Door returns the guard of one door; m may be nil (private metrics).
func (m *Metrics) Door(cfg Config) *Door {
	if m == nil {
		m = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Door{
		name: cfg.Name, max: cfg.MaxConnections, log: cfg.Logger,
		panics:    m.panics.WithLabelValues(cfg.Name),
		refused:   m.refused.WithLabelValues(cfg.Name),
		open:      m.open.WithLabelValues(cfg.Name),
		lingering: make(chan struct{}, maxLingering),
	}
}

// Max is the door's connection bound (0: none).
func (d *Door) Max() int { return d.max }

// Open is the number of connections the door holds.
func (d *Door) Open() int { return int(d.n.Load()) }

// Panic carries a panic recovered on another goroutine, with that
// goroutine's stack, to be panicked again where a Door recovers it.
type Panic struct {
	Value any
	Stack []byte
}

func (p *Panic) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// Capture is deferred in a goroutine a connection's handler starts; a
// panic there is stored in *into (with its stack), for the handler to
// re-panic with Repanic once the goroutine is done.
func Capture(into **Panic) {
	if v := recover(); v != nil {
		*into = &Panic{Value: v, Stack: debug.Stack()}
	}
}

// Repanic panics with p when it is not nil.
func Repanic(p *Panic) {
	if p != nil {
		panic(p)
	}
}

// Recovered handles v, a value recover() returned while serving a
// connection from remote: when v is not nil it logs it once with a stack
// and counts it, and reports true. The caller then closes the connection.
func (d *Door) Recovered(v any, remote string) bool {
	if v == nil {
		return false
	}
	d.panics.Inc()
	val, stack := v, debug.Stack()
	if p, ok := v.(*Panic); ok {
		val, stack = p.Value, p.Stack
	}
	d.log.Error("panic serving a connection; closing it (a bug: please report it with this stack)",
		"door", d.name, "remote", remote, "panic", fmt.Sprint(val), "stack", string(stack))
	return true
}

// admit takes a connection slot; false when the door is full.
func (d *Door) admit() bool {
	if d.max <= 0 {
		d.n.Add(1)
		d.open.Inc()
		return true
	}
	if d.n.Add(1) > int64(d.max) {
		d.n.Add(-1)
		return false
	}
	d.open.Inc()
	return true
}

func (d *Door) release() {
	d.n.Add(-1)
	d.open.Dec()
}

// conn releases its slot on its first Close.
type conn struct {
	net.Conn
	once  sync.Once
	after func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.after)
	return err
}

// Refuser answers and closes a connection the door has no room for.
type Refuser func(net.Conn)

// maxLingering bounds the refused connections waiting for their peer to
// finish sending before they are closed; beyond it they close at once.
const maxLingering = 64

// lingerFor is how long a refused connection may drain what its peer
// sends, so that the answer reaches it instead of a reset.
const lingerFor = time.Second

// RefuseWith writes msg at once and closes the connection, as Redis
// answers a client over maxclients.
func (d *Door) RefuseWith(msg []byte) Refuser {
	return func(c net.Conn) { d.refuse(c, msg, false) }
}

// RefuseHTTP answers the connection's first request with a 503 naming
// --max-connections and closes it. NB: the request is read first (its
// head, for up to a second): an HTTP client may treat a response that
// arrives before it has sent its request as garbage on an idle
// connection, as Go's does.
func (d *Door) RefuseHTTP() Refuser {
	body := fmt.Sprintf(`{"error":"max number of connections reached (--max-connections %d); retry later or use another node"}`+"\n", d.max)
	msg := fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"+
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	return func(c net.Conn) { d.refuse(c, msg, true) }
}

// refuse answers c with msg and closes it. NB: it shuts down its sending
// side and discards what the peer still sends, for up to lingerFor,
// before closing: closing a socket with unread bytes sends a reset, which
// can destroy msg before the client reads it. At most maxLingering
// connections linger; beyond that msg is written and the connection
// closed at once.
func (d *Door) refuse(c net.Conn, msg []byte, awaitRequest bool) {
	_ = c.SetDeadline(time.Now().Add(lingerFor))
	select {
	case d.lingering <- struct{}{}:
	default:
		_, _ = c.Write(msg)
		c.Close()
		return
	}
	go func() {
		defer func() { <-d.lingering }()
		defer c.Close()
		if awaitRequest {
			readHead(c)
		}
		if _, err := c.Write(msg); err != nil {
			return
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			_, _ = io.CopyN(io.Discard, c, 1<<20)
		}
	}()
}

// readHead reads until the end of an HTTP request head, 16 KiB, or the
// connection's deadline.
func readHead(c net.Conn) {
	buf := make([]byte, 16<<10)
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil || bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
			return
		}
	}
}

// Listener wraps l: Accept returns connections while the door has room
// and hands the others to refuse; a connection's slot is released when it
// is closed. Accept errors that pass (out of file descriptors, a
// connection reset before it was accepted) are retried after a growing
// pause (5 ms to 1 s, as net/http does), logged at most once a second.
func (d *Door) Listener(l net.Listener, refuse Refuser) net.Listener {
	return &listener{Listener: l, d: d, refuse: refuse, done: make(chan struct{})}
}

type listener struct {
	net.Listener
	d      *Door
	refuse Refuser // nil: gRPC overflow (see GRPCListener)
	done   chan struct{}
	once   sync.Once
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !temporary(err) {
				return nil, err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.d.acceptFailed(err, delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
				continue
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			}
		}
		delay = 0
		if l.d.admit() {
			return &conn{Conn: c, after: l.d.release}, nil
		}
		l.d.refused.Inc()
		if l.refuse != nil {
			l.refuse(c)
			continue
		}
		if oc := l.d.overflowConn(c); oc != nil {
			return oc, nil
		}
	}
}

// temporary reports an accept error worth retrying.
func temporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (d *Door) acceptFailed(err error, delay time.Duration) {
	now := time.Now().UnixNano()
	last := d.lastAcceptLog.Load()
	if now-last < int64(time.Second) || !d.lastAcceptLog.CompareAndSwap(last, now) {
		return
	}
	d.log.Warn("accepting a connection failed; retrying", "door", d.name, "err", err, "retry_in", delay,
		"open", d.Open(), "max_connections", d.max)
}

// Handler wraps an HTTP handler: a panic while serving a request is
// recovered, logged and counted, and its connection closed (net/http's
// ErrAbortHandler, which it closes without logging again).
func (d *Door) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // a deliberate abort, not a bug
			}
			d.Recovered(v, r.RemoteAddr)
			panic(http.ErrAbortHandler)
		}()
		h.ServeHTTP(w, r)
	})
}

// gRPC: a connection over the bound cannot be answered before the HTTP/2
// handshake, so it is let in for overflowLinger, every call on it answers
// RESOURCE_EXHAUSTED, and then it is closed. At most maxOverflow such
// connections exist at once; beyond that they are closed unanswered.
const (
	overflowLinger = time.Second
	maxOverflow    = 64
)

// GRPCListener wraps the gRPC door's listener (see Listener); use it with
// GRPCOptions, which refuse the calls of connections over the bound.
func (d *Door) GRPCListener(l net.Listener) net.Listener {
	return &listener{Listener: l, d: d, done: make(chan struct{})}
}

// overflowConn is a gRPC connection over the bound, closed after
// overflowLinger unless a node-to-node call kept it.
type overflowConn struct {
	conn
	kept  atomic.Bool
	timer *time.Timer
}

// maxKept bounds the over-the-bound connections kept for node-to-node
// calls: far more than any cluster's peers.
const maxKept = 256

func (d *Door) overflowConn(c net.Conn) net.Conn {
	if d.overflowN.Add(1) > maxOverflow {
		d.overflowN.Add(-1)
		c.Close()
		return nil
	}
	key := c.RemoteAddr().String()
	oc := &overflowConn{}
	oc.conn = conn{Conn: c, after: func() {
		d.overflow.CompareAndDelete(key, oc)
		if oc.kept.Load() {
			d.keptN.Add(-1)
		} else {
			d.overflowN.Add(-1)
		}
	}}
	d.overflow.Store(key, oc)
	oc.timer = time.AfterFunc(overflowLinger, func() {
		if !oc.kept.Load() {
			oc.Close()
		}
	})
	return oc
}

// overflowed says whether the call in ctx arrived on a connection over the
// bound and must be refused. A node-to-node call keeps its connection
// instead (up to maxKept of them).
func (d *Door) overflowed(ctx context.Context, fromPeer bool) bool {
	if d.overflowN.Load() == 0 {
		return false // the common case: no string formatting per call
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return false
	}
	v, over := d.overflow.Load(p.Addr.String())
	if !over {
		return false
	}
	oc := v.(*overflowConn)
	if oc.kept.Load() {
		return false
	}
	if !fromPeer {
		return true
	}
	if d.keptN.Add(1) > maxKept {
		d.keptN.Add(-1)
		return true
	}
	if oc.kept.CompareAndSwap(false, true) {
		oc.timer.Stop()
		d.overflowN.Add(-1)
	} else {
		d.keptN.Add(-1)
	}
	return false
}

func (d *Door) errFull() error {
	return status.Errorf(codes.ResourceExhausted,
		"max number of connections reached (--max-connections %d); retry later or use another node", d.max)
}

var errInternal = status.Error(codes.Internal, "internal error serving this request (a bug, logged on the server)")

// GRPCOptions are the gRPC door's interceptors: calls on a connection over
// the bound answer RESOURCE_EXHAUSTED unless peer(method) says they are
// node-to-node (those are let through and their connection kept: a flood
// of clients must not cut a node off from its peers; the fd budget
// reserves room for them), and a panic in a call is recovered (INTERNAL)
// unless contained(method) is false, as for the raft stream, where a
// panic must stop the process.
func (d *Door) GRPCOptions(peer, contained func(fullMethod string) bool) []grpc.ServerOption {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		if d.overflowed(ctx, peer(info.FullMethod)) {
			return nil, d.errFull()
		}
		if contained(info.FullMethod) {
			defer func() {
				if d.Recovered(recover(), remoteOf(ctx)) {
					resp, err = nil, errInternal
				}
			}()
		}
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		if d.overflowed(ss.Context(), peer(info.FullMethod)) {
			return d.errFull()
		}
		if contained(info.FullMethod) {
			defer func() {
				if d.Recovered(recover(), remoteOf(ss.Context())) {
					err = errInternal
				}
			}()
		}
		return h(srv, ss)
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream),
		// A connection with no call in flight for this long gets a GOAWAY
		// (clients reconnect when they next need it), so idle connections
		// do not hold the door's slots for ever. Peers' raft streams never
		// go idle.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: grpcMaxIdle})}
}

// grpcMaxIdle is how long a gRPC connection with no call in flight is kept.
const grpcMaxIdle = 5 * time.Minute

func remoteOf(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown"
}

// fdReserve is what MaxConnections keeps for everything but the doors:
// Pebble's open tables (1,000 by default), its WAL and manifest, peers'
// connections and the node's own dials.
const fdReserve = 2048

// MaxConnections returns the per-door bound to use when want is asked
// for: want, lowered so that doors doors all full still leave fdReserve
// descriptors of the process's limit (RLIMIT_NOFILE; Go raises the soft
// limit to the hard one at start-up). lowered says it was lowered.
func MaxConnections(want, doors int) (n int, lowered bool, limit uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 || rl.Cur > 1<<40 {
		return want, false, 0 // unknown or unlimited
	}
	budget := (int64(rl.Cur) - fdReserve) / int64(doors)
	budget = max(budget, 16) // a tiny limit still lets an operator in
	if int64(want) <= budget {
		return want, false, rl.Cur
	}
	return int(budget), true, rl.Cur
}
