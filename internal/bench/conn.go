package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// conn is one client's way to the cluster. get and put return nil on
// success (a missing key is a success).
type conn interface {
	get(ctx context.Context, key []byte) error
	put(ctx context.Context, key, value []byte) error
}

// conns builds one conn per client and owns what they share; close ends
// every connection and stream.
type conns struct {
	clients []conn
	closers []func()
	mode    string
}

func (cs *conns) close() {
	// NB: in reverse, so that streams close before their connections.
	for i := len(cs.closers) - 1; i >= 0; i-- {
		cs.closers[i]()
	}
}

func dial(ctx context.Context, cfg *Config) (*conns, error) {
	cs := &conns{}
	var err error
	switch {
	case cfg.Protocol == ProtocolRESP:
		cs.mode = "resp"
		for i := range cfg.Clients {
			rdb := redis.NewClient(respOptions(cfg.Endpoints[i%len(cfg.Endpoints)], cfg.Timeout))
			cs.closers = append(cs.closers, func() { rdb.Close() })
			cs.clients = append(cs.clients, respConn{rdb})
		}
	case cfg.Batch:
		cs.mode = fmt.Sprintf("grpc batch, %d streams per endpoint", cfg.Streams)
		err = dialBatch(ctx, cfg, cs)
	default:
		cs.mode = "grpc unary"
		cons := consistency(cfg.ReadMode)
		for i := range cfg.Clients {
			var c *grpcapi.Client
			if c, err = grpcapi.Dial(cfg.Endpoints[i%len(cfg.Endpoints)]); err != nil {
				break
			}
			cs.closers = append(cs.closers, func() { c.Close() })
			cs.clients = append(cs.clients, unaryConn{c, cons})
		}
	}
	if err != nil {
		cs.close()
		return nil, err
	}
	return cs, nil
}

