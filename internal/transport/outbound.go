package transport

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// Redial backoff after a failed dial or a broken stream. Short at first, so
// a restarted peer is back within a tick or two, and capped low because
// messages queued meanwhile grow stale.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// outbound is the queue and sender goroutine for one destination node.
// Invariant: only run writes to the stream, so frames go out in queue order.
type outbound struct {
	t    *GRPC
	node string
	peerCounters
	signal chan struct{} // cap 1: the queue grew
	pongAt atomic.Int64  // our clock's UnixNano at the last pong on the current stream
	mu     struct {
		sync.Mutex
		queue []Message
	}
}

func newOutbound(t *GRPC, node string) *outbound {
	return &outbound{t: t, node: node, peerCounters: t.countersFor(node), signal: make(chan struct{}, 1)}
}

func (o *outbound) wake() {
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

func (o *outbound) queued() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.mu.queue)
}

// take removes the messages for the next frame: everything queued, up to
// MaxFrameBytes of payload (at least one message).
func (o *outbound) take() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, size := 0, 0
	for n < len(o.mu.queue) {
		size += len(o.mu.queue[n].Payload)
		if n > 0 && size > MaxFrameBytes {
			break
		}
		n++
	}
	msgs := o.mu.queue[:n:n]
	if n == len(o.mu.queue) {
		o.mu.queue = nil
	} else {
		o.mu.queue = o.mu.queue[n:]
	}
	return msgs
}

// dropQueued drops everything queued and returns how many.
func (o *outbound) dropQueued() int {
	o.mu.Lock()
	n := len(o.mu.queue)
	o.mu.queue = nil
	o.mu.Unlock()
	o.dropped.Add(float64(n))
	return n
}

