package auth

import (
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
)

// Throttle slows down password guessing from one client address: after
// Free failed logins, each further attempt must wait a delay that doubles
// with every failure, up to MaxDelay; a success, or an hour without
// failures, forgets the address. It remembers at most maxAddrs addresses
// (the stalest go first), so a flood of addresses costs bounded memory.
type Throttle struct {
	clk      clock.Clock
	free     int
	base     time.Duration
	maxDelay time.Duration

	mu    sync.Mutex
	addrs map[string]*failures
}

type failures struct {
	count int
	last  time.Duration // monotonic time of the last failure
}

const (
	maxAddrs   = 10000
	forgetTime = time.Hour
)

// NewThrottle allows free failures from an address before it slows it
// down, from base doubling up to maxDelay.
func NewThrottle(clk clock.Clock, free int, base, maxDelay time.Duration) *Throttle {
	return &Throttle{clk: clk, free: free, base: base, maxDelay: maxDelay, addrs: map[string]*failures{}}
}

// Wait is how long addr must wait before its next login is tried (0: now).
// The door refuses an attempt made earlier without checking it.
func (t *Throttle) Wait(addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.addrs[addr]
	if f == nil || f.count < t.free {
		return 0
	}
	now := t.clk.Monotonic()
	if now-f.last > forgetTime {
		delete(t.addrs, addr)
		return 0
	}
	delay := t.base << min(f.count-t.free, 30)
	if delay <= 0 || delay > t.maxDelay {
		delay = t.maxDelay
	}
	if wait := f.last + delay - now; wait > 0 {
		return wait
	}
	return 0
}

// Failed records a failed login from addr.
func (t *Throttle) Failed(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clk.Monotonic()
	f := t.addrs[addr]
	if f == nil {
		if len(t.addrs) >= maxAddrs {
			t.evictLocked(now)
		}
		f = &failures{}
		t.addrs[addr] = f
	}
	f.count++
	f.last = now
}

// Succeeded forgets addr's failures.
func (t *Throttle) Succeeded(addr string) {
	t.mu.Lock()
	delete(t.addrs, addr)
	t.mu.Unlock()
}

// evictLocked drops the addresses not heard of for forgetTime, or, when
// none are that old, the stalest one.
func (t *Throttle) evictLocked(now time.Duration) {
	var stalest string
	var at time.Duration = -1
	for a, f := range t.addrs {
		if now-f.last > forgetTime {
			delete(t.addrs, a)
			continue
		}
		if at < 0 || f.last < at {
			stalest, at = a, f.last
		}
	}
	if len(t.addrs) >= maxAddrs {
		delete(t.addrs, stalest)
	}
}