func respOptions(addr string, timeout time.Duration) *redis.Options {
	return &redis.Options{
		Addr:                     addr,
		Protocol:                 2, // the door speaks RESP2; skip the HELLO 3 round trip
		DisableIdentity:          true,
		PoolSize:                 1,
		MaxRetries:               -1, // count errors, don't hide them behind retries
		DialTimeout:              timeout,
		ReadTimeout:              timeout,
		WriteTimeout:             timeout,
		PoolTimeout:              timeout,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

func consistency(mode string) pb.Consistency {
	switch mode {
	case ReadFollower:
		return pb.Consistency_CONSISTENCY_FOLLOWER
	case ReadStale:
		return pb.Consistency_CONSISTENCY_STALE
	}
	return pb.Consistency_CONSISTENCY_LINEARIZABLE
}

type respConn struct{ rdb *redis.Client }

func (c respConn) get(ctx context.Context, key []byte) error {
	err := c.rdb.Get(ctx, string(key)).Err()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

func (c respConn) put(ctx context.Context, key, value []byte) error {
	return c.rdb.Set(ctx, string(key), value, 0).Err()
}

type unaryConn struct {
	c    *grpcapi.Client
	cons pb.Consistency
}

func (c unaryConn) get(ctx context.Context, key []byte) error {
	_, err := c.c.Get(ctx, &pb.GetRequest{Key: key, Consistency: c.cons})
	return err
}

func (c unaryConn) put(ctx context.Context, key, value []byte) error {
	// No session: the server makes a one-shot session per unary write.
	_, err := c.c.Put(ctx, &pb.PutRequest{Key: key, Value: value})
	return err
}

// dialBatch makes Streams slots per endpoint, each on its own connection,
// and hands them to the clients round-robin: client i uses endpoint
// i%len(Endpoints), and the slots of an endpoint in turn.
func dialBatch(ctx context.Context, cfg *Config, cs *conns) error {
	// The streams live as long as the run; ctx's end (Ctrl-C) ends them.
	sctx, cancel := context.WithCancel(ctx)
	cs.closers = append(cs.closers, cancel)
	slots := make([][]*streamSlot, len(cfg.Endpoints))
	for e, addr := range cfg.Endpoints {
		for range cfg.Streams {
			c, err := grpcapi.Dial(addr)
			if err != nil {
				return err
			}
			s := &streamSlot{c: c, ctx: sctx, timeout: cfg.Timeout}
			cs.closers = append(cs.closers, func() { c.Close() }, s.close)
			slots[e] = append(slots[e], s)
			// Open now, so that no request's latency pays for it. A slot
			// that fails stays closed: its clients retry, counting errors.
			octx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			_, _ = s.stream(octx)
			cancel()
		}
	}
	cons := consistency(cfg.ReadMode)
	for i := range cfg.Clients {
		e := i % len(cfg.Endpoints)
		ss := slots[e]
		cs.clients = append(cs.clients, batchConn{ss[(i/len(cfg.Endpoints))%len(ss)], cons})
	}
	return nil
}

// streamSlot holds one Batch stream, opened by the first client that needs
// it and reopened after it breaks.
type streamSlot struct {
	c       *grpcapi.Client
	ctx     context.Context // the streams' lifetime
	timeout time.Duration
	mu      struct {
		sync.Mutex
		b    *grpcapi.BatchClient // nil: not open
		dead []*grpcapi.BatchClient
	}
}

// stream returns the open stream, opening one when there is none. Clients
// that need it meanwhile wait: one open at a time per slot.
func (s *streamSlot) stream(ctx context.Context) (*grpcapi.BatchClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.b != nil {
		return s.mu.b, nil
	}
	// NB: Batch asks for the cluster settings under the stream's own ctx,
	// which has no deadline; ask once first under the request's.
	if _, err := s.c.GetCluster(ctx); err != nil {
		return nil, err
	}
	b, err := s.c.Batch(s.ctx)
	if err != nil {
		return nil, err
	}
	s.mu.b = b
	return b, nil
}

// broken retires b after an error that says its stream ended.
func (s *streamSlot) broken(b *grpcapi.BatchClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.b == b {
		s.mu.b = nil
		s.mu.dead = append(s.mu.dead, b)
	}
}

// close closes every stream the slot opened, each within timeout: a
// stream still open ends once the node has answered what it holds.
func (s *streamSlot) close() {
	s.mu.Lock()
	all := s.mu.dead
	if s.mu.b != nil {
		all = append(all, s.mu.b)
	}
	s.mu.b, s.mu.dead = nil, nil
	s.mu.Unlock()
	for _, b := range all {
		done := make(chan struct{})
		go func() { defer close(done); b.Close() }()
		select {
		case <-done:
		case <-time.After(s.timeout):
			// The stream's ctx is the whole run's; the conns closer after
			// this one (the connection's Close) ends the stream for good.
			s.c.Close()
			<-done
		}
	}
}

// streamEnded reports whether err is the stream's end rather than one
// request's answer: per-request errors carry cairn's ErrorInfo, the
// stream's own status does not.
func streamEnded(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.Internal:
		return grpcapi.Info(err) == nil
	}
	return false
}

type batchConn struct {
	s    *streamSlot
	cons pb.Consistency
}

func (c batchConn) get(ctx context.Context, key []byte) error {
	b, err := c.s.stream(ctx)
	if err != nil {
		return err
	}
	_, err = b.Get(ctx, &pb.GetRequest{Key: key, Consistency: c.cons})
	if err != nil && ctx.Err() == nil && streamEnded(err) {
		c.s.broken(b)
	}
	return err
}

func (c batchConn) put(ctx context.Context, key, value []byte) error {
	b, err := c.s.stream(ctx)
	if err != nil {
		return err
	}
	_, err = b.Put(ctx, &pb.PutRequest{Key: key, Value: value})
	if err != nil && ctx.Err() == nil && streamEnded(err) {
		c.s.broken(b)
	}
	return err
}