// run dials lazily (when something is queued), sends until the stream
// breaks, and redials with backoff, until the transport closes.
func (o *outbound) run() {
	t := o.t
	defer t.wg.Done()
	defer o.dropQueued()
	log := t.cfg.Logger.With(slog.String("peer", o.node))
	backoff := minBackoff
	for {
		if o.queued() == 0 {
			select {
			case <-t.ctx.Done():
				return
			case <-o.signal:
				continue
			}
		}
		connected, err := o.stream(log)
		if t.ctx.Err() != nil {
			return
		}
		o.dropQueued()
		t.reportUnreachable(o.node)
		prevErr, _ := t.setOutboundState(o.node, false, err)
		switch {
		case connected:
			log.Warn("transport: lost stream to peer", slog.Any("err", err))
			backoff = minBackoff
		case prevErr == nil || prevErr.Error() != err.Error():
			log.Warn("transport: cannot reach peer", slog.Any("err", err))
		default:
			log.Debug("transport: cannot reach peer", slog.Any("err", err))
		}
		timer := time.NewTimer(backoff) // NB: a wait, not a reading; gRPC's own timers are real too
		select {
		case <-t.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		if !connected {
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// stream dials node, exchanges hellos and sends queued frames and pings
// until something fails. connected says whether the handshake succeeded.
func (o *outbound) stream(log *slog.Logger) (connected bool, err error) {
	t := o.t
	addr, ok := t.cfg.Resolve(o.node)
	if !ok {
		return false, fmt.Errorf("transport: no address for node %q", o.node)
	}
	// NB: a fresh ClientConn per attempt, so our backoff (not gRPC's, which
	// grows to two minutes) decides when a restarted peer is retried, and a
	// changed address is used.
	cc, err := grpc.NewClient(addr, t.dialOptions()...)
	if err != nil {
		return false, fmt.Errorf("transport: dialling node %q at %s: %w", o.node, addr, err)
	}
	defer cc.Close()
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()

	hsTimer := time.AfterFunc(t.cfg.HandshakeTimeout, cancel)
	s, err := cairnv1.NewPeerClient(cc).Stream(ctx)
	if err == nil {
		err = s.Send(&cairnv1.PeerFrame{Hello: t.hello(o.node)})
	}
	var reply *cairnv1.PeerFrame
	if err == nil {
		reply, err = s.Recv()
	}
	if !hsTimer.Stop() && t.ctx.Err() == nil {
		return false, fmt.Errorf("transport: no answer from node %q at %s within %v", o.node, addr, t.cfg.HandshakeTimeout)
	}
	if err != nil {
		return false, fmt.Errorf("transport: stream to node %q at %s: %w", o.node, addr, err)
	}
	if err := t.checkHello(reply.GetHello(), o.node); err != nil {
		return false, err
	}
	t.setOutboundState(o.node, true, nil)
	log.Info("transport: connected to peer", slog.String("addr", addr))

	recvErr := make(chan error, 1)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		recvErr <- o.recvPongs(s)
	}()

	ticker := t.cfg.Clock.NewTicker(t.cfg.PingInterval)
	defer ticker.Stop()
	o.pongAt.Store(t.cfg.Clock.Now().UnixNano())
	o.wake() // send what was queued while dialling
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err := <-recvErr:
			return true, fmt.Errorf("transport: stream to node %q broke: %w", o.node, err)
		case <-o.signal:
			if err := o.flush(s); err != nil {
				return true, fmt.Errorf("transport: writing to node %q: %w", o.node, err)
			}
		case <-ticker.C():
			now := t.cfg.Clock.Now()
			if silent := time.Duration(now.UnixNano() - o.pongAt.Load()); silent > t.silenceLimit() {
				return true, fmt.Errorf("transport: node %q answered no ping for %v", o.node, silent.Round(time.Millisecond))
			}
			ping := &cairnv1.PeerPing{SentUnixNanos: now.UnixNano()}
			if off, ok := t.ClockOffset(o.node); ok {
				ping.OffsetNanos, ping.HasOffset = int64(off), true
			}
			if err := s.Send(&cairnv1.PeerFrame{Ping: ping}); err != nil {
				return true, fmt.Errorf("transport: pinging node %q: %w", o.node, err)
			}
		}
	}
}

// flush writes everything queued, one frame per MaxFrameBytes.
func (o *outbound) flush(s grpc.BidiStreamingClient[cairnv1.PeerFrame, cairnv1.PeerFrame]) error {
	for {
		msgs := o.take()
		if len(msgs) == 0 {
			return nil
		}
		f := &cairnv1.PeerFrame{Messages: make([]*cairnv1.PeerMessage, len(msgs))}
		size := 0
		for i, m := range msgs {
			f.Messages[i] = &cairnv1.PeerMessage{Group: m.Group, From: m.From, To: m.To, Kind: uint32(m.Kind), Payload: m.Payload}
			size += len(m.Payload)
		}
		if err := s.Send(f); err != nil {
			o.dropped.Add(float64(len(msgs)))
			return err
		}
		o.frames.Inc()
		o.sent.Add(float64(len(msgs)))
		o.bytes.Add(float64(size))
	}
}

// recvPongs reads the callee's side of the stream: pongs, from which it
// measures the clock offset NTP-style.
func (o *outbound) recvPongs(s grpc.BidiStreamingClient[cairnv1.PeerFrame, cairnv1.PeerFrame]) error {
	t := o.t
	for {
		f, err := s.Recv()
		if err != nil {
			if status.Code(err) == codes.Canceled && t.ctx.Err() != nil {
				return ErrClosed
			}
			return err
		}
		p := f.GetPong()
		if p == nil {
			continue
		}
		recv := t.cfg.Clock.Now().UnixNano()
		o.pongAt.Store(recv)
		sent := p.GetPingSentUnixNanos()
		rtt := time.Duration(recv - sent)
		// NB: a sample's error is at most half its round trip; one slower
		// than the offset we must judge says nothing useful.
		if rtt < 0 || rtt > t.cfg.MaxClockOffset {
			continue
		}
		t.recordOffset(o.node, time.Duration(p.GetResponderUnixNanos()-(sent+(recv-sent)/2)))
	}
}
