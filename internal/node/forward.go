package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// forwardClusterHeader carries the sender's cluster ID on a Forward stream;
// the receiver refuses a stream from another cluster.
const forwardClusterHeader = "cairn-cluster-id"

// forwarder keeps one Forward.Batch stream per peer node and multiplexes
// forwarded commands over it, answered by id.
type forwarder struct {
	n  *Node
	mu struct {
		sync.Mutex
		peers  map[string]*fwdPeer
		nextID uint64
		closed bool
	}
}

// fwdPeer is the stream to one node. ready is closed once the stream is
// open or failed (err); it is dialled outside the forwarder's lock, so a
// silent peer never holds up forwards to the others.
type fwdPeer struct {
	ready  chan struct{}
	err    error // set before ready closes
	conn   *grpc.ClientConn
	stream cairnv1.Forward_BatchClient
	cancel context.CancelFunc // set at creation
	sendMu sync.Mutex
	mu     struct {
		sync.Mutex
		pending map[uint64]chan *cairnv1.ForwardResponse
		broken  error
	}
}

func newForwarder(n *Node) *forwarder {
	f := &forwarder{n: n}
	f.mu.peers = map[string]*fwdPeer{}
	return f
}

// forward sends a command for group gid to node and waits for its answer.
// Anything that fails before the command left answers "not applied"; a
// stream that breaks with it in flight makes the outcome indeterminate.
func (f *forwarder) forward(ctx context.Context, node string, gid replica.GroupID, cmd []byte) ([]byte, error) {
	if f.n.faults != nil && f.n.tr.IsCut(node, transport.Outbound) {
		return nil, fmt.Errorf("%w: forwarding to %s: %w", replica.ErrNotApplied, node, transport.ErrLinkCut)
	}
	peer, err := f.livePeer(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("%w: forwarding to %s: %w", replica.ErrNotApplied, node, err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: forwarding to %s: %w", replica.ErrNotApplied, node, ctx.Err())
	}
	f.mu.Lock()
	f.mu.nextID++
	id := f.mu.nextID
	f.mu.Unlock()
	ch := make(chan *cairnv1.ForwardResponse, 1)
	peer.mu.Lock()
	if broken := peer.mu.broken; broken != nil { // broke since livePeer looked
		peer.mu.Unlock()
		f.drop(node, peer)
		return nil, fmt.Errorf("%w: forwarding to %s: %w", replica.ErrNotApplied, node, broken)
	}
	peer.mu.pending[id] = ch
	peer.mu.Unlock()
	dl, _ := ctx.Deadline()
	req := &cairnv1.ForwardRequest{Id: id, Command: cmd, DeadlineUnixNano: dl.UnixNano(), Meta: gid == 0}
	if gid > 0 {
		req.Partition = uint32(gid - 1)
	}
	f.n.forwards.Inc()
	peer.sendMu.Lock()
	err = peer.stream.Send(req)
	peer.sendMu.Unlock()
	if err != nil {
		peer.mu.Lock()
		delete(peer.mu.pending, id)
		peer.mu.Unlock()
		if status.Code(err) == codes.ResourceExhausted {
			// Refused by the client before sending (message too large).
			return nil, fmt.Errorf("%w: forwarding to %s: %w", api.ErrTooLarge, node, err)
		}
		// gRPC may have written part of it: indeterminate.
		return nil, fmt.Errorf("%w: forwarding to %s: %w", replica.ErrIndeterminate, node, err)
	}
	select {
	case r := <-ch:
		if r == nil {
			return nil, fmt.Errorf("%w: the stream to %s broke with the request in flight", replica.ErrIndeterminate, node)
		}
		switch r.GetOutcome() {
		case cairnv1.ForwardResponse_DONE:
			return r.GetResult(), nil
		case cairnv1.ForwardResponse_NOT_APPLIED:
			return nil, &replica.ErrNotLeader{Group: gid, HintNode: r.GetLeader()}
		case cairnv1.ForwardResponse_INVALID:
			return nil, fmt.Errorf("%w: %s", api.ErrInvalid, r.GetMessage())
		case cairnv1.ForwardResponse_NO_SPACE:
			return nil, fmt.Errorf("%w (on %s)", api.ErrNoSpace, node)
		}
		return nil, fmt.Errorf("%w: %s", replica.ErrIndeterminate, r.GetMessage())
	case <-ctx.Done():
		peer.mu.Lock()
		delete(peer.mu.pending, id)
		peer.mu.Unlock()
		return nil, fmt.Errorf("%w: forwarded to %s: %w", replica.ErrIndeterminate, node, ctx.Err())
	}
}

// livePeer is peer, except that a peer whose Batch stream broke (its
// connection is closed with it) is dropped and dialled again, so neither a
// forward nor a remote read (which opens its own stream on the peer's
// connection) fails once on a break it could have seen. Before remote
// reads used it, a node that only read from a restarted peer failed every
// read with "the client connection is closing" (found by cairn check).
func (f *forwarder) livePeer(ctx context.Context, node string) (*fwdPeer, error) {
	p, err := f.peer(ctx, node)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	broken := p.mu.broken
	p.mu.Unlock()
	if broken == nil {
		return p, nil
	}
	f.drop(node, p)
	return f.peer(ctx, node)
}

// peer returns the open stream to node, dialling it if needed; it waits at
// most until ctx ends.
func (f *forwarder) peer(ctx context.Context, node string) (*fwdPeer, error) {
	f.mu.Lock()
	if f.mu.closed {
		f.mu.Unlock()
		return nil, errors.New("node stopping")
	}
	p := f.mu.peers[node]
	if p == nil {
		addr, ok := f.n.resolve(node)
		if !ok {
			f.mu.Unlock()
			return nil, fmt.Errorf("no address for node %s", node)
		}
		ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(),
			forwardClusterHeader, f.n.id.ClusterID.String()))
		p = &fwdPeer{ready: make(chan struct{}), cancel: cancel}
		p.mu.pending = map[uint64]chan *cairnv1.ForwardResponse{}
		f.mu.peers[node] = p
		f.n.wg.Add(1)
		go f.connect(ctx, p, addr)
	}
	f.mu.Unlock()
	select {
	case <-p.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if p.err != nil {
		f.drop(node, p)
		return nil, p.err
	}
	return p, nil
}

