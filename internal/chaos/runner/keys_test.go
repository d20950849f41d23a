package runner

import (
	"math/rand/v2"
	"sync"
	"testing"
)

func TestKeyPoolRetiresAfterMaxOps(t *testing.T) {
	p := newKeyPool("k/", 1, 3, 10)
	rng := rand.New(rand.NewPCG(1, 2))
	var got []string
	for range 7 {
		got = append(got, p.acquire(rng).name)
	}
	want := []string{"k/0", "k/0", "k/0", "k/1", "k/1", "k/1", "k/2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("acquired %v, want %v", got, want)
		}
	}
	if u := p.used(); len(u) != 3 || u[2] != "k/2" {
		t.Fatalf("used() = %v, want k/0..k/2", u)
	}
}

func TestKeyPoolRetiresAfterIndeterminateWrites(t *testing.T) {
	p := newKeyPool("k/", 2, 200, 2)
	rng := rand.New(rand.NewPCG(1, 2))
	k := p.acquire(rng)
	p.indeterminate(k)
	if k.retired {
		t.Fatal("retired after one indeterminate write; the limit is 2")
	}
	p.indeterminate(k)
	if !k.retired {
		t.Fatal("not retired after two indeterminate writes")
	}
	for range 100 {
		if p.acquire(rng) == k {
			t.Fatal("a retired key was handed out again")
		}
	}
	p.indeterminate(k) // an operation in flight when it retired: no second replacement
	if n := len(p.used()); n != 3 {
		t.Fatalf("%d keys used, want 3 (two slots, one retirement)", n)
	}
}

func TestKeyPoolExpected(t *testing.T) {
	p := newKeyPool("k/", 1, 200, 10)
	k := p.acquire(rand.New(rand.NewPCG(1, 2)))
	if _, ok := p.expected(k); ok {
		t.Fatal("a fresh key expects a value; want absent")
	}
	p.learn(k, true, "v1")
	if v, ok := p.expected(k); !ok || v != "v1" {
		t.Fatalf("expected() = %q, %v; want v1", v, ok)
	}
	p.learn(k, false, "")
	if _, ok := p.expected(k); ok {
		t.Fatal("expects a value after learning the key is absent")
	}
}

// However many clients race, no key gets more than maxOps operations, and
// every slot stays filled.
func TestKeyPoolNeverExceedsMaxOps(t *testing.T) {
	const maxOps = 20
	p := newKeyPool("k/", 4, maxOps, 10)
	var mu sync.Mutex
	count := make(map[string]int)
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 0))
			for range 500 {
				k := p.acquire(rng)
				mu.Lock()
				count[k.name]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for k, n := range count {
		if n > maxOps {
			t.Errorf("key %s got %d operations, more than %d", k, n, maxOps)
		}
	}
	if len(count) < 16*500/maxOps {
		t.Errorf("only %d keys used for %d operations", len(count), 16*500)
	}
}
