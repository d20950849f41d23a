package driver

import (
	"context"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
)

// TokenBucket paces bytes to a rate (the node's --snapshot-rate): it
// refills at rate bytes a second up to burst. A sender takes the bytes it
// is about to send at once, into debt if need be, and waits until the
// debt is paid, so concurrent senders share the rate and queue in the
// order they asked; a chunk larger than burst still goes, after its wait.
//
// NB: a small token bucket of our own rather than golang.org/x/time/rate,
// which the module does not require; this is all of it a host needs.
type TokenBucket struct {
	rate  float64 // bytes a second; > 0
	burst float64
	now   func() time.Duration                       // monotonic time
	sleep func(context.Context, time.Duration) error // waits, or returns ctx's error

	mu struct {
		sync.Mutex
		// tokens may be negative: bytes granted to senders still waiting.
		// Invariant: tokens <= burst.
		tokens float64
		last   time.Duration // when tokens was last refilled
	}
}

// NewTokenBucket returns a full bucket of burst bytes (at least 1) that
// refills at rate bytes a second (> 0) by the monotonic time now.
func NewTokenBucket(rate, burst int64, now func() time.Duration) *TokenBucket {
	b := &TokenBucket{rate: float64(rate), burst: float64(max(burst, 1)), now: now, sleep: clock.Sleep}
	b.mu.tokens, b.mu.last = b.burst, now()
	return b
}

// Reserve takes n bytes and returns how long the caller must wait before
// sending them (0: at once).
func (b *TokenBucket) Reserve(n int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.now(); t > b.mu.last {
		b.mu.tokens = min(b.burst, b.mu.tokens+(t-b.mu.last).Seconds()*b.rate)
		b.mu.last = t
	}
	b.mu.tokens -= float64(n)
	if b.mu.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.mu.tokens / b.rate * float64(time.Second))
}

// Wait takes n bytes and sleeps until they may be sent or ctx ends; it
// returns how long it was asked to wait. The bytes stay taken when ctx
// ends first: the stream they were for is being torn down anyway.
func (b *TokenBucket) Wait(ctx context.Context, n int) (time.Duration, error) {
	d := b.Reserve(n)
	if d <= 0 {
		return 0, nil
	}
	return d, b.sleep(ctx, d)
}
