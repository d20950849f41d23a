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
	"google.golang.org/grpc/credentials/insecure"
)

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

type fwdPeer struct {
	conn   *grpc.ClientConn
	stream cairnv1.Forward_BatchClient
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

// forward sends a command to node and waits for its answer. A stream that
// breaks with the command in flight makes the outcome indeterminate.
func (f *forwarder) forward(ctx context.Context, node string, gid replica.GroupID, cmd []byte) ([]byte, error) {
	peer, err := f.peer(node)
	if err != nil {
		return nil, &replica.ErrNotLeader{HintNode: node} // never sent: certainly not applied
	}
	f.mu.Lock()
	f.mu.nextID++
	id := f.mu.nextID
	f.mu.Unlock()
	ch := make(chan *cairnv1.ForwardResponse, 1)
	peer.mu.Lock()
	if broken := peer.mu.broken; broken != nil {
		peer.mu.Unlock()
		f.drop(node, peer)
		return nil, fmt.Errorf("%w: forwarding to %s: %w", replica.ErrNotApplied, node, broken)
	}
	peer.mu.pending[id] = ch
	peer.mu.Unlock()
	dl, _ := ctx.Deadline()
	f.n.forwards.Inc()
	peer.sendMu.Lock()
	req := &cairnv1.ForwardRequest{Id: id, Command: cmd, DeadlineUnixNano: dl.UnixNano(), Meta: gid == 0}
	if gid > 0 {
		req.Partition = uint32(gid - 1)
	}
	err = peer.stream.Send(req)
	peer.sendMu.Unlock()
	if err != nil {
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
			return nil, &replica.ErrNotLeader{HintNode: r.GetLeader()}
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

func (f *forwarder) peer(node string) (*fwdPeer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.closed {
		return nil, errors.New("node stopping")
	}
	if p := f.mu.peers[node]; p != nil {
		return p, nil
	}
	addr, ok := f.n.resolve(node)
	if !ok {
		return nil, fmt.Errorf("no address for node %s", node)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(transport.MaxMessageSize), grpc.MaxCallSendMsgSize(transport.MaxMessageSize)))
	if err != nil {
		return nil, err
	}
	stream, err := cairnv1.NewForwardClient(conn).Batch(context.Background())
	if err != nil {
		conn.Close()
		return nil, err
	}
	p := &fwdPeer{conn: conn, stream: stream}
	p.mu.pending = map[uint64]chan *cairnv1.ForwardResponse{}
	f.mu.peers[node] = p
	f.n.wg.Add(1)
	go func() {
		defer f.n.wg.Done()
		p.receive()
	}()
	return p, nil
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

func (f *forwarder) drop(node string, p *fwdPeer) {
	f.mu.Lock()
	if f.mu.peers[node] == p {
		delete(f.mu.peers, node)
	}
	f.mu.Unlock()
	p.conn.Close()
}

func (f *forwarder) close() {
	f.mu.Lock()
	f.mu.closed = true
	peers := f.mu.peers
	f.mu.peers = nil
	f.mu.Unlock()
	for _, p := range peers {
		p.conn.Close()
	}
}

// forwardServer answers forwarded commands: proposes them here when this
// node leads, or says NOT_APPLIED naming the leader (never a second hop).
type forwardServer struct {
	cairnv1.UnimplementedForwardServer
	n *Node
}

func (s *forwardServer) Batch(stream cairnv1.Forward_BatchServer) error {
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
	var g replica.Group
	var err error
	if req.GetMeta() {
		g, err = n.groupByID(0)
	} else {
		g, err = n.group(int(req.GetPartition()))
	}
	if err != nil {
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_NOT_APPLIED, err.Error()
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
