package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// peerServer serves the Peer service: the inbound side of other nodes'
// streams.
type peerServer struct {
	cairnv1.UnimplementedPeerServer
	t *GRPC
}

// RouteServer answers the descriptor gossip that shares the Peer service
// (internal/routing serves it); the transport only hands the call over.
type RouteServer interface {
	SyncRoutes(context.Context, *cairnv1.SyncRoutesRequest) (*cairnv1.SyncRoutesResponse, error)
}

// SyncRoutes hands a peer's descriptor gossip to Config.Routes.
func (s *peerServer) SyncRoutes(ctx context.Context, req *cairnv1.SyncRoutesRequest) (*cairnv1.SyncRoutesResponse, error) {
	t := s.t
	if t.cfg.Routes == nil {
		return nil, status.Error(codes.Unimplemented, "transport: no route server")
	}
	if !t.track() {
		return nil, errClosedStatus
	}
	defer t.wg.Done()
	return t.cfg.Routes.SyncRoutes(ctx, req)
}

var errClosedStatus = status.Error(codes.Unavailable, "transport: node is shutting down")

// refuse logs a refused handshake and turns it into the status the caller
// sees.
func (t *GRPC) refuse(rpc string, err error) error {
	if errors.Is(err, ErrRefused) {
		t.cfg.Logger.Warn("transport: refused peer", slog.String("rpc", rpc), slog.Any("err", err))
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

// Stream is the callee's side of a peer's message stream: hello each way,
// then frames of messages handed to the Handler in arrival order, and pings
// answered with pongs.
func (s *peerServer) Stream(srv cairnv1.Peer_StreamServer) error {
	t := s.t
	if !t.track() {
		return errClosedStatus
	}
	defer t.wg.Done()
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	if err := t.checkHello(first.GetHello(), ""); err != nil {
		return t.refuse("Stream", err)
	}
	from := first.GetHello().GetName()
	if err := srv.Send(&cairnv1.PeerFrame{Hello: t.hello(from)}); err != nil {
		return err
	}

	// NB: frames are read on a goroutine of their own so that this one can
	// return on Close, which ends the stream and so the read.
	pongs := make(chan *cairnv1.PeerPong, 16)
	recvErr := make(chan error, 1)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		recvErr <- t.receive(from, srv, pongs)
	}()
	for {
		select {
		case <-t.ctx.Done():
			return errClosedStatus
		case <-srv.Context().Done():
			return srv.Context().Err()
		case err := <-recvErr:
			if err == io.EOF {
				return nil
			}
			return err
		case p := <-pongs:
			if err := srv.Send(&cairnv1.PeerFrame{Pong: p}); err != nil {
				return err
			}
		}
	}
}

// receive reads frames from one inbound stream until it ends.
func (t *GRPC) receive(from string, srv cairnv1.Peer_StreamServer, pongs chan<- *cairnv1.PeerPong) error {
	received := t.m.messagesReceived.WithLabelValues(from)
	frames := t.m.framesReceived.WithLabelValues(from)
	bytesIn := t.m.bytesReceived.WithLabelValues(from)
	for {
		f, err := srv.Recv()
		if err != nil {
			return err
		}
		if p := f.GetPing(); p != nil {
			if p.GetHasOffset() {
				// The caller measured us; its view of us is our view of it,
				// negated.
				t.recordOffset(from, -time.Duration(p.GetOffsetNanos()))
			}
			pong := &cairnv1.PeerPong{
				PingSentUnixNanos:  p.GetSentUnixNanos(),
				ResponderUnixNanos: t.cfg.Clock.Now().UnixNano(),
			}
			select {
			case pongs <- pong:
			default: // the writer is behind; the caller will ping again
			}
		}
		if len(f.GetMessages()) == 0 {
			continue
		}
		msgs := make([]Message, len(f.GetMessages()))
		size := 0
		kept := 0
		for _, m := range f.GetMessages() {
			if m.GetKind() > uint32(KindDriver) {
				continue // from a newer sender: nobody here reads it
			}
			msgs[kept] = Message{Group: m.GetGroup(), From: m.GetFrom(), To: m.GetTo(), Kind: Kind(m.GetKind()), Payload: m.GetPayload()}
			size += len(m.GetPayload())
			kept++
		}
		msgs = msgs[:kept]
		if kept == 0 {
			continue
		}
		frames.Inc()
		received.Add(float64(len(msgs)))
		bytesIn.Add(float64(size))
		if !t.inject(from, Inbound, len(msgs), func() { t.cfg.Handler.HandleMessages(from, msgs) }) {
			t.cfg.Handler.HandleMessages(from, msgs)
		}
	}
}

// Snapshot is the callee's side of SendSnapshot: check the hello, wait for
// an inbound slot, answer the hello in the response headers, then run the
// Handler over the chunks and end with its error.
func (s *peerServer) Snapshot(srv cairnv1.Peer_SnapshotServer) error {
	t := s.t
	if !t.track() {
		return errClosedStatus
	}
	defer t.wg.Done()
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	if err := t.checkHello(first.GetHello(), ""); err != nil {
		return t.refuse("Snapshot", err)
	}
	from := first.GetHello().GetName()
	failed := t.m.snapshotsFailed.WithLabelValues(from, "received")
	if t.IsCut(from, Inbound) {
		failed.Inc()
		return status.Error(codes.Unavailable, ErrLinkCut.Error())
	}

	select {
	case t.inSnap <- struct{}{}:
		defer func() { <-t.inSnap }()
	case <-srv.Context().Done():
		return srv.Context().Err()
	case <-t.ctx.Done():
		return errClosedStatus
	}
	if err := srv.SendHeader(t.helloMD()); err != nil {
		failed.Inc()
		return err
	}

	ctx, cancel := context.WithCancel(srv.Context())
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()
	bytesIn := t.m.bytesReceived.WithLabelValues(from)
	next := func() ([]byte, error) {
		r, err := srv.Recv()
		if err != nil {
			return nil, err
		}
		bytesIn.Add(float64(len(r.GetChunk())))
		return r.GetChunk(), nil
	}
	if err := t.cfg.Handler.HandleSnapshot(ctx, from, first.GetHeader(), next); err != nil {
		failed.Inc()
		if _, ok := status.FromError(err); ok {
			return err
		}
		return status.Errorf(codes.Unknown, "transport: node %q refused the snapshot: %v", t.cfg.Name, err)
	}
	t.m.snapshotsRecv.WithLabelValues(from).Inc()
	return srv.SendAndClose(&cairnv1.PeerSnapshotResponse{})
}
