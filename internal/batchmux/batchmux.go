package batchmux

import (
	"context"
	"errors"
	"io"
	"sync"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// Stream is one multiplexed Batch stream. Safe for concurrent use.
type Stream struct {
	bs     pb.KV_BatchClient
	closed string // the status message when the node ends the stream
	onEnd  func() // called once the stream has ended (nil: nothing)
	done   chan struct{}

	sendMu sync.Mutex // grpc.ClientStream.SendMsg is not safe for concurrent use
	mu     struct {
		sync.Mutex
		next    uint64
		pending map[uint64]chan *pb.BatchResponse
		err     error // set once the stream is over; every later call fails with it
	}
}

// New wraps bs. The caller runs Receive on a goroutine of its own; closed
// is the UNAVAILABLE message calls get when the node ends the stream, and
// onEnd (if set) runs once the stream has ended.
func New(bs pb.KV_BatchClient, closed string, onEnd func()) *Stream {
	s := &Stream{bs: bs, closed: closed, onEnd: onEnd, done: make(chan struct{})}
	s.mu.pending = make(map[uint64]chan *pb.BatchResponse)
	return s
}

// Receive hands each answer to its caller until the stream ends; then it
// fails every call in flight with the stream's error (a bare status such as
// UNAVAILABLE: the outcome of a write among them is unknown).
func (s *Stream) Receive() {
	defer close(s.done)
	for {
		resp, err := s.bs.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = status.Error(codes.Unavailable, s.closed)
			}
			s.mu.Lock()
			s.mu.err = err
			for id, ch := range s.mu.pending {
				close(ch)
				delete(s.mu.pending, id)
			}
			s.mu.Unlock()
			if s.onEnd != nil {
				s.onEnd()
			}
			return
		}
		s.mu.Lock()
		ch := s.mu.pending[resp.RequestId]
		delete(s.mu.pending, resp.RequestId)
		s.mu.Unlock()
		if ch != nil { // nil: its caller gave up
			ch <- resp
		}
	}
}

// Err is the error the stream ended with, nil while it runs.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.err
}

// Done is closed when Receive returns.
func (s *Stream) Done() <-chan struct{} { return s.done }

// CloseSend tells the node no more requests follow; answers still arrive.
func (s *Stream) CloseSend() error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.bs.CloseSend()
}

// Call sends req under a fresh request ID and waits for its answer. An
// error the answer carries comes back as its gRPC status; an error of the
// stream itself is a bare status (outcome unknown for a write); ctx's end
// returns ctx.Err(). sent is false only when req certainly never left.
func (s *Stream) Call(ctx context.Context, req *pb.BatchRequest) (resp *pb.BatchResponse, sent bool, err error) {
	ch := make(chan *pb.BatchResponse, 1)
	s.mu.Lock()
	if err := s.mu.err; err != nil {
		s.mu.Unlock()
		return nil, false, err // the stream ended before: certainly not sent
	}
	s.mu.next++
	req.RequestId = s.mu.next
	s.mu.pending[req.RequestId] = ch
	s.mu.Unlock()

	s.sendMu.Lock()
	err = s.bs.Send(req)
	s.sendMu.Unlock()
	if err != nil {
		s.forget(req.RequestId)
		if errors.Is(err, io.EOF) { // the stream ended; Recv has its status
			<-s.done
			err = s.Err()
		}
		// NB: gRPC does not promise that nothing left: sent.
		return nil, true, err
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, true, s.Err()
		}
		if e := resp.GetError(); e != nil {
			return nil, true, status.FromProto(&spb.Status{Code: e.Code, Message: e.Message, Details: e.Details}).Err()
		}
		return resp, true, nil
	case <-ctx.Done():
		s.forget(req.RequestId)
		return nil, true, ctx.Err()
	}
}

func (s *Stream) forget(id uint64) {
	s.mu.Lock()
	delete(s.mu.pending, id)
	s.mu.Unlock()
}
