package clock

import (
	"context"
	"sync"
	"time"
)

// Sleep waits d of real time, or until ctx ends (then ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SleepOn waits d by c (a fake clock's d passes when the test advances
// it), or until ctx ends (then ctx's error).
func SleepOn(ctx context.Context, c Clock, d time.Duration) error {
	t := c.NewTicker(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Clock is the only way Cairn's drivers read time, so tests and the
// simulation can control it and fault injection can skew it.
type Clock interface {
	Now() time.Time
	// Monotonic is the time elapsed since an arbitrary origin by a clock
	// that a step of the wall clock (an NTP step, the clock nemesis) does
	// not move: what the engine measures real elapsed time with.
	Monotonic() time.Duration
	// NewTicker returns a ticker that fires every d by this clock.
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks on C.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Real is the system clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

// realOrigin is Real's monotonic origin.
var realOrigin = time.Now()

func (Real) Monotonic() time.Duration { return time.Since(realOrigin) }

func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// Skewed is a clock offset from another by an adjustable amount; fault
// injection uses it to move a node's clock.
type Skewed struct {
	Base Clock
	mu   struct {
		sync.Mutex
		offset time.Duration
	}
}

// NewSkewed returns base shifted by offset.
func NewSkewed(base Clock, offset time.Duration) *Skewed {
	s := &Skewed{Base: base}
	s.mu.offset = offset
	return s
}

// SetOffset changes the skew.
func (s *Skewed) SetOffset(d time.Duration) {
	s.mu.Lock()
	s.mu.offset = d
	s.mu.Unlock()
}

func (s *Skewed) Now() time.Time {
	s.mu.Lock()
	d := s.mu.offset
	s.mu.Unlock()
	return s.Base.Now().Add(d)
}

// Monotonic is the base clock's: a skew steps the wall clock only.
func (s *Skewed) Monotonic() time.Duration { return s.Base.Monotonic() }

func (s *Skewed) NewTicker(d time.Duration) Ticker { return s.Base.NewTicker(d) }

// Fake is a clock that moves only when told to.
type Fake struct {
	mu struct {
		sync.Mutex
		now     time.Time
		start   time.Time
		tickers []*fakeTicker
	}
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	f := &Fake{}
	f.mu.now, f.mu.start = start, start
	return f
}

// Monotonic is the fake time advanced since NewFake (the fake clock only
// moves forward).
func (f *Fake) Monotonic() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.now.Sub(f.mu.start)
}

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.now
}

// Advance moves the clock forward by d and fires every ticker whose period
// elapsed (at most one pending tick per ticker, like time.Ticker).
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.now = f.mu.now.Add(d)
	for _, t := range f.mu.tickers {
		if t.stopped {
			continue
		}
		for !t.next.After(f.mu.now) {
			select {
			case t.c <- t.next:
			default:
			}
			t.next = t.next.Add(t.d)
		}
	}
}

func (f *Fake) NewTicker(d time.Duration) Ticker {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTicker{f: f, d: d, c: make(chan time.Time, 1), next: f.mu.now.Add(d)}
	f.mu.tickers = append(f.mu.tickers, t)
	return t
}

type fakeTicker struct {
	f       *Fake
	d       time.Duration
	c       chan time.Time
	next    time.Time
	stopped bool // guarded by f.mu
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }

func (t *fakeTicker) Stop() {
	t.f.mu.Lock()
	t.stopped = true
	t.f.mu.Unlock()
}
