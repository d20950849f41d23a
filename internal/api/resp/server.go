package resp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/guard"
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
	// Door bounds the connections (--max-connections) and contains
	// panics; nil: no bound, private metrics.
	Door *guard.Door
	// ReadLimits bound what one connection may make the server hold; zero
	// fields take their defaults (MaxBulk from Backend.Limits()).
	ReadLimits ReadLimits
	// Auth checks logins (AUTH, HELLO 2 AUTH) on a cluster with users;
	// nil: no users, everyone runs as the default user.
	Auth api.Authenticator
	// IdleTimeout closes a connection that sends nothing for this long
	// (--client-idle-timeout, Redis's "timeout"). 0: never, as Redis's
	// default "timeout 0".
	IdleTimeout time.Duration
}

// Server is the RESP2 front door. Serve it on a listener; Close stops it.
type Server struct {
	cfg     Config
	b       api.Backend
	log     *slog.Logger
	m       *metrics
	door    *guard.Door
	timeout time.Duration
	started time.Time
	cursors cursorTable

	// ctx is cancelled by Close, so that Backend calls in flight return.
	ctx    context.Context
	cancel context.CancelFunc

	// conns counts the goroutines serving a connection; Close waits for
	// them.
	conns sync.WaitGroup

	mu struct {
		sync.Mutex
		ln      net.Listener
		closed  bool
		served  chan struct{} // closed when Serve returns; nil before Serve
		clients map[*client]net.Conn
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
	if cfg.Door == nil {
		cfg.Door = guard.NewMetrics(nil).Door(guard.Config{Name: "resp", Logger: cfg.Logger})
	}
	l := cfg.Backend.Limits()
	cfg.ReadLimits.setDefaults(l.MaxKeySize, l.MaxValueSize)
	s := &Server{cfg: cfg, b: cfg.Backend, log: cfg.Logger, door: cfg.Door, timeout: cfg.RequestTimeout, started: time.Now()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.m = newMetrics(cfg.Registry)
	s.cursors.init()
	s.mu.clients = make(map[*client]net.Conn)
	return s
}

// readLimits are the limits of a new connection's reader.
func (s *Server) readLimits() ReadLimits { return s.cfg.ReadLimits }

// errMaxClients is Redis's answer when maxclients is reached.
var errMaxClients = []byte("-ERR max number of clients reached\r\n")

// Serve accepts connections on l until Close; it returns nil after Close.
// Connections beyond the Door's bound are answered "-ERR max number of
// clients reached" and closed.
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
	l = s.door.Listener(l, s.door.RefuseWith(errMaxClients))
	s.mu.ln = l
	served := make(chan struct{})
	s.mu.served = served
	s.mu.Unlock()
	defer close(served)
	for {
		conn, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.mu.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("resp: accepting connections: %w", err)
		}
		c := s.accept(conn)
		if c == nil {
			conn.Close()
			continue
		}
		go s.serveConn(conn, c)
	}
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
	ln, served := s.mu.ln, s.mu.served
	for _, conn := range s.mu.clients {
		conn.Close()
	}
	s.mu.Unlock()
	s.cancel()
	if ln != nil {
		ln.Close()
		<-served
	}
	// No accept can happen any more, so no conns.Add races this Wait.
	s.conns.Wait()
	return nil
}

// client is one connection's state. Only the connection's goroutine
// touches it, except clients' membership (under Server.mu).
type client struct {
	id   uint64 // the session client ID; CLIENT ID reports it
	addr string
	name string
	// authed: logged in as principal (AUTH or HELLO AUTH).
	authed    bool
	principal api.Principal
	libName   string
	libVer    string
	created   time.Time
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

// accept registers a new connection; nil when the server is closing.
func (s *Server) accept(conn net.Conn) *client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil
	}
	c := s.newClient(conn.RemoteAddr().String())
	s.mu.clients[c] = conn
	s.conns.Add(1)
	s.m.connections.Inc()
	return c
}

func (s *Server) clientCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.clients)
}

// writeTimeout is how long a client may take to read a pipeline's
// replies (or the idle timeout, when longer) before it is dropped.
const writeTimeout = time.Minute

// maxKeptReplyBuffer: a connection keeps its reply buffer between
// pipelines up to this size; a larger one (a big MGET) is dropped.
const maxKeptReplyBuffer = 1 << 20

// serveConn runs one connection: read every command that has arrived, run
// them as one pipeline, write the replies at once, until the connection
// closes, QUITs or sends something malformed. A panic while serving it is
// contained here: logged, counted, and only this connection closed.
func (s *Server) serveConn(conn net.Conn, c *client) {
	defer func() {
		s.door.Recovered(recover(), c.addr)
		conn.Close()
		s.mu.Lock()
		delete(s.mu.clients, c)
		s.mu.Unlock()
		s.m.connections.Dec()
		s.conns.Done()
	}()
	var src io.Reader = conn
	if s.cfg.IdleTimeout > 0 {
		src = idleReader{conn, s.cfg.IdleTimeout}
	}
	lim := s.readLimits()
	narrow := s.loginRequired(c)
	if narrow {
		lim = preAuthLimits(lim)
	}
	rd := newReader(src, lim)
	var out []byte
	for {
		cmds, err := rd.ReadCommands()
		if err != nil {
			var pe *ProtocolError
			if errors.As(err, &pe) {
				s.m.protocolErrors.Inc()
				s.log.Debug("resp: protocol error; closing the connection", "remote", c.addr, "err", err)
				_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = conn.Write(fmt.Appendf(out[:0], "-%s\r\n", pe.Error()))
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("resp: connection closed", "remote", c.addr, "err", err)
			}
			return
		}
		var quit bool
		out, quit = s.run(c, cmds, out[:0])
		if narrow && c.authed {
			narrow = false
			rd.setLimits(s.readLimits())
		}
		// NB: a client that sends and never reads would otherwise hold this
		// goroutine, its slot and its replies for ever.
		_ = conn.SetWriteDeadline(time.Now().Add(max(s.cfg.IdleTimeout, writeTimeout)))
		if _, err := conn.Write(out); err != nil || quit {
			return
		}
		if cap(out) > maxKeptReplyBuffer {
			out = nil
		}
	}
}

// idleReader closes a connection that sends nothing for timeout
// (--client-idle-timeout, Redis's "timeout"): each read must start
// delivering within it.
type idleReader struct {
	conn    net.Conn
	timeout time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	if err := r.conn.SetReadDeadline(time.Now().Add(r.timeout)); err != nil {
		return 0, err
	}
	return r.conn.Read(p)
}
