package replica

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type casResult struct {
	version uint64
	err     error
	called  int
}

func cas(s ConfigStore, key string, version uint64, value string) *casResult {
	r := &casResult{}
	s.CompareAndSwap(key, version, []byte(value), func(v uint64, err error) {
		r.called++
		r.version, r.err = v, err
	})
	return r
}

type getResult struct {
	value   []byte
	version uint64
	err     error
	called  int
}

func get(s ConfigStore, key string) *getResult {
	r := &getResult{}
	s.Get(key, func(v []byte, ver uint64, err error) {
		r.called++
		r.value, r.version, r.err = v, ver, err
	})
	return r
}

func TestMemConfigStoreCompareAndSwap(t *testing.T) {
	s := NewMemConfigStore()
	create := cas(s, "pb/1", 0, "a")
	if create.called != 0 || s.Pending() != 1 {
		t.Fatalf("done called %d times inside the call (pending %d): want queued", create.called, s.Pending())
	}
	s.Run()
	if create.called != 1 || create.err != nil || create.version == 0 {
		t.Fatalf("create: %+v, want a version and no error", create)
	}

	// A second create conflicts, naming the current version and value.
	again := cas(s, "pb/1", 0, "b")
	s.Run()
	c, ok := IsConfigConflict(again.err)
	if !ok || c.Version != create.version || string(c.Value) != "a" || c.Key != "pb/1" {
		t.Fatalf("second create: %+v (%v), want a conflict at version %d holding a", again, again.err, create.version)
	}
	if errors.Is(again.err, ErrNotApplied) {
		t.Fatal("a conflict must not read as not applied: it is an answer, not a failure to ask")
	}

	// The right version writes; a higher version comes back.
	upd := cas(s, "pb/1", create.version, "c")
	stale := cas(s, "pb/1", create.version, "d") // queued behind upd, so it loses
	s.Run()
	if upd.err != nil || upd.version <= create.version {
		t.Fatalf("update: %+v, want a version above %d", upd, create.version)
	}
	if c, ok := IsConfigConflict(stale.err); !ok || c.Version != upd.version || string(c.Value) != "c" {
		t.Fatalf("stale update: %v, want a conflict at %d holding c", stale.err, upd.version)
	}

	// A conflict on an absent key names version 0 and no value.
	miss := cas(s, "pb/2", 7, "x")
	g := get(s, "pb/1")
	absent := get(s, "pb/2")
	s.Run()
	if c, ok := IsConfigConflict(miss.err); !ok || c.Version != 0 || c.Value != nil {
		t.Fatalf("update of an absent key: %v, want a conflict at version 0", miss.err)
	}
	if g.err != nil || string(g.value) != "c" || g.version != upd.version {
		t.Fatalf("get: %+v, want c at %d", g, upd.version)
	}
	if absent.err != nil || absent.value != nil || absent.version != 0 {
		t.Fatalf("get of an absent key: %+v", absent)
	}

	// Invalid keys are certainly not applied.
	for _, key := range []string{"", strings.Repeat("k", MaxConfigKey+1)} {
		bad := cas(s, key, 0, "v")
		bg := get(s, key)
		s.Run()
		if !errors.Is(bad.err, ErrConfigKey) || !errors.Is(bad.err, ErrNotApplied) || !errors.Is(bg.err, ErrNotApplied) {
			t.Fatalf("key of %d bytes: cas %v, get %v; want ErrConfigKey, not applied", len(key), bad.err, bg.err)
		}
	}
}

// Versions are ordered per key but handed out store-wide, as the meta
// group's log indexes are: never consecutive for a key to count on.
func TestMemConfigStoreVersionsStoreWide(t *testing.T) {
	s := NewMemConfigStore()
	a := cas(s, "a", 0, "1")
	b := cas(s, "b", 0, "1")
	s.Run()
	a2 := cas(s, "a", a.version, "2")
	s.Run()
	if !(a.version < b.version && b.version < a2.version) {
		t.Fatalf("versions a=%d b=%d a2=%d: want increasing across the store", a.version, b.version, a2.version)
	}
}

