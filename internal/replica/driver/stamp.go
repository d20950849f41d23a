package driver

import (
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
)

// MaxStampRate bounds how much faster than real (monotonic) time a
// StampClock's stamps may run while they catch up with a wall clock that
// stepped forward: 10%.
const MaxStampRate = 1.1

// StampClock gives a leader's stamps for entries and the time its expiry
// sweep judges deadlines by: the wall clock, except that a stamp never
// runs ahead of the previous one by more than MaxStampRate times the
// monotonic time since then. A wall clock that steps forward (an NTP
// step; the clock nemesis) is caught up with gradually instead of at
// once, so a leader whose clock jumps cannot expire keys early in the
// moments before its peers measure the offset and it hands leadership
// away (DESIGN.md, Expiry). A step backwards is taken at once: group time
// never goes back (it is the max of the stamps), so it only delays
// expiry. One StampClock serves every group of a host; a round takes one
// stamp for a batch of proposals (group time is their max anyway).
type StampClock struct {
	clock clock.Clock

	mu struct {
		sync.Mutex
		set  bool          // a stamp was given
		last int64         // the last stamp given
		mono time.Duration // the monotonic time it was given at
	}
}

// NewStampClock returns a StampClock reading c.
func NewStampClock(c clock.Clock) *StampClock { return &StampClock{clock: c} }

// Now returns the next stamp, Unix nanoseconds.
func (s *StampClock) Now() int64 {
	wall := s.clock.Now().UnixNano()
	mono := s.clock.Monotonic()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.set {
		limit := s.mu.last + int64(float64(mono-s.mu.mono)*MaxStampRate)
		if wall > limit {
			wall = limit
		}
	}
	s.mu.set, s.mu.last, s.mu.mono = true, wall, mono
	return wall
}
