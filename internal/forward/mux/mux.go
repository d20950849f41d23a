package mux

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Stream is the client side of a bidirectional stream, as gRPC generates
// it.
type Stream[Req, Resp any] interface {
	Send(Req) error
	Recv() (Resp, error)
	CloseSend() error
}

// Config says how a stream's messages carry their IDs, and what happens
// when it ends.
type Config[Req, Resp any] struct {
	// SetID stamps a request with its ID before it is sent.
	SetID func(Req, uint64)
	// ID is the ID of the request an answer answers.
	ID func(Resp) uint64
	// Closed is the error calls get when the other side ends the stream
	// cleanly (io.EOF); nil: an error saying so.
	Closed error
	// OnEnd, if set, runs once the stream has ended.
	OnEnd func()
}

// Mux is one multiplexed stream. Safe for concurrent use.
type Mux[Req, Resp any] struct {
	st   Stream[Req, Resp]
	cfg  Config[Req, Resp]
	done chan struct{}

	sendMu sync.Mutex // grpc.ClientStream.SendMsg is not safe for concurrent use
	mu     struct {
		sync.Mutex
		next    uint64
		pending map[uint64]chan Resp
		err     error // set once the stream is over; every later call fails with it
	}
}

// New wraps st. The caller runs Receive on a goroutine of its own.
func New[Req, Resp any](st Stream[Req, Resp], cfg Config[Req, Resp]) *Mux[Req, Resp] {
	if cfg.Closed == nil {
		cfg.Closed = errors.New("mux: the stream was closed by the other side")
	}
	m := &Mux[Req, Resp]{st: st, cfg: cfg, done: make(chan struct{})}
	m.mu.pending = make(map[uint64]chan Resp)
	return m
}

// Receive hands each answer to its caller until the stream ends; then it
// fails every call in flight with the stream's error (their outcome is
// unknown: they were sent).
func (m *Mux[Req, Resp]) Receive() {
	defer close(m.done)
	for {
		resp, err := m.st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = m.cfg.Closed
			}
			m.mu.Lock()
			m.mu.err = err
			for id, ch := range m.mu.pending {
				close(ch)
				delete(m.mu.pending, id)
			}
			m.mu.Unlock()
			if m.cfg.OnEnd != nil {
				m.cfg.OnEnd()
			}
			return
		}
		id := m.cfg.ID(resp)
		m.mu.Lock()
		ch := m.mu.pending[id]
		delete(m.mu.pending, id)
		m.mu.Unlock()
		if ch != nil { // nil: its caller gave up
			ch <- resp
		}
	}
}

// Err is the error the stream ended with, nil while it runs.
func (m *Mux[Req, Resp]) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.err
}

// Done is closed when Receive returns.
func (m *Mux[Req, Resp]) Done() <-chan struct{} { return m.done }

// CloseSend tells the other side no more requests follow; answers still
// arrive.
func (m *Mux[Req, Resp]) CloseSend() error {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	return m.st.CloseSend()
}

// Call sends req under a fresh ID and waits for its answer. An error of
// the stream itself comes back as the stream's error; ctx's end returns
// ctx.Err(). sent is false only when req certainly never left (the stream
// had ended before).
func (m *Mux[Req, Resp]) Call(ctx context.Context, req Req) (resp Resp, sent bool, err error) {
	ch := make(chan Resp, 1)
	m.mu.Lock()
	if err := m.mu.err; err != nil {
		m.mu.Unlock()
		return resp, false, err
	}
	m.mu.next++
	id := m.mu.next
	m.mu.pending[id] = ch
	m.mu.Unlock()
	m.cfg.SetID(req, id)

	m.sendMu.Lock()
	err = m.st.Send(req)
	m.sendMu.Unlock()
	if err != nil {
		m.forget(id)
		if errors.Is(err, io.EOF) { // the stream ended; Recv has its status
			<-m.done
			err = m.Err()
		}
		// NB: gRPC does not promise that nothing left: sent.
		return resp, true, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return resp, true, m.Err()
		}
		return r, true, nil
	case <-ctx.Done():
		m.forget(id)
		return resp, true, ctx.Err()
	}
}

func (m *Mux[Req, Resp]) forget(id uint64) {
	m.mu.Lock()
	delete(m.mu.pending, id)
	m.mu.Unlock()
}