// connect opens the stream and then receives on it until it breaks.
// ctx lives as long as the stream; p.cancel ends both (even mid-dial).
func (f *forwarder) connect(ctx context.Context, p *fwdPeer, addr string) {
	defer f.n.wg.Done()
	conn, err := grpc.NewClient(addr, transport.DialOptions()...)
	if err != nil {
		p.err = err
		close(p.ready)
		return
	}
	stream, err := cairnv1.NewForwardClient(conn).Batch(ctx)
	if err != nil {
		conn.Close()
		p.err = err
		close(p.ready)
		return
	}
	p.conn, p.stream = conn, stream
	close(p.ready)
	p.receive()
	conn.Close()
}

func (p *fwdPeer) receive() {
	for {
		r, err := p.stream.Recv()
		if err != nil {
			if err == io.EOF {
				err = errors.New("stream closed")
			}
			p.mu.Lock()
			p.mu.broken = err
			for id, ch := range p.mu.pending {
				ch <- nil
				delete(p.mu.pending, id)
			}
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		ch := p.mu.pending[r.GetId()]
		delete(p.mu.pending, r.GetId())
		p.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// close ends the stream (or the dial in progress); connect then closes
// the connection.
func (p *fwdPeer) close() { p.cancel() }

func (f *forwarder) drop(node string, p *fwdPeer) {
	f.mu.Lock()
	if f.mu.peers[node] == p {
		delete(f.mu.peers, node)
	}
	f.mu.Unlock()
	p.close()
}

func (f *forwarder) close() {
	f.mu.Lock()
	f.mu.closed = true
	peers := f.mu.peers
	f.mu.peers = nil
	f.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
}

// forwardServer answers forwarded commands: proposes them here when this
// node leads, or says NOT_APPLIED naming the leader (never a second hop).
type forwardServer struct {
	cairnv1.UnimplementedForwardServer
	n *Node
}

// fromCluster refuses a call from outside this cluster: node-to-node
// calls (forwarding, remote reads, the rebalancer's) carry the sender's
// cluster ID in forwardClusterHeader.
func (n *Node) fromCluster(ctx context.Context, what string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get(forwardClusterHeader); len(got) != 1 || got[0] != n.id.ClusterID.String() {
		return status.Errorf(codes.FailedPrecondition, "%s: cluster ID %v does not match this node's %s; only nodes of this cluster may call it",
			what, got, n.id.ClusterID)
	}
	return nil
}

func (s *forwardServer) Batch(stream cairnv1.Forward_BatchServer) error {
	if err := s.n.fromCluster(stream.Context(), "forward"); err != nil {
		return err
	}
	var sendMu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		req, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := s.handle(stream.Context(), req)
			sendMu.Lock()
			defer sendMu.Unlock()
			_ = stream.Send(resp)
		}()
	}
}

func (s *forwardServer) handle(ctx context.Context, req *cairnv1.ForwardRequest) *cairnv1.ForwardResponse {
	n := s.n
	resp := &cairnv1.ForwardResponse{Id: req.GetId()}
	if d := req.GetDeadlineUnixNano(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, d))
		defer cancel()
	}
	if n.noSpace.Load() {
		resp.Outcome = cairnv1.ForwardResponse_NO_SPACE
		return resp
	}
	gid := replica.GroupID(0)
	if !req.GetMeta() {
		if p := int(req.GetPartition()); p >= n.Partitions() {
			resp.Outcome, resp.Message = cairnv1.ForwardResponse_INVALID, fmt.Sprintf("partition %d out of range", p)
			return resp
		}
		gid = replica.GroupID(req.GetPartition()) + 1
	}
	g, ok := n.host.Group(gid)
	if !ok {
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_NOT_APPLIED, fmt.Sprintf("node %s holds no replica of group %d", n.cfg.Name, gid)
		return resp
	}
	res, _, err := g.Propose(ctx, req.GetCommand())
	switch api.OutcomeOf(err) {
	case api.Done:
		resp.Result = res
	case api.NotApplied:
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_NOT_APPLIED, err.Error()
		var nl *replica.ErrNotLeader
		if errors.As(err, &nl) {
			resp.Leader = nl.HintNode
		}
	case api.Invalid:
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_INVALID, err.Error()
	case api.NoSpace:
		resp.Outcome = cairnv1.ForwardResponse_NO_SPACE
	default:
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_INDETERMINATE, err.Error()
	}
	return resp
}
