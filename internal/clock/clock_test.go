package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleepOnFakeWaitsForAdvance(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() { done <- SleepOn(context.Background(), f, time.Second) }()
	// The sleeper's ticker must exist before the clock moves; until then an
	// advance is not seen by it, so keep advancing in small steps.
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("SleepOn: %v", err)
			}
			if f.Monotonic() < time.Second {
				t.Fatalf("woke after %v of fake time, want at least 1s", f.Monotonic())
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("SleepOn did not return after the fake clock advanced")
		}
		f.Advance(100 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

func TestSleepOnContextEnds(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := SleepOn(ctx, f, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("SleepOn after cancel = %v, want context.Canceled", err)
	}
}
