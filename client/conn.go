package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/forward/mux"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// downFor is how long a node that could not be reached is left out of the
// candidates (unless every candidate is): long enough not to pay a failed
// connection on every request, short enough to notice its return soon.
const downFor = time.Second

// nodeConn is the client's way to one node (by gRPC address): a pool of
// Options.StreamsPerNode slots, each its own gRPC connection with at most
// one Batch stream open on it, used in turn.
type nodeConn struct {
	c     *Client
	addr  string
	slots []*slot
	next  atomic.Uint32
	// downUntil (UnixNano) is set when the node could not be reached.
	downUntil atomic.Int64
}

func newNodeConn(c *Client, addr string) (*nodeConn, error) {
	nc := &nodeConn{c: c, addr: addr}
	for range c.opts.StreamsPerNode {
		// NB: NewClient does no I/O; the connection is made on first use.
		cc, err := grpc.NewClient(addr, c.dialOpts...)
		if err != nil {
			nc.close()
			return nil, err
		}
		nc.slots = append(nc.slots, &slot{nc: nc, cc: cc, kv: pb.NewKVClient(cc)})
	}
	return nc, nil
}

func (nc *nodeConn) close() {
	for _, s := range nc.slots {
		_ = s.cc.Close()
	}
}

func (nc *nodeConn) down() bool { return time.Now().UnixNano() < nc.downUntil.Load() }

func (nc *nodeConn) markDown() { nc.downUntil.Store(time.Now().Add(downFor).UnixNano()) }

func (nc *nodeConn) markUp() {
	if nc.downUntil.Load() != 0 {
		nc.downUntil.Store(0)
	}
}

// failing reports whether a connection to the node is failing, as gRPC
// sees it, so that a bare UNAVAILABLE can be told from a broken stream to
// a live node.
func (nc *nodeConn) failing() bool {
	for _, s := range nc.slots {
		if s.cc.GetState() == connectivity.TransientFailure {
			return true
		}
	}
	return false
}

func (nc *nodeConn) slot() *slot {
	return nc.slots[int(nc.next.Add(1))%len(nc.slots)]
}

// call sends one request and waits for its answer. sent reports whether
// the request may have reached the node (false: certainly not).
func (nc *nodeConn) call(ctx context.Context, req *pb.BatchRequest) (resp *pb.BatchResponse, sent bool, err error) {
	s := nc.slot()
	if nc.c.opts.Unary {
		return s.unary(ctx, req)
	}
	st, err := s.stream(ctx)
	if err != nil {
		return nil, false, err
	}
	resp, sent, err = st.Call(ctx, req)
	if err == nil {
		if e := resp.GetError(); e != nil {
			// The answer carries the request's error: its gRPC status.
			resp, err = nil, status.FromProto(&spb.Status{Code: e.Code, Message: e.Message, Details: e.Details}).Err()
		}
	}
	if h, ok := ctx.Value(servedKey{}).(*string); ok && resp != nil {
		*h = resp.GetLeader()
	}
	return resp, sent, err
}

// batchStream is one multiplexed KV.Batch stream.
type batchStream = mux.Mux[*pb.BatchRequest, *pb.BatchResponse]

// servedKey carries, in an attempt's context, where call notes the node
// that the answer says served a write (BatchResponse.leader).
type servedKey struct{}

// scan asks for one page of a scan (a unary call: Scan has no Batch form).
func (nc *nodeConn) scan(ctx context.Context, req *pb.ScanRequest) (*pb.ScanResponse, error) {
	return nc.slot().kv.Scan(ctx, req)
}

// getCluster asks the node for the routing table.
func (nc *nodeConn) getCluster(ctx context.Context) (*pb.ClusterInfo, error) {
	return pb.NewClusterClient(nc.slots[0].cc).GetCluster(ctx, &pb.GetClusterRequest{})
}

// slot is one connection and the Batch stream on it, opened by the first
// request that needs it and opened again after it ends.
type slot struct {
	nc *nodeConn
	cc *grpc.ClientConn
	kv pb.KVClient
	mu struct {
		sync.Mutex
		st      *batchStream // nil: none open
		opening *opening     // non-nil while a stream is being opened
	}
}

// opening is a stream being opened; done is closed once st or err is set.
type opening struct {
	done chan struct{}
	st   *batchStream
	err  error
}

// stream returns the slot's open stream, opening one if there is none.
// NB: the stream is opened on a goroutine of its own, under the client's
// lifetime rather than ctx (the stream outlives the request), and the
// requests that need it meanwhile wait for it each only as long as its own
// ctx allows: a node that does not answer never holds a request past its
// deadline.
func (s *slot) stream(ctx context.Context) (*batchStream, error) {
	s.mu.Lock()
	if st := s.mu.st; st != nil && st.Err() == nil {
		s.mu.Unlock()
		return st, nil
	}
	op := s.mu.opening
	if op == nil {
		op = &opening{done: make(chan struct{})}
		if !s.nc.c.goTracked(func() { s.open(op) }) {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		s.mu.opening = op
	}
	s.mu.Unlock()
	select {
	case <-op.done:
		return op.st, op.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *slot) open(op *opening) {
	c := s.nc.c
	sctx, cancel := context.WithCancel(c.ctx)
	bs, err := s.kv.Batch(sctx)
	if err != nil {
		cancel()
		op.err = err
	} else {
		op.st = mux.New(bs, mux.Config[*pb.BatchRequest, *pb.BatchResponse]{
			SetID:  func(r *pb.BatchRequest, id uint64) { r.RequestId = id },
			ID:     (*pb.BatchResponse).GetRequestId,
			Closed: status.Error(codes.Unavailable, "client: the node closed the Batch stream"),
			OnEnd:  cancel,
		})
		c.wg.Add(1) // NB: this goroutine is counted, so Close is still waiting
		go func() {
			defer c.wg.Done()
			op.st.Receive()
		}()
	}
	s.mu.Lock()
	s.mu.opening = nil
	if op.st != nil {
		s.mu.st = op.st
	}
	s.mu.Unlock()
	close(op.done)
}

// unary sends req as the unary call of its kind.
func (s *slot) unary(ctx context.Context, req *pb.BatchRequest) (*pb.BatchResponse, bool, error) {
	out := &pb.BatchResponse{RequestId: req.RequestId}
	var err error
	switch r := req.Request.(type) {
	case *pb.BatchRequest_Get:
		var resp *pb.GetResponse
		if resp, err = s.kv.Get(ctx, r.Get); err == nil {
			out.Response = &pb.BatchResponse_Get{Get: resp}
		}
	case *pb.BatchRequest_Put:
		var resp *pb.PutResponse
		if resp, err = s.kv.Put(ctx, r.Put); err == nil {
			out.Response = &pb.BatchResponse_Put{Put: resp}
		}
	case *pb.BatchRequest_Delete:
		var resp *pb.DeleteResponse
		if resp, err = s.kv.Delete(ctx, r.Delete); err == nil {
			out.Response = &pb.BatchResponse_Delete{Delete: resp}
		}
	case *pb.BatchRequest_Incr:
		var resp *pb.IncrResponse
		if resp, err = s.kv.Incr(ctx, r.Incr); err == nil {
			out.Response = &pb.BatchResponse_Incr{Incr: resp}
		}
	default:
		return nil, false, status.Error(codes.Internal, "client: unknown request type")
	}
	if err != nil {
		// NB: a unary call that fails cannot say whether it left: sent.
		return nil, true, err
	}
	return out, true, nil
}
