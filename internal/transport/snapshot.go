package transport

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// errCalleeDone stops the chunk loop when the callee has ended the call;
// its status comes from CloseAndRecv.
var errCalleeDone = errors.New("transport: callee ended the snapshot")

// SendSnapshot implements Transport, on the Peer.Snapshot RPC. It waits for
// one of MaxSnapshots outbound slots. The header and every chunk must be at
// most MaxChunkSize (1 MiB). The receiver's error comes back as a gRPC
// status, wrapped.
func (t *GRPC) SendSnapshot(ctx context.Context, node string, header []byte, chunks func(yield func([]byte) error) error) (err error) {
	if len(header) > MaxChunkSize {
		return fmt.Errorf("transport: snapshot header to %q: %w", node, ErrChunkTooLarge)
	}
	if t.IsCut(node, Outbound) {
		return fmt.Errorf("transport: snapshot to %q: %w", node, ErrLinkCut)
	}
	if !t.track() {
		return ErrClosed
	}
	defer t.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()

	select {
	case t.outSnap <- struct{}{}:
		defer func() { <-t.outSnap }()
	case <-ctx.Done():
		if t.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("transport: snapshot to %q: waiting for a slot: %w", node, ctx.Err())
	}
	defer func() {
		if err != nil {
			t.m.snapshotsFailed.WithLabelValues(node, "sent").Inc()
		} else {
			t.m.snapshotsSent.WithLabelValues(node).Inc()
		}
	}()

	addr, ok := t.cfg.Resolve(node)
	if !ok {
		return fmt.Errorf("transport: snapshot to %q: no address: %w", node, ErrUnreachable)
	}
	cc, err := grpc.NewClient(addr, t.dialOptions()...)
	if err != nil {
		return fmt.Errorf("transport: snapshot to %q at %s: %w", node, addr, err)
	}
	defer cc.Close()
	s, err := cairnv1.NewPeerClient(cc).Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("transport: snapshot to %q at %s: %w", node, addr, err)
	}
	if err := s.Send(&cairnv1.PeerSnapshotRequest{Hello: t.hello(node), Header: header}); err != nil && err != io.EOF {
		return fmt.Errorf("transport: snapshot to %q at %s: %w", node, addr, err)
	}
	// The callee answers the hello in its headers once it has a slot for us.
	md, err := s.Header()
	if err != nil {
		return fmt.Errorf("transport: snapshot to %q at %s: %w", node, addr, err)
	}
	h, ok := helloFromMD(md, t.cfg.Name)
	if !ok { // it ended the call instead: its status says why
		_, err := s.CloseAndRecv()
		if err == nil {
			err = errors.New("the peer sent no hello")
		}
		return fmt.Errorf("transport: snapshot to %q at %s: %w", node, addr, err)
	}
	if err := t.checkHello(h, node); err != nil {
		return err
	}

	bytesOut := t.m.bytesSent.WithLabelValues(node)
	err = chunks(func(b []byte) error {
		if len(b) > MaxChunkSize {
			return ErrChunkTooLarge
		}
		if err := s.Send(&cairnv1.PeerSnapshotRequest{Chunk: b}); err != nil {
			if err == io.EOF {
				return errCalleeDone
			}
			return err
		}
		bytesOut.Add(float64(len(b)))
		return nil
	})
	if err != nil && !errors.Is(err, errCalleeDone) {
		cancel() // the callee's HandleSnapshot sees its next fail
		return fmt.Errorf("transport: snapshot to %q: %w", node, err)
	}
	if _, err := s.CloseAndRecv(); err != nil {
		return fmt.Errorf("transport: snapshot to %q: %w", node, err)
	}
	return nil
}
