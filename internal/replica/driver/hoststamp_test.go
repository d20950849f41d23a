package driver

import (
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// The host stamps by a StampClock on Config.Clock (its rules are
// TestStampsFollowAJumpingClockGradually): the configured wall
// clock, and a step forward is not taken at once.
func TestHostStampsByTheConfiguredClock(t *testing.T) {
	base := clock.NewFake(time.Unix(1_000_000, 0))
	wall := clock.NewSkewed(base, 0)
	h, err := NewHost(Config{
		Engine: stubEngine{}, Node: "n1", Store: storage.NewMem(), Manual: true, Logger: quietLogger(), Clock: wall,
		NewStateMachine: func(g replica.GroupID) replica.StateMachine { return kv.New(uint64(g)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	before := h.now()
	if before != base.Now().UnixNano() {
		t.Fatalf("first stamp %d, want the configured clock's %d", before, base.Now().UnixNano())
	}
	wall.SetOffset(5 * time.Second)
	if got := h.now(); got != before {
		t.Fatalf("right after a 5s step: stamp moved %v, want 0", time.Duration(got-before))
	}
}
