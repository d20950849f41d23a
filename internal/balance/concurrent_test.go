package balance

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Many goroutines Pick and Done at once from changing candidate sets while
// weights change; run under -race. When all is Done, nothing is in flight.
func TestConcurrent(t *testing.T) {
	sets := [][]string{
		{"a", "b", "c"},
		{"a", "c"},
		{"b", "c", "d", "e"},
		{"e"},
		{},
		{"a", "b", "c", "d", "e"},
	}
	all := sets[len(sets)-1]
	const (
		goroutines = 16
		rounds     = 2000
	)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p := newPolicy(t, name, Options{}) // unseeded: the runtime's generator
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 1))
					var held []Pick
					for k := range rounds {
						candidates := sets[r.IntN(len(sets))]
						pk, ok := p.Pick(candidates)
						if ok != (len(candidates) > 0) || ok && candidates[pk.Index] != pk.Name {
							t.Errorf("Pick(%q) = %+v, %v", candidates, pk, ok)
							return
						}
						if ok {
							held = append(held, pk)
						}
						// Keep a few picks in flight, finishing them out of order.
						for len(held) > 0 && (len(held) > 4 || r.IntN(2) == 0) {
							i := r.IntN(len(held))
							var err error
							if r.IntN(10) == 0 {
								err = errTest
							}
							held[i].Done(time.Duration(r.IntN(5000))*time.Microsecond, err)
							held = append(held[:i], held[i+1:]...)
						}
						if w, ok := p.(*WeightedRoundRobin); ok && k%100 == 0 {
							if err := w.SetWeight(all[r.IntN(len(all))], 1+r.IntN(5)); err != nil {
								t.Error(err)
							}
						}
					}
					for _, pk := range held {
						pk.Done(time.Millisecond, nil)
					}
				})
			}
			wg.Wait()
			for _, c := range all {
				if n := inflight(p, c); n != 0 {
					t.Errorf("%s: %d in flight after every Done", c, n)
				}
			}
		})
	}
}
