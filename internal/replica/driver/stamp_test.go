package driver

import (
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
)

// A wall clock that steps forward is caught up with at no more than
// MaxStampRate times real time, so a leader whose clock jumps cannot stamp
// (or sweep expiry by) the jumped time at once; a step back is taken.
func TestStampsFollowAJumpingClockGradually(t *testing.T) {
	base := clock.NewFake(time.Unix(1_000_000, 0))
	wall := clock.NewSkewed(base, 0)
	s := NewStampClock(wall)
	start := s.Now()
	if start != base.Now().UnixNano() {
		t.Fatalf("first stamp %d, want the wall clock %d", start, base.Now().UnixNano())
	}
	base.Advance(100 * time.Millisecond)
	if got := s.Now(); got != base.Now().UnixNano() {
		t.Fatalf("a steady clock: stamp %d, want the wall clock %d", got, base.Now().UnixNano())
	}
	before := s.Now()
	wall.SetOffset(5 * time.Second) // the wall clock steps 5s ahead
	if got := s.Now(); got != before {
		t.Fatalf("right after a 5s step: stamp moved %v, want 0", time.Duration(got-before))
	}
	base.Advance(time.Second)
	got := s.Now()
	if d := time.Duration(got - before); d > 1100*time.Millisecond || d < time.Second {
		t.Fatalf("1s after a 5s step the stamp moved %v, want 1s..1.1s", d)
	}
	// Catching up: about 50s of real time later the stamps are back on the wall clock.
	for range 60 {
		base.Advance(time.Second)
		s.Now()
	}
	if got, want := s.Now(), wall.Now().UnixNano(); got != want {
		t.Fatalf("60s after the step: stamp %d, want the wall clock %d", got, want)
	}
	wall.SetOffset(0) // a step back is taken at once
	if got, want := s.Now(), base.Now().UnixNano(); got != want {
		t.Fatalf("after a step back: stamp %d, want %d", got, want)
	}
}
