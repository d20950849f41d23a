package resp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/redcon"

	"github.com/cairnkv/cairn/internal/api"
)

// Config configures a Server.
type Config struct {
	// Backend is the node. Required.
	Backend api.Backend
	// Logger gets connection errors at debug level and failures of the
	// server itself; nil: slog.Default().
	Logger *slog.Logger
	// Registry receives the metrics; nil: a private registry (nothing is
	// exported), so tests and several servers in one process never collide.
	Registry prometheus.Registerer
	// RequestTimeout bounds each Backend call (DESIGN.md's
	// --request-timeout). Default 2s: below go-redis's 3s read timeout, so
	// an unknown outcome reaches the client as -TIMEOUT instead of a client
	// timeout it would retry.
	RequestTimeout time.Duration
	// Addr is the advertised address INFO reports (tcp_port, etc.); default
	// the listener's address.
	Addr string
	// NodeName and Version are reported by INFO server.
	NodeName, Version string
}

// Server is the RESP2 front door. Serve it on a listener; Close stops it.
type Server struct {
	cfg     Config
	b       api.Backend
	log     *slog.Logger
	m       *metrics
	timeout time.Duration
	started time.Time
	cursors cursorTable

	// ctx is cancelled by Close, so that Backend calls in flight return.
	ctx    context.Context
	cancel context.CancelFunc

	// conns counts the goroutines serving a connection (redcon starts one
	// per connection); Close waits for them.
	conns sync.WaitGroup

	mu struct {
		sync.Mutex
		rs      *redcon.Server
		ln      net.Listener
		closed  bool
		served  chan struct{} // closed when Serve returns; nil before Serve
		clients map[*client]struct{}
	}
}

// ErrClosed is returned by Serve on a closed Server.
var ErrClosed = errors.New("resp: server closed")

// New returns a Server; it serves nothing until Serve.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 2 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &Server{cfg: cfg, b: cfg.Backend, log: cfg.Logger, timeout: cfg.RequestTimeout, started: time.Now()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.m = newMetrics(cfg.Registry)
	s.cursors.init()
	s.mu.clients = make(map[*client]struct{})
	return s
}

// Serve accepts connections on l until Close; it returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	if s.mu.served != nil {
		s.mu.Unlock()
		return errors.New("resp: Serve called twice")
	}
	rs := redcon.NewServerNetwork(l.Addr().Network(), l.Addr().String(), s.handle, s.accept, s.closed)
	s.mu.rs, s.mu.ln = rs, l
	served := make(chan struct{})
	s.mu.served = served
	s.mu.Unlock()
	defer close(served)
	return rs.Serve(l)
}

// Addr is the listener's address, nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ln == nil {
		return nil
	}
	return s.mu.ln.Addr()
}

// Close stops accepting, closes every connection, abandons Backend calls in
// flight and waits until every goroutine of the server has returned.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	rs, served := s.mu.rs, s.mu.served
	s.mu.Unlock()
	s.cancel()
	if rs != nil {
		// Closes the listener; redcon's accept loop then closes every
		// connection and returns.
		rs.Close()
		<-served
	}
	// No accept can happen any more, so no conns.Add races this Wait.
	s.conns.Wait()
	return nil
}

// client is one connection's state. Only the connection's goroutine
// touches it, except clients' membership (under Server.mu).
type client struct {
	id      uint64 // the session client ID; CLIENT ID reports it
	addr    string
	name    string
	libName string
	libVer  string
	created time.Time
	// sessions holds one api.Session per partition this connection wrote
	// to, all under the same client ID. NB: not one Session for the whole
	// connection: kv judges a session it has never seen whose lowest
	// unacknowledged seq is above 1 as expired, and a connection's second
	// partition would see exactly that.
	//
	// A partition's session is replaced by one under a fresh client ID
	// when kv answers SessionExpired (see Server.propose), so a slot is a
	// pointer: only the goroutine running that partition's queue touches
	// it, while others read the map.
	sessions map[int]*sessionSlot
}

// sessionSlot holds the connection's current session on one partition.
type sessionSlot struct {
	ss *api.Session
	// reached: a command of ss may have reached kv (it answered, or its
	// outcome is unknown).
	reached bool
}

func (c *client) session(p int) *sessionSlot {
	sl := c.sessions[p]
	if sl == nil {
		sl = &sessionSlot{ss: api.NewSession(c.id)}
		c.sessions[p] = sl
	}
	return sl
}

func (s *Server) newClient(addr string) *client {
	return &client{id: s.b.NewClientID(), addr: addr, created: time.Now(), sessions: make(map[int]*sessionSlot)}
}

func (s *Server) accept(conn redcon.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return false
	}
	c := s.newClient(conn.RemoteAddr())
	conn.SetContext(c)
	s.mu.clients[c] = struct{}{}
	s.conns.Add(1)
	s.m.connections.Inc()
	return true
}

func (s *Server) closed(conn redcon.Conn, err error) {
	if err != nil {
		s.log.Debug("resp: connection closed", "remote", conn.RemoteAddr(), "err", err)
	}
	c, _ := conn.Context().(*client)
	s.mu.Lock()
	delete(s.mu.clients, c)
	s.mu.Unlock()
	s.m.connections.Dec()
	s.conns.Done()
}

func (s *Server) clientCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.clients)
}

// handle gets the first command of what redcon has read; the rest of the
// pipeline already buffered is taken with ReadPipeline and run as a group.
func (s *Server) handle(conn redcon.Conn, cmd redcon.Command) {
	c, _ := conn.Context().(*client)
	rest := conn.ReadPipeline()
	cmds := make([][][]byte, 0, 1+len(rest))
	cmds = append(cmds, cmd.Args)
	for _, r := range rest {
		cmds = append(cmds, r.Args)
	}
	out, quit := s.run(c, cmds, nil)
	conn.WriteRaw(out)
	if quit {
		conn.Close()
	}
}
