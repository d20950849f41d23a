package bench

import (
	"math"
	"testing"
)

func TestAppendKey(t *testing.T) {
	for _, tc := range []struct {
		i, size int
		want    string
	}{
		{0, 8, "00000000"},
		{12345, 8, "00012345"},
		{99999, 5, "99999"},
		{7, 1, "7"},
		{42, 3, "042"},
	} {
		if got := string(AppendKey([]byte("x"), tc.i, tc.size)); got != "x"+tc.want {
			t.Errorf("AppendKey(x, %d, %d) = %q, want %q", tc.i, tc.size, got, "x"+tc.want)
		}
	}
}

func TestKeysExactSizeAndDistinct(t *testing.T) {
	for _, tc := range []struct{ keys, size int }{{1, 1}, {10, 1}, {11, 2}, {100000, 8}, {100000, 5}, {1000, 64}} {
		cfg := DefaultConfig()
		cfg.Keys, cfg.KeySize = tc.keys, tc.size
		if err := cfg.Validate(); err != nil {
			t.Fatalf("keys %d size %d: %v", tc.keys, tc.size, err)
		}
		seen := make(map[string]bool, tc.keys)
		for i := range tc.keys {
			k := AppendKey(nil, i, tc.size)
			if len(k) != tc.size {
				t.Fatalf("key %d of %d is %q: %d bytes, want %d", i, tc.keys, k, len(k), tc.size)
			}
			if seen[string(k)] {
				t.Fatalf("key %q made twice", k)
			}
			seen[string(k)] = true
		}
	}
	cfg := DefaultConfig()
	cfg.Keys, cfg.KeySize = 100001, 5 // index 100000 needs 6 digits
	if err := cfg.Validate(); err == nil {
		t.Fatal("--keys 100001 --key-size 5 accepted")
	}
}

// TestChooserSpread checks that keys cover the key space evenly and that
// the read share follows --read-ratio. The seed is fixed: no flakes.
func TestChooserSpread(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Keys, cfg.KeySize, cfg.ReadRatio = 100, 8, 0.3
	const draws = 200000
	ch := newChooser(1, 3, &cfg)
	counts := make(map[string]int)
	reads := 0
	for range draws {
		read, key := ch.next()
		if len(key) != cfg.KeySize {
			t.Fatalf("key %q: %d bytes, want %d", key, len(key), cfg.KeySize)
		}
		counts[string(key)]++
		if read {
			reads++
		}
	}
	if len(counts) != cfg.Keys {
		t.Fatalf("%d distinct keys drawn, want all %d", len(counts), cfg.Keys)
	}
	want := float64(draws) / float64(cfg.Keys)
	chi2 := 0.0
	for k, n := range counts {
		if math.Abs(float64(n)-want) > 0.15*want {
			t.Errorf("key %s drawn %d times, want about %.0f", k, n, want)
		}
		chi2 += (float64(n) - want) * (float64(n) - want) / want
	}
	if chi2 > 200 { // 99 degrees of freedom: mean 99
		t.Errorf("chi-squared %.1f over %d keys: not uniform", chi2, cfg.Keys)
	}
	if share := float64(reads) / draws; math.Abs(share-0.3) > 0.01 {
		t.Errorf("read share %.3f, want 0.3", share)
	}

	for _, ratio := range []float64{0, 1} {
		cfg.ReadRatio = ratio
		ch := newChooser(1, 0, &cfg)
		for range 10000 {
			if read, _ := ch.next(); read != (ratio == 1) {
				t.Fatalf("read ratio %v drew read=%v", ratio, read)
			}
		}
	}
}

func TestClientsDrawDifferentKeys(t *testing.T) {
	cfg := DefaultConfig()
	a, b := newChooser(1, 0, &cfg), newChooser(1, 1, &cfg)
	same := 0
	for range 100 {
		_, ka := a.next()
		ka = append([]byte(nil), ka...)
		if _, kb := b.next(); string(ka) == string(kb) {
			same++
		}
	}
	if same > 5 {
		t.Fatalf("clients 0 and 1 drew the same key %d times in 100", same)
	}
}
