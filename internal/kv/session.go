package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const sessionVersion = 1

// session is what SessionKey(g, client) holds: the client's window of
// results and when it was last active.
//
//	session = 0x01 lastactive:varint low:uvarint n:uvarint (seq:uvarint result:bytes)*n
//
// lastactive comes first so that the sweep reads it without decoding the
// rest (see sessionLastActive).
type session struct {
	// LastActive is the group time of the client's last command.
	LastActive int64
	// Low is the bottom of the window: results of seqs below it are
	// forgotten, and such a seq is answered CodeSequenceBelowWindow.
	// Invariant: every Results[i].Seq >= Low.
	Low uint64
	// Results holds the applied seqs at or above Low with their results,
	// ascending by seq; a seq within the window that is missing was not
	// applied yet (pipelined commands may apply out of order).
	Results []windowEntry
}

type windowEntry struct {
	Seq    uint64
	Result []byte
}

func (s *session) appendEncode(dst []byte) []byte {
	dst = append(dst, sessionVersion)
	dst = binary.AppendVarint(dst, s.LastActive)
	dst = binary.AppendUvarint(dst, s.Low)
	dst = binary.AppendUvarint(dst, uint64(len(s.Results)))
	for _, w := range s.Results {
		dst = binary.AppendUvarint(dst, w.Seq)
		dst = appendBytes(dst, w.Result)
	}
	return dst
}

// decodeSession decodes a session; results alias b.
func decodeSession(b []byte) (session, error) {
	d := reader{b: b}
	if v := d.byte(); d.err == nil && v != sessionVersion {
		d.fail(errVersion)
	}
	var s session
	s.LastActive = d.varint()
	s.Low = d.uvarint()
	n := d.count(2)
	if d.err == nil && n > 0 {
		s.Results = make([]windowEntry, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		s.Results[i].Seq = d.uvarint()
		s.Results[i].Result = d.bytes()
		if d.err == nil {
			if s.Results[i].Seq < s.Low || (i > 0 && s.Results[i].Seq <= s.Results[i-1].Seq) {
				d.fail(errors.New("window out of order"))
			}
		}
	}
	if err := d.done(); err != nil {
		return session{}, fmt.Errorf("%w: session: %v", ErrCorrupt, err)
	}
	return s, nil
}

// sessionLastActive decodes only a session's LastActive.
func sessionLastActive(b []byte) (int64, error) {
	d := reader{b: b}
	if v := d.byte(); d.err == nil && v != sessionVersion {
		d.fail(errVersion)
	}
	t := d.varint()
	if d.err != nil {
		return 0, fmt.Errorf("%w: session: %v", ErrCorrupt, d.err)
	}
	return t, nil
}

// lookup returns the stored result of seq, if it is in the window.
func (s *session) lookup(seq uint64) ([]byte, bool) {
	i, ok := s.find(seq)
	if !ok {
		return nil, false
	}
	return s.Results[i].Result, true
}

// find is a binary search for seq in Results.
func (s *session) find(seq uint64) (int, bool) {
	lo, hi := 0, len(s.Results)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.Results[m].Seq < seq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(s.Results) && s.Results[lo].Seq == seq
}

// record stores seq's result; seq must not be in the window.
func (s *session) record(seq uint64, result []byte) {
	i, _ := s.find(seq)
	s.Results = append(s.Results, windowEntry{})
	copy(s.Results[i+1:], s.Results[i:])
	s.Results[i] = windowEntry{Seq: seq, Result: result}
}

// advance moves the window's bottom up to low (the client's lowest
// unacknowledged seq) and then drops the oldest results beyond max,
// forgetting them for good.
func (s *session) advance(low uint64, max int) {
	if low > s.Low {
		s.Low = low
	}
	i, _ := s.find(s.Low)
	if max > 0 && len(s.Results)-i > max {
		i = len(s.Results) - max
		s.Low = s.Results[i-1].Seq + 1
	}
	if i > 0 {
		s.Results = s.Results[:copy(s.Results, s.Results[i:])]
	}
}
