package hashring

import (
	"fmt"
	"testing"
)

// benchMembers is n members of capacity 1 spread over three zones.
func benchMembers(n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Name: fmt.Sprintf("node-%03d", i), Zone: fmt.Sprintf("zone-%d", i%3)}
	}
	return ms
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{5, 100} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			r, err := NewRing(benchMembers(n), DefaultVNodes)
			if err != nil {
				b.Fatal(err)
			}
			var sink string
			h := uint64(0x9e3779b97f4a7c15)
			for b.Loop() {
				h = h*6364136223846793005 + 1442695040888963407
				sink = r.Lookup(h)
			}
			_ = sink
		})
	}
}

func BenchmarkPlace(b *testing.B) {
	for _, tc := range []struct{ n, p int }{{5, 256}, {100, 4096}} {
		b.Run(fmt.Sprintf("N=%d/P=%d", tc.n, tc.p), func(b *testing.B) {
			ms := benchMembers(tc.n)
			cfg := Config{Partitions: tc.p, Replicas: 3}
			for b.Loop() {
				if _, err := Place(ms, cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDiff(b *testing.B) {
	ms := benchMembers(100)
	cfg := Config{Partitions: 4096, Replicas: 3}
	from, err := Place(ms[:99], cfg)
	if err != nil {
		b.Fatal(err)
	}
	to, err := Place(ms, cfg)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Diff(from, to); err != nil {
			b.Fatal(err)
		}
	}
}
