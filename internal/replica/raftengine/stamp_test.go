package raftengine

import (
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// A wall clock that steps forward is caught up with at no more than
// maxStampRate times real time, so a leader whose clock jumps cannot stamp
// (or sweep expiry by) the jumped time at once; a step back is taken.
func TestStampsFollowAJumpingClockGradually(t *testing.T) {
	base := clock.NewFake(time.Unix(1_000_000, 0))
	wall := clock.NewSkewed(base, 0)
	h, err := NewHost(Config{
		Node: "n1", Store: storage.NewMem(), Manual: true, Logger: quietLogger(), Clock: wall,
		NewStateMachine: func(g replica.GroupID) replica.StateMachine { return kv.New(uint64(g)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	start := h.now()
	if start != base.Now().UnixNano() {
		t.Fatalf("first stamp %d, want the wall clock %d", start, base.Now().UnixNano())
	}
	base.Advance(100 * time.Millisecond)
	if got := h.now(); got != base.Now().UnixNano() {
		t.Fatalf("a steady clock: stamp %d, want the wall clock %d", got, base.Now().UnixNano())
	}
	before := h.now()
	wall.SetOffset(5 * time.Second) // the wall clock steps 5s ahead
	if got := h.now(); got != before {
		t.Fatalf("right after a 5s step: stamp moved %v, want 0", time.Duration(got-before))
	}
	base.Advance(time.Second)
	got := h.now()
	if d := time.Duration(got - before); d > 1100*time.Millisecond || d < time.Second {
		t.Fatalf("1s after a 5s step the stamp moved %v, want 1s..1.1s", d)
	}
	// Catching up: about 50s of real time later the stamps are back on the wall clock.
	for range 60 {
		base.Advance(time.Second)
		h.now()
	}
	if got, want := h.now(), wall.Now().UnixNano(); got != want {
		t.Fatalf("60s after the step: stamp %d, want the wall clock %d", got, want)
	}
	wall.SetOffset(0) // a step back is taken at once
	if got, want := h.now(), base.Now().UnixNano(); got != want {
		t.Fatalf("after a step back: stamp %d, want %d", got, want)
	}
}
