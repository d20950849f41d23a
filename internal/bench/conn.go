package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/cairnkv/cairn/client"
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
	switch {
	case cfg.Protocol == ProtocolRESP:
		cs.mode = "resp"
		for i := range cfg.Clients {
			o := respOptions(cfg.Endpoints[i%len(cfg.Endpoints)], cfg.Timeout)
			o.TLSConfig = cfg.TLS
			o.Username, o.Password = cfg.User, cfg.Password
			rdb := redis.NewClient(o)
			cs.closers = append(cs.closers, func() { rdb.Close() })
			cs.clients = append(cs.clients, respConn{rdb})
		}
		return cs, nil
	}
	mode, err := client.ParseReadMode(cfg.ReadMode)
	if err != nil {
		return nil, err
	}
	opts := client.Options{Balance: cfg.Balance, DialTimeout: cfg.Timeout, RequestTimeout: cfg.Timeout, TLS: cfg.TLS,
		User: cfg.User, Password: cfg.Password}
	if cfg.Batch {
		cs.mode = fmt.Sprintf("grpc batch (Go client, %d streams per node, %s)", cfg.Streams, cfg.Balance)
		opts.StreamsPerNode = cfg.Streams
		h := &clientHolder{endpoints: cfg.Endpoints, opts: opts}
		cs.closers = append(cs.closers, h.close)
		// Connect now, so that no request's latency pays for it. If that
		// fails the clients try again, counting errors.
		_, _ = h.get(ctx)
		for range cfg.Clients {
			cs.clients = append(cs.clients, grpcConn{h, mode})
		}
		return cs, nil
	}
	cs.mode = fmt.Sprintf("grpc unary (a Go client each, %s)", cfg.Balance)
	opts.Unary, opts.StreamsPerNode = true, 1
	reachable := true
	for range cfg.Clients {
		h := &clientHolder{endpoints: cfg.Endpoints, opts: opts}
		cs.closers = append(cs.closers, h.close)
		if reachable { // NB: once one fails, the others try at their first request
			_, err := h.get(ctx)
			reachable = err == nil
		}
		cs.clients = append(cs.clients, grpcConn{h, mode})
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

// clientHolder holds a Go client (package client), made by the first
// request that needs it and made again by the next one if that failed.
type clientHolder struct {
	endpoints []string
	opts      client.Options
	c         atomic.Pointer[client.Client]
	mu        sync.Mutex // serialises making the client
}

func (h *clientHolder) get(ctx context.Context) (*client.Client, error) {
	if c := h.c.Load(); c != nil {
		return c, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.c.Load(); c != nil {
		return c, nil
	}
	c, err := client.NewContext(ctx, h.endpoints, h.opts)
	if err != nil {
		return nil, err
	}
	h.c.Store(c)
	return c, nil
}

func (h *clientHolder) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.c.Swap(nil); c != nil {
		c.Close()
	}
}

// grpcConn is one bench client on a Go client, which sends each request to
// its key's leader (or, for follower and stale reads, to a replica the
// --balance policy picks) and retries what is safe to retry.
type grpcConn struct {
	h    *clientHolder
	mode client.ReadMode
}

func (c grpcConn) get(ctx context.Context, key []byte) error {
	cl, err := c.h.get(ctx)
	if err != nil {
		return err
	}
	_, _, err = cl.Get(ctx, key, client.WithReadMode(c.mode))
	return err
}

func (c grpcConn) put(ctx context.Context, key, value []byte) error {
	cl, err := c.h.get(ctx)
	if err != nil {
		return err
	}
	_, err = cl.Put(ctx, key, value)
	return err
}
