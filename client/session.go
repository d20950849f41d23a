package client

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
)

// newClientID returns a random non-zero session client ID: unique in the
// cluster without coordination (a collision needs about 2^31 live sessions).
func newClientID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return binary.BigEndian.Uint64(b[:]) | 1
}

// session numbers the client's writes to ONE partition for exactly-once
// application (DESIGN.md, The flow of a write). The state machine keeps a
// session per partition, so the client keeps one sequence space per
// partition: a partition that first heard of a client with a lowest
// unacknowledged seq above 1 would answer "session expired".
//
// begin hands out the next seq; every attempt of that write sends the same
// (client, seq), so the partition applies it at most once and answers a
// retry with the first attempt's result; end marks it answered or
// abandoned, which lets the lowest unacknowledged seq move past it. Safe
// for concurrent use.
type session struct {
	mu struct {
		sync.Mutex
		client uint64
		epoch  uint64 // bumped by renew; tickets of an older epoch end nothing
		next   uint64 // the next seq to hand out
		// Invariant: low <= every pending seq, and low <= next.
		low     uint64
		pending map[uint64]struct{}
	}
}

// ticket is one write's place in a session.
type ticket struct {
	client, seq, epoch uint64
	low0               uint64 // the lowest unacknowledged seq at begin
}

func newSession(client uint64) *session {
	s := &session{}
	s.mu.client, s.mu.next, s.mu.low = client, 1, 1
	s.mu.pending = map[uint64]struct{}{}
	return s
}

// begin numbers a new write.
func (s *session) begin() ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.beginLocked()
}

func (s *session) beginLocked() ticket {
	seq := s.mu.next
	s.mu.next++
	s.mu.pending[seq] = struct{}{}
	return ticket{client: s.mu.client, seq: seq, epoch: s.mu.epoch, low0: s.lowLocked()}
}

// lowUnacked is the lowest unacknowledged seq to send with an attempt of
// t's write: it only grows (earlier writes are answered meanwhile) and never
// passes t.seq, which is pending until end.
func (s *session) lowUnacked(t ticket) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.epoch != s.mu.epoch {
		return t.low0 // the session t belongs to has been replaced
	}
	return s.lowLocked()
}

func (s *session) lowLocked() uint64 {
	for s.mu.low < s.mu.next {
		if _, ok := s.mu.pending[s.mu.low]; ok {
			break
		}
		s.mu.low++
	}
	return s.mu.low
}

// end marks t's write answered or abandoned.
func (s *session) end(t ticket) {
	s.mu.Lock()
	if t.epoch == s.mu.epoch {
		delete(s.mu.pending, t.seq)
	}
	s.mu.Unlock()
}

// renew replaces the session after the partition answered "session
// expired" to t (it forgot the client, idle past its session TTL): a new
// client ID, sequences from 1 again. It returns a ticket in the new session
// for t's write. Writes of the old session still in flight keep their old
// tickets (and will be told the same, and renew no further).
func (s *session) renew(t ticket, client uint64) ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.epoch == s.mu.epoch {
		s.mu.client = client
		s.mu.epoch++
		s.mu.next, s.mu.low = 1, 1
		s.mu.pending = map[uint64]struct{}{}
	}
	return s.beginLocked()
}
