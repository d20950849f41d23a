package balance

import (
	"testing"
	"time"
)

// Pick and Done allocate nothing once the policy has seen the names.
func TestPickDoneAllocs(t *testing.T) {
	candidates := []string{"n1", "n2", "n3", "n4", "n5"}
	for _, name := range Names() {
		for _, tc := range []struct {
			name string
			opts Options
		}{
			{"seeded", seeded(1)},
			{"unseeded", Options{Weights: map[string]int{"n1": 3}}},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				p := newPolicy(t, name, tc.opts)
				picks(t, p, candidates, 100) // first sight of each name allocates
				var k int
				allocs := testing.AllocsPerRun(1000, func() {
					pk, ok := p.Pick(candidates)
					if !ok {
						panic("no pick")
					}
					var err error
					if k++; k%7 == 0 {
						err = errTest
					}
					pk.Done(time.Duration(k)*time.Microsecond, err)
				})
				if allocs != 0 {
					t.Errorf("Pick+Done allocates %v times per run, want 0", allocs)
				}
			})
		}
	}
}
