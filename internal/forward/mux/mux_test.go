package mux

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type msg struct {
	id   uint64
	body string
}

// pipe is a Stream whose other side the test plays: it reads what was
// sent from sent and answers on answers (closing answers ends the stream).
type pipe struct {
	sent    chan *msg
	answers chan *msg
	sendErr error
	mu      sync.Mutex
	end     error
}

func newPipe() *pipe { return &pipe{sent: make(chan *msg, 100), answers: make(chan *msg, 100)} }

func (p *pipe) Send(m *msg) error {
	if p.sendErr != nil {
		return p.sendErr
	}
	p.sent <- m
	return nil
}

func (p *pipe) Recv() (*msg, error) {
	m, ok := <-p.answers
	if !ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.end != nil {
			return nil, p.end
		}
		return nil, io.EOF
	}
	return m, nil
}

func (p *pipe) CloseSend() error { return nil }

var errClosed = errors.New("closed by the other side")

func newMux(p *pipe) *Mux[*msg, *msg] {
	m := New[*msg, *msg](p, Config[*msg, *msg]{
		SetID:  func(m *msg, id uint64) { m.id = id },
		ID:     func(m *msg) uint64 { return m.id },
		Closed: errClosed,
	})
	go m.Receive()
	return m
}

func TestAnswersInAnyOrder(t *testing.T) {
	p := newPipe()
	m := newMux(p)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := string(rune('a' + i%26))
			r, sent, err := m.Call(ctx, &msg{body: body})
			if err != nil || !sent || r.body != "re:"+body {
				t.Errorf("call %d: %+v %v %v", i, r, sent, err)
			}
		}()
	}
	// Answer in reverse order of arrival.
	var got []*msg
	for range 50 {
		got = append(got, <-p.sent)
	}
	for i := len(got) - 1; i >= 0; i-- {
		p.answers <- &msg{id: got[i].id, body: "re:" + got[i].body}
	}
	wg.Wait()
	close(p.answers)
	<-m.Done()
}

func TestStreamEnd(t *testing.T) {
	p := newPipe()
	m := newMux(p)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, sent, err := m.Call(ctx, &msg{})
		if !sent {
			err = errors.New("a call in flight says it was not sent")
		}
		done <- err
	}()
	<-p.sent
	close(p.answers) // io.EOF: the other side closed the stream
	if err := <-done; !errors.Is(err, errClosed) {
		t.Fatalf("call in flight: %v, want the Closed error", err)
	}
	<-m.Done()
	if _, sent, err := m.Call(ctx, &msg{}); sent || !errors.Is(err, errClosed) {
		t.Fatalf("call after the end: sent %v, %v", sent, err)
	}
}

func TestCallerGivesUp(t *testing.T) {
	p := newPipe()
	m := newMux(p)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, sent, err := m.Call(ctx, &msg{})
	if !sent || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got sent %v, %v", sent, err)
	}
	// A late answer to it goes nowhere, and the next call still works.
	late := <-p.sent
	p.answers <- &msg{id: late.id}
	go func() {
		s := <-p.sent
		p.answers <- &msg{id: s.id, body: "ok"}
	}()
	r, _, err := m.Call(context.Background(), &msg{})
	if err != nil || r.body != "ok" {
		t.Fatalf("next call: %+v %v", r, err)
	}
	p.mu.Lock()
	p.end = errors.New("reset")
	p.mu.Unlock()
	close(p.answers)
	<-m.Done()
	if err := m.Err(); err == nil || err.Error() != "reset" {
		t.Fatalf("Err = %v", err)
	}
}