func TestMemConfigStoreWatch(t *testing.T) {
	s := NewMemConfigStore()
	var seen []string
	record := func(who string) func([]byte, uint64) {
		return func(v []byte, ver uint64) { seen = append(seen, fmt.Sprintf("%s:%s@%d", who, v, ver)) }
	}
	cas(s, "k", 0, "a") // version 1
	s.Run()
	cancelEarly := s.Watch("k", record("w1"))
	if len(seen) != 0 {
		t.Fatal("watch called fn inside Watch")
	}
	s.Run() // w1 gets the current value
	r := cas(s, "k", 1, "b")
	s.Run()
	// A watch started now sees the latest only; w1 sees every version.
	cancelLate := s.Watch("k", record("w2"))
	cas(s, "k", r.version, "c")
	cas(s, "other", 0, "x") // not watched
	s.Run()
	want := []string{"w1:a@1", "w1:b@2", "w2:b@2", "w1:c@3", "w2:c@3"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("watchers saw %v, want %v", seen, want)
	}

	// Cancelled watches get nothing more, even what was queued for them.
	seen = nil
	cas(s, "k", 3, "d")
	s.Step() // the write; the watchers' calls are queued
	cancelEarly()
	s.Run()
	if fmt.Sprint(seen) != "[w2:d@5]" {
		t.Fatalf("after w1's cancel the watchers saw %v, want only w2's d@5", seen)
	}
	cancelLate()
	cancelLate() // twice is harmless
	cas(s, "k", 5, "e")
	s.Run()
	if len(seen) != 1 {
		t.Fatalf("a cancelled watch saw %v", seen[1:])
	}
}

// A watcher may write from fn: its write waits its turn in the queue, and
// it sees its own write next.
func TestMemConfigStoreWatcherWrites(t *testing.T) {
	s := NewMemConfigStore()
	var versions []uint64
	s.Watch("k", func(v []byte, ver uint64) {
		versions = append(versions, ver)
		if len(versions) < 3 {
			s.CompareAndSwap("k", ver, append(v, '+'), func(uint64, error) {})
		}
	})
	cas(s, "k", 0, "a")
	if n := s.Run(); n == 0 {
		t.Fatal("Run did nothing")
	}
	if v, ver := s.Peek("k"); string(v) != "a++" || ver != versions[2] || len(versions) != 3 {
		t.Fatalf("store holds %q at %d after the watcher saw %v; want a++ at its third version", v, ver, versions)
	}
}

func TestMemConfigStoreUnavailableAndClosed(t *testing.T) {
	s := NewMemConfigStore()
	s.SetUnavailable(true)
	r := cas(s, "k", 0, "a")
	g := get(s, "k")
	s.Run()
	if !errors.Is(r.err, ErrNotApplied) || !errors.Is(g.err, ErrNotApplied) {
		t.Fatalf("unavailable: cas %v, get %v; want not applied", r.err, g.err)
	}
	if _, ver := s.Peek("k"); ver != 0 {
		t.Fatal("a write went through while unavailable")
	}
	s.SetUnavailable(false)
	calls := 0
	s.Watch("k", func([]byte, uint64) { calls++ })
	r = cas(s, "k", 0, "a")
	queued := cas(s, "k", 1, "b")
	s.Step() // the first write only
	s.Close()
	s.Run()
	if r.err != nil || !errors.Is(queued.err, ErrStopped) || queued.called != 1 {
		t.Fatalf("close: first %v, queued %+v; want the first written and the queued one stopped", r.err, queued)
	}
	if calls != 0 {
		t.Fatalf("a watcher was called %d times after Close", calls)
	}
	if v, _ := s.Peek("k"); string(v) != "a" {
		t.Fatalf("store holds %q after Close: a queued write went through", v)
	}
	after := get(s, "k")
	s.Watch("k", func([]byte, uint64) { calls++ })()
	s.Run()
	if !errors.Is(after.err, ErrStopped) || calls != 0 {
		t.Fatalf("get after Close: %v (watch calls %d); want ErrStopped", after.err, calls)
	}
}
