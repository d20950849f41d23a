package driver

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/testkit"
)

type unit struct {
	name string
	slot Slot
	held atomic.Bool // a round holds it
}

func (u *unit) Slot() *Slot { return &u.slot }

func names(us []*unit) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.name)
	}
	return out
}

// Driven by hand: a round takes every queued unit once, in the order they
// were scheduled; a unit scheduled during its own round waits for the
// next one.
func TestSchedulerManual(t *testing.T) {
	a, b, c := &unit{name: "a"}, &unit{name: "b"}, &unit{name: "c"}
	var rounds [][]string
	var s *Scheduler[*unit]
	s = NewScheduler(SchedulerConfig[*unit]{Round: func(us []*unit) {
		rounds = append(rounds, names(us))
		for _, u := range us {
			if u == a && len(rounds) == 1 {
				s.Schedule(a) // work that arrives while a's round runs
				s.Schedule(a)
			}
		}
	}})
	defer s.Close()
	if s.RunRound() {
		t.Fatal("a round with nothing scheduled reported work")
	}
	s.Schedule(b)
	s.Schedule(a)
	s.Schedule(b)
	s.Schedule(c)
	for s.RunRound() {
	}
	want := [][]string{{"b", "a", "c"}, {"a"}}
	if !slices.EqualFunc(rounds, want, slices.Equal) {
		t.Fatalf("rounds %v, want %v", rounds, want)
	}
	s.Close()
	s.Schedule(a)
	if s.RunRound() {
		t.Fatal("a closed scheduler ran a round")
	}
}

// With workers, every scheduled unit gets a round, never two at once, and
// the ticker ticks by the clock; Close stops them all (goleak checks).
func TestSchedulerWorkers(t *testing.T) {
	fake := clock.NewFake(time.Unix(0, 0))
	units := make([]*unit, 8)
	for i := range units {
		units[i] = &unit{name: string(rune('a' + i))}
	}
	var ticks, overlaps atomic.Int64
	var mu sync.Mutex
	runs := make(map[*unit]int)
	s := NewScheduler(SchedulerConfig[*unit]{
		Round: func(us []*unit) {
			for _, u := range us {
				if u.held.Swap(true) {
					overlaps.Add(1)
				}
			}
			time.Sleep(time.Millisecond) // let other workers try to take them meanwhile
			mu.Lock()
			for _, u := range us {
				runs[u]++
			}
			mu.Unlock()
			for _, u := range us {
				u.held.Store(false)
			}
		},
		Tick:         func() { ticks.Add(1) },
		Workers:      2,
		Clock:        fake,
		TickInterval: time.Second,
	})
	s.Start()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				for _, u := range units {
					s.Schedule(u)
				}
			}
		}()
	}
	wg.Wait()
	testkit.WaitFor(t, 10*time.Second, "every unit to have a round", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(runs) == len(units)
	})
	testkit.WaitFor(t, 10*time.Second, "the ticker to tick by the fake clock", func() bool {
		fake.Advance(time.Second)
		return ticks.Load() > 0
	})
	s.Close()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d times a unit was held by two rounds at once", n)
	}
}

// waitFor waits up to 10s for cond, failing with what it waited for.
