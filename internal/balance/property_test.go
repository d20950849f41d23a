package balance

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Under any sequence of picks from any candidate sets, Done calls in any
// order, and weight changes: a pick is one of its candidates; the in-flight
// count of every name equals the number of its picks not yet Done, so it is
// never negative and returns to 0 once every pick is Done.
func TestProperties(t *testing.T) {
	pool := []string{"a", "b", "c", "d", "e"}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				opts := seeded(rapid.Uint64().Draw(t, "seed"))
				opts.HalfLife = rapid.IntRange(0, 100).Draw(t, "halfLife")
				p := newPolicy(t, name, opts)
				var held []Pick
				out := map[string]int64{}
				check := func(t *rapid.T) {
					if !tracksInflight(p) {
						return
					}
					for _, c := range pool {
						if n := inflight(p, c); n != out[c] || n < 0 {
							t.Fatalf("%s: %d in flight, want %d", c, n, out[c])
						}
					}
				}
				t.Repeat(map[string]func(*rapid.T){
					"pick": func(t *rapid.T) {
						candidates := rapid.SliceOfN(rapid.SampledFrom(pool), 0, 6).Draw(t, "candidates")
						pk, ok := p.Pick(candidates)
						if !ok {
							if len(candidates) > 0 {
								t.Fatalf("Pick(%q) = false", candidates)
							}
							return
						}
						if pk.Index < 0 || pk.Index >= len(candidates) || candidates[pk.Index] != pk.Name {
							t.Fatalf("Pick(%q) = %+v", candidates, pk)
						}
						held = append(held, pk)
						out[pk.Name]++
					},
					"done": func(t *rapid.T) {
						if len(held) == 0 {
							t.Skip("nothing in flight")
						}
						i := rapid.IntRange(0, len(held)-1).Draw(t, "which")
						latency := time.Duration(rapid.Int64Range(-1, int64(time.Second)).Draw(t, "latency"))
						var err error
						if rapid.Bool().Draw(t, "failed") {
							err = errTest
						}
						held[i].Done(latency, err)
						out[held[i].Name]--
						held = slices.Delete(held, i, i+1)
					},
					"setWeight": func(t *rapid.T) {
						w, ok := p.(*WeightedRoundRobin)
						if !ok {
							t.Skip("not weighted")
						}
						if err := w.SetWeight(rapid.SampledFrom(pool).Draw(t, "name"), rapid.IntRange(1, 10).Draw(t, "weight")); err != nil {
							t.Fatal(err)
						}
					},
					"": check,
				})
				for _, pk := range held {
					pk.Done(0, nil)
					out[pk.Name]--
				}
				check(t)
			})
		})
	}
}
