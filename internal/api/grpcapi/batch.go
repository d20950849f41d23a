package grpcapi

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/auth"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// batch serves one Batch stream: this goroutine receives and dispatches each
// request to a goroutine of its own (at most maxInFlight at once; receiving
// waits for a slot), and one sender goroutine writes the responses in the
// order they are ready. When the client closes its send side the stream ends
// after every request received has been answered; when the stream breaks
// the requests in flight are cancelled, and nothing outlives the call.
func (s *Server) batch(stream pb.KV_BatchServer) *status.Status {
	ctx := stream.Context()
	ss := &streamSession{b: s.b}
	// NB: the sender drains out to the end, even after a Send failed, so a
	// worker never waits on it for long and never forever; a client that
	// stops reading holds the workers, hence the slots, hence Recv.
	out := make(chan *pb.BatchResponse, s.maxInFlight)
	slots := make(chan struct{}, s.maxInFlight)
	sent := make(chan error, 1)
	go func() {
		var err error
		for resp := range out {
			if err == nil {
				err = stream.Send(resp)
			}
		}
		sent <- err
	}()
	var wg sync.WaitGroup
	var recvErr error
recv:
	for {
		req, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				recvErr = err
			}
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			recvErr = ctx.Err()
			break recv
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out <- s.batchOneContained(ctx, req, ss)
			<-slots
		}()
	}
	wg.Wait()
	close(out)
	sendErr := <-sent
	switch {
	case recvErr != nil:
		if st, ok := status.FromError(recvErr); ok {
			return st
		}
		return status.FromContextError(recvErr)
	case sendErr != nil:
		st, _ := status.FromError(sendErr)
		return st
	}
	return nil
}

// batchOne answers one request of a Batch stream.
func (s *Server) batchOne(ctx context.Context, req *pb.BatchRequest, ss *streamSession) *pb.BatchResponse {
	start := time.Now()
	out := &pb.BatchResponse{RequestId: req.RequestId}
	ctx, route := api.WithRoute(ctx)
	defer func() { out.Leader = route.Leader }()
	var (
		method string
		st     *status.Status
	)
	switch r := req.Request.(type) {
	case *pb.BatchRequest_Get:
		method = "Batch.Get"
		var resp *pb.GetResponse
		if resp, st = s.get(ctx, r.Get); st == nil {
			out.Response = &pb.BatchResponse_Get{Get: resp}
		}
	case *pb.BatchRequest_Put:
		method = "Batch.Put"
		if st = mayWrite(ctx); st == nil {
			var resp *pb.PutResponse
			if resp, st = s.put(ctx, r.Put, ss); st == nil {
				out.Response = &pb.BatchResponse_Put{Put: resp}
			}
		}
	case *pb.BatchRequest_Delete:
		method = "Batch.Delete"
		if st = mayWrite(ctx); st == nil {
			var resp *pb.DeleteResponse
			if resp, st = s.delete(ctx, r.Delete, ss); st == nil {
				out.Response = &pb.BatchResponse_Delete{Delete: resp}
			}
		}
	case *pb.BatchRequest_Incr:
		method = "Batch.Incr"
		if st = mayWrite(ctx); st == nil {
			var resp *pb.IncrResponse
			if resp, st = s.incr(ctx, r.Incr, ss); st == nil {
				out.Response = &pb.BatchResponse_Incr{Incr: resp}
			}
		}
	default:
		method = "Batch.Unknown"
		st = invalidf("batch request %d carries no get, put, delete or incr", req.RequestId)
	}
	if st != nil {
		out.Response = &pb.BatchResponse_Error{Error: errorStatus(st)}
	}
	s.m.observe(method, start, st)
	return out
}

// batchOneContained is batchOne with a panic contained to its request:
// logged and counted by the door, and answered INTERNAL.
func (s *Server) batchOneContained(ctx context.Context, req *pb.BatchRequest, ss *streamSession) (out *pb.BatchResponse) {
	defer func() {
		remote := "unknown"
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			remote = p.Addr.String()
		}
		if s.door.Recovered(recover(), remote) {
			st := status.New(codes.Internal, "internal error serving this request (a bug, logged on the server)")
			out = &pb.BatchResponse{RequestId: req.RequestId, Response: &pb.BatchResponse_Error{Error: errorStatus(st)}}
		}
	}()
	return s.batchOne(ctx, req, ss)
}

// errorStatus is st as a BatchResponse error.
func errorStatus(st *status.Status) *pb.ErrorStatus {
	p := st.Proto()
	return &pb.ErrorStatus{Code: p.Code, Message: p.Message, Details: p.Details}
}

// streamSession is the session of a Batch stream's writes that carry none:
// one client ID, made on the first such write, with one sequence space per
// partition (the state machine keeps sessions per partition, so a partition
// that first hears of the client with a low-unacknowledged above 1 would
// answer "session expired").
type streamSession struct {
	b  api.Backend
	mu struct {
		sync.Mutex
		client uint64
		parts  map[int]*api.Session
	}
}

func (ss *streamSession) session(p int) *api.Session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.mu.client == 0 {
		ss.mu.client = ss.b.NewClientID()
		ss.mu.parts = make(map[int]*api.Session)
	}
	sess, ok := ss.mu.parts[p]
	if !ok {
		sess = api.NewSession(ss.mu.client)
		ss.mu.parts[p] = sess
	}
	return sess
}

func (ss *streamSession) begin(p int) (client, seq, low uint64) {
	sess := ss.session(p)
	seq, low = sess.Begin()
	return sess.Client, seq, low
}

func (ss *streamSession) end(p int, seq uint64) { ss.session(p).End(seq) }

// mayWrite refuses a write of a Batch stream opened by a user whose role
// does not write (the stream itself needs only read).
func mayWrite(ctx context.Context) *status.Status {
	if p, ok := api.PrincipalOf(ctx); ok && !p.Allows(auth.PermWrite) {
		return status.Newf(codes.PermissionDenied, "user %s (role %s) may not write", p.User, p.Role)
	}
	return nil
}
