package balance

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPickDone measures one Pick and its Done, from one goroutine and
// from GOMAXPROCS goroutines sharing the policy.
func BenchmarkPickDone(b *testing.B) {
	for _, name := range Names() {
		for _, n := range []int{3, 16} {
			candidates := make([]string, n)
			for i := range candidates {
				candidates[i] = fmt.Sprintf("10.0.0.%d:7379", i+1)
			}
			b.Run(fmt.Sprintf("%s/n=%d/serial", name, n), func(b *testing.B) {
				p := newPolicy(b, name, Options{})
				picks(b, p, candidates, 100)
				b.ReportAllocs()
				for b.Loop() {
					pk, _ := p.Pick(candidates)
					pk.Done(time.Millisecond, nil)
				}
			})
			b.Run(fmt.Sprintf("%s/n=%d/parallel", name, n), func(b *testing.B) {
				p := newPolicy(b, name, Options{})
				picks(b, p, candidates, 100)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						pk, _ := p.Pick(candidates)
						pk.Done(time.Millisecond, nil)
					}
				})
			})
		}
	}
}
