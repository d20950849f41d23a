package driver

import (
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
)

// Slot is a unit's place in a Scheduler. The scheduler alone reads and
// writes it, under its lock; a unit embeds one and returns it from
// Unit.Slot.
type Slot struct {
	// queued: the unit is in the queue (at most once). running: a round
	// holds it. again: it got work while running, so it is queued again
	// when its round ends. Invariant: !(queued && running).
	queued, running, again bool
}

// Unit is what a Scheduler runs rounds over: one local replica of a
// group.
type Unit interface {
	Slot() *Slot
}

// SchedulerConfig is what a Scheduler is built from.
type SchedulerConfig[U Unit] struct {
	// Round runs one round over units: every unit that was scheduled, each
	// held by this round alone until Round returns. Required.
	Round func(units []U)
	// Tick is called every TickInterval by Start's ticker (the host's
	// logical clock: elections, heartbeats, the expiry sweep); a Manual
	// host calls its own Tick instead. Required for Start.
	Tick func()
	// Workers is how many rounds may run at once, over disjoint units.
	// Required (> 0) for Start.
	Workers int
	// Clock drives the ticker. Required for Start.
	Clock clock.Clock
	// TickInterval is the ticker's period. Required (> 0) for Start.
	TickInterval time.Duration
}

// Scheduler is a node's scheduler of rounds: a queue of the units with
// work, a pool of workers that each take every queued unit and run one
// round over them, and a ticker. A unit is in the queue at most once, and
// a unit that a round holds is queued again when the round ends, never
// taken by a second worker meanwhile (its round would wait for the
// first's locks while holding others: a deadlock).
//
// Without Start nothing runs until the caller calls RunRound (a Manual
// host: the simulation and the scripted tests decide every step).
type Scheduler[U Unit] struct {
	cfg SchedulerConfig[U]

	mu struct {
		sync.Mutex
		cond   *sync.Cond
		queue  []U // in the order the units were scheduled
		closed bool
	}

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewScheduler returns a scheduler that runs rounds with cfg.Round; call
// Start for its workers and ticker, or drive it with RunRound.
func NewScheduler[U Unit](cfg SchedulerConfig[U]) *Scheduler[U] {
	s := &Scheduler[U]{cfg: cfg, stop: make(chan struct{})}
	s.mu.cond = sync.NewCond(&s.mu.Mutex)
	return s
}

// Start starts cfg.Workers workers and the ticker. Call it at most once.
func (s *Scheduler[U]) Start() {
	for range s.cfg.Workers {
		s.wg.Add(1)
		go s.worker()
	}
	s.wg.Add(1)
	go s.ticker()
}

// Close stops the ticker and the workers and waits for them (a round in
// progress finishes first). Units scheduled later are ignored; RunRound
// then finds nothing to do.
func (s *Scheduler[U]) Close() {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return
	}
	s.mu.closed = true
	s.mu.cond.Broadcast()
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
}

// Schedule queues u for the next round unless it is queued already. A
// unit that a round holds is queued again when that round ends, so no two
// workers ever hold the same unit.
func (s *Scheduler[U]) Schedule(u U) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return
	}
	sl := u.Slot()
	if sl.running {
		sl.again = true
		return
	}
	if !sl.queued {
		sl.queued = true
		s.mu.queue = append(s.mu.queue, u)
		s.mu.cond.Signal()
	}
}

// RunRound runs one round over every queued unit and reports whether
// there was any. For a host driven by hand (Manual).
func (s *Scheduler[U]) RunRound() bool {
	us := s.take(false)
	if len(us) == 0 {
		return false
	}
	s.cfg.Round(us)
	s.release(us)
	return true
}

// take removes every queued unit and marks them running; it blocks while
// the queue is empty unless block is false.
func (s *Scheduler[U]) take(block bool) []U {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.mu.queue) == 0 {
		if s.mu.closed || !block {
			return nil
		}
		s.mu.cond.Wait()
	}
	us := s.mu.queue
	s.mu.queue = nil
	for _, u := range us {
		sl := u.Slot()
		sl.queued, sl.running = false, true
	}
	return us
}

// release ends the round of us, queueing again those that got work
// meanwhile.
func (s *Scheduler[U]) release(us []U) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range us {
		sl := u.Slot()
		sl.running = false
		if sl.again && !s.mu.closed {
			sl.again, sl.queued = false, true
			s.mu.queue = append(s.mu.queue, u)
			s.mu.cond.Signal()
		}
	}
}

func (s *Scheduler[U]) worker() {
	defer s.wg.Done()
	for {
		us := s.take(true)
		if us == nil {
			return
		}
		s.cfg.Round(us)
		s.release(us)
	}
}

func (s *Scheduler[U]) ticker() {
	defer s.wg.Done()
	t := s.cfg.Clock.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C():
			s.cfg.Tick()
		}
	}
}
