package transport

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc"
)

// ErrConnsClosed: Conns.Get after Close (the node is stopping).
var ErrConnsClosed = errors.New("transport: node stopping: no new connections")

// Conns are gRPC client connections to other nodes by name, for the unary
// calls a node makes to its peers (the Admin service, route gossip): made
// on first use with the pool's dial options and kept, one per address,
// until Close.
// grpc.NewClient dials lazily, so Get never waits on the network.
type Conns struct {
	resolve func(node string) (addr string, ok bool)
	dial    []grpc.DialOption
	mu      struct {
		sync.Mutex
		m      map[string]*grpc.ClientConn // by address
		closed bool
	}
}

// NewConns makes a pool that finds nodes' addresses with resolve and dials
// them with dial (DialOptions, plus the peer TLS credentials when the
// cluster runs TLS).
func NewConns(resolve func(node string) (addr string, ok bool), dial []grpc.DialOption) *Conns {
	c := &Conns{resolve: resolve, dial: dial}
	c.mu.m = map[string]*grpc.ClientConn{}
	return c
}

// Get returns the connection to node, made on first use.
func (c *Conns) Get(node string) (*grpc.ClientConn, error) {
	addr, ok := c.resolve(node)
	if !ok {
		return nil, fmt.Errorf("transport: no address known for node %s", node)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, ErrConnsClosed
	}
	if cc, ok := c.mu.m[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, c.dial...)
	if err != nil {
		return nil, err
	}
	c.mu.m[addr] = cc
	return cc, nil
}

// Close closes every connection Get made; Get makes no more.
func (c *Conns) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cc := range c.mu.m {
		cc.Close()
	}
	c.mu.m, c.mu.closed = nil, true
}
