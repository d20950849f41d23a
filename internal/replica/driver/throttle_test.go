package driver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
)

// fakeTime is a monotonic clock that only the bucket's sleeps move.
type fakeTime struct {
	now    time.Duration
	sleeps []time.Duration
}

func (f *fakeTime) bucket(rate, burst int64) *TokenBucket {
	b := NewTokenBucket(rate, burst, func() time.Duration { return f.now })
	b.sleep = func(_ context.Context, d time.Duration) error {
		f.sleeps = append(f.sleeps, d)
		f.now += d
		return nil
	}
	return b
}

func (f *fakeTime) slept() (sum time.Duration) {
	for _, d := range f.sleeps {
		sum += d
	}
	return sum
}

// Sending n bytes at rate r from a full bucket of burst b waits (n-b)/r in
// all, however the bytes are cut into chunks.
func TestTokenBucketPaces(t *testing.T) {
	for _, tc := range []struct {
		rate, burst   int64
		chunk, chunks int
	}{
		{rate: 1000, burst: 100, chunk: 70, chunks: 30},
		{rate: 1 << 20, burst: 256 << 10, chunk: 256 << 10, chunks: 40},
		{rate: 10, burst: 1, chunk: 1000, chunks: 5}, // chunks far above the burst still go
		{rate: 5000, burst: 1 << 20, chunk: 1 << 10, chunks: 100},
	} {
		t.Run(fmt.Sprintf("rate=%d,burst=%d,chunk=%d", tc.rate, tc.burst, tc.chunk), func(t *testing.T) {
			var f fakeTime
			b := f.bucket(tc.rate, tc.burst)
			n := tc.chunk * tc.chunks
			for range tc.chunks {
				if _, err := b.Wait(context.Background(), tc.chunk); err != nil {
					t.Fatal(err)
				}
			}
			want := time.Duration(float64(max(0, int64(n)-tc.burst)) / float64(tc.rate) * float64(time.Second))
			// Each wait is rounded down to a nanosecond.
			if got := f.slept(); got > want || want-got > time.Duration(tc.chunks) {
				t.Fatalf("%d bytes in %d chunks: slept %v in all; want %v", n, tc.chunks, got, want)
			}
			// The chunks that fit in the burst go at once; every later one waits.
			wantSleeps := max(0, tc.chunks-int(tc.burst)/tc.chunk)
			if len(f.sleeps) != wantSleeps {
				t.Fatalf("%d sleeps; want %d", len(f.sleeps), wantSleeps)
			}
		})
	}
}

// Tokens refill with time, never beyond the burst; a sender that fits in
// what has built up does not wait.
func TestTokenBucketRefill(t *testing.T) {
	var f fakeTime
	b := f.bucket(1000, 500)
	if d := b.Reserve(500); d != 0 {
		t.Fatalf("the first burst waited %v", d)
	}
	if d := b.Reserve(100); d != 100*time.Millisecond {
		t.Fatalf("100 bytes past an empty bucket: wait %v, want 100ms", d)
	}
	f.now += time.Hour // idle: the debt is paid and the bucket full, not more
	if d := b.Reserve(500); d != 0 {
		t.Fatalf("a full bucket's worth after an idle hour waited %v", d)
	}
	if d := b.Reserve(1000); d != time.Second {
		t.Fatalf("1000 bytes past an empty bucket: wait %v, want 1s (refill capped at the burst)", d)
	}
	// A second sender queues behind the first's debt.
	if d := b.Reserve(1000); d != 2*time.Second {
		t.Fatalf("a second sender: wait %v, want 2s", d)
	}
}

// A wait ends when its context does (the host closing), not when the
// tokens come.
func TestTokenBucketWaitCancelled(t *testing.T) {
	b := NewTokenBucket(1, 1, clock.Real{}.Monotonic) // real sleep: an hour per chunk
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.Wait(ctx, 3600)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled wait did not return within 10s")
	}
}
