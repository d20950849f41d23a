package kv

import (
	"bytes"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/storage"
)

func sessionCmd(client, seq, low uint64, reqs ...Request) Command {
	return NewCommand(reqs...).WithSession(client, seq, low)
}

func TestSessions(t *testing.T) {
	t.Run("retry answered from window applies nothing", func(t *testing.T) {
		h := newHarness(t)
		c := sessionCmd(1, 1, 1, IncrBy(b("k"), 1))
		first := h.applyEntries(h.entries(t0, c))[0]
		firstIndex := h.index
		// Another client writes k; then the retry arrives.
		h.apply(t0, sessionCmd(2, 1, 1, Put(b("k"), b("10"))))
		again := h.applyEntries(h.entries(t0+1, c))[0]
		if !bytes.Equal(first, again) {
			t.Fatalf("retry answered %x, first answer %x", again, first)
		}
		it, _ := h.get("k")
		if string(it.Value) != "10" || it.Version != firstIndex+1 {
			t.Fatalf("k = %q v%d, want 10 v%d: the retry applied", it.Value, it.Version, firstIndex+1)
		}
	})
	t.Run("pipelined seqs apply out of order and retry in any order", func(t *testing.T) {
		h := newHarness(t)
		var first [4][]byte
		for _, seq := range []uint64{3, 1, 2} {
			first[seq] = h.applyEntries(h.entries(t0, sessionCmd(1, seq, 1, Append(b("k"), []byte{byte('0' + seq)}))))[0]
		}
		if it, _ := h.get("k"); string(it.Value) != "312" {
			t.Fatalf("k = %q, want 312", it.Value)
		}
		for _, seq := range []uint64{2, 3, 1} {
			got := h.applyEntries(h.entries(t0, sessionCmd(1, seq, 1, Append(b("k"), b("x")))))[0]
			if !bytes.Equal(got, first[seq]) {
				t.Fatalf("retry of %d answered %x, want %x", seq, got, first[seq])
			}
		}
		if it, _ := h.get("k"); string(it.Value) != "312" || it.Version != 3 {
			t.Fatalf("k = %q v%d after retries", it.Value, it.Version)
		}
		// The client acknowledges 1..3 with seq 4; then a late retry of 2.
		h.apply(t0, sessionCmd(1, 4, 4, Append(b("k"), b("4"))))
		rep := h.apply(t0, sessionCmd(1, 2, 2, Append(b("k"), b("x"))))[0]
		if rep.Code != CodeSequenceBelowWindow || len(rep.Responses) != 0 {
			t.Fatalf("reply %+v, want SequenceBelowWindow", rep)
		}
		if it, _ := h.get("k"); string(it.Value) != "3124" {
			t.Fatalf("k = %q", it.Value)
		}
	})
	t.Run("gap in the window applies", func(t *testing.T) {
		h := newHarness(t)
		h.apply(t0, sessionCmd(1, 1, 1, Append(b("k"), b("a"))), sessionCmd(1, 3, 1, Append(b("k"), b("c"))))
		rep := h.apply(t0, sessionCmd(1, 2, 1, Append(b("k"), b("b"))))[0]
		if rep.Code != CodeOK || rep.Responses[0].Int != 3 {
			t.Fatalf("reply %+v", rep)
		}
	})
	t.Run("window cap forgets the oldest", func(t *testing.T) {
		h := newHarness(t, WithMaxWindow(2))
		for seq := uint64(1); seq <= 3; seq++ {
			h.apply(t0, sessionCmd(1, seq, 1, IncrBy(b("k"), 1)))
		}
		if rep := h.apply(t0, sessionCmd(1, 1, 1, IncrBy(b("k"), 1)))[0]; rep.Code != CodeSequenceBelowWindow {
			t.Fatalf("reply %+v, want SequenceBelowWindow", rep)
		}
		if rep := h.apply(t0, sessionCmd(1, 2, 1, IncrBy(b("k"), 1)))[0]; rep.Code != CodeOK || rep.Responses[0].Int != 2 {
			t.Fatalf("retry of 2: %+v", rep)
		}
		if it, _ := h.get("k"); string(it.Value) != "3" {
			t.Fatalf("k = %q", it.Value)
		}
	})
	t.Run("session expires by group time", func(t *testing.T) {
		h := newHarness(t, WithSessionTTL(time.Minute))
		h.apply(t0, sessionCmd(1, 1, 1, Put(b("k"), b("a"))))
		// Idle exactly the TTL: still alive.
		if rep := h.apply(t0+int64(time.Minute), sessionCmd(1, 2, 2, Put(b("k"), b("b"))))[0]; rep.Code != CodeOK {
			t.Fatalf("at TTL: %+v", rep)
		}
		later := t0 + 2*int64(time.Minute) + 1
		rep := h.apply(later, sessionCmd(1, 3, 3, Put(b("k"), b("c"))))[0]
		if rep.Code != CodeSessionExpired {
			t.Fatalf("reply %+v, want SessionExpired", rep)
		}
		if it, _ := h.get("k"); string(it.Value) != "b" {
			t.Fatalf("k = %q: an expired session applied", it.Value)
		}
		if _, err := h.s.Get(storage.SessionKey(testGroup, 1)); err == nil {
			t.Fatal("expired session still stored")
		}
		// A retry under the expired session stays a definite error.
		if rep := h.apply(later, sessionCmd(1, 2, 2, Put(b("k"), b("b"))))[0]; rep.Code != CodeSessionExpired {
			t.Fatalf("retry: %+v", rep)
		}
	})
	t.Run("unknown session with low > 1 is expired", func(t *testing.T) {
		h := newHarness(t)
		if rep := h.apply(t0, sessionCmd(9, 5, 2, Put(b("k"), b("a"))))[0]; rep.Code != CodeSessionExpired {
			t.Fatalf("reply %+v", rep)
		}
	})
	t.Run("new session may start at any seq with low 1", func(t *testing.T) {
		h := newHarness(t)
		if rep := h.apply(t0, sessionCmd(9, 5, 1, Put(b("k"), b("a"))))[0]; rep.Code != CodeOK {
			t.Fatalf("reply %+v", rep)
		}
	})
	t.Run("seq 0 and seq below low are malformed", func(t *testing.T) {
		h := newHarness(t)
		for _, c := range []Command{sessionCmd(1, 0, 0, Put(b("k"), b("a"))), sessionCmd(1, 2, 3, Put(b("k"), b("a")))} {
			if rep := h.apply(t0, c)[0]; rep.Code != CodeMalformed {
				t.Fatalf("reply %+v", rep)
			}
		}
		if _, ok := h.get("k"); ok {
			t.Fatal("malformed command applied")
		}
	})
	t.Run("no session for client 0", func(t *testing.T) {
		h := newHarness(t)
		h.apply(t0, NewCommand(Put(b("k"), b("a"))), NewCommand(Put(b("k"), b("a"))))
		lo, hi := storage.SessionSpan(testGroup)
		it, _ := h.s.NewIter(lo, hi)
		defer it.Close()
		if it.First() {
			t.Fatal("a session was stored for client 0")
		}
		if it, _ := h.get("k"); it.Version != 2 {
			t.Fatal("client 0 commands were deduplicated")
		}
	})
}

func countSessions(t *testing.T, v storage.View) int {
	t.Helper()
	lo, hi := storage.SessionSpan(testGroup)
	it, err := v.NewIter(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

func TestSessionSweepBounded(t *testing.T) {
	const every, most, clients = 4, 10, 35
	h := newHarness(t, WithSessionTTL(time.Minute), WithSessionSweep(every, most))
	var cmds []Command
	for c := uint64(1); c <= clients; c++ {
		cmds = append(cmds, sessionCmd(c, 1, 1, Put(b("k"), b("v"))))
	}
	h.apply(t0, cmds[:3]...) // indexes 1..3: no sweep yet
	h.apply(t0, cmds[3:]...) // index 4 sweeps, but nothing has expired
	if n := countSessions(t, h.s); n != clients {
		t.Fatalf("%d sessions, want %d", n, clients)
	}
	later := t0 + 2*int64(time.Minute)
	left, sweeps := clients, 0
	for left > 0 {
		// Entries up to the next multiple of every: exactly one sweep.
		var es []Command
		for (h.index+uint64(len(es))+1)%every != 0 {
			es = append(es, NewCommand())
		}
		es = append(es, NewCommand())
		h.apply(later, es...)
		sweeps++
		n := countSessions(t, h.s)
		if left-n > most {
			t.Fatalf("one sweep deleted %d sessions, bound %d", left-n, most)
		}
		left = n
		// The cursor may start mid-range; a full cycle plus one sweep suffices.
		if sweeps > clients/most+2 {
			t.Fatalf("%d sessions left after %d sweeps", left, sweeps)
		}
	}
}

// TestApplyCacheFollowsStateChanges: the Machine's cache of applied
// state, stats and sessions is dropped whenever the store holds a state it
// did not write itself — a snapshot from another history installed under
// it, or a batch the driver discarded — so every Apply sees exactly what a
// fresh Machine reading the store would.
func TestApplyCacheFollowsStateChanges(t *testing.T) {
	t.Run("snapshot", func(t *testing.T) {
		a, b := newHarness(t), newHarness(t)
		a.apply(t0, sessionCmd(1, 1, 1, Put([]byte("x"), []byte("a1"))), sessionCmd(1, 2, 1, Put([]byte("y"), []byte("a2"))))
		b.apply(t0, sessionCmd(1, 1, 1, Put([]byte("z"), []byte("b1"))), sessionCmd(1, 2, 1, Put([]byte("x"), []byte("b2"))),
			sessionCmd(1, 3, 1, IncrBy([]byte("n"), 5)), sessionCmd(2, 1, 1, Put([]byte("w"), []byte("b4"))))
		// Install b's state under a's Machine, as a snapshot would.
		a.s.m, a.s.keys = maps.Clone(b.s.m), slices.Clone(b.s.keys)
		a.index = b.index
		// Client 1 retries seq 3: the answer must come from b's window.
		ra := a.apply(t0, sessionCmd(1, 3, 1, IncrBy([]byte("n"), 5)))
		rb := b.apply(t0, sessionCmd(1, 3, 1, IncrBy([]byte("n"), 5)))
		if ra[0].Responses[0].Int != 5 || rb[0].Responses[0].Int != 5 {
			t.Fatalf("retried INCRBY answered %d and %d, want 5 from the window", ra[0].Responses[0].Int, rb[0].Responses[0].Int)
		}
		if !maps.EqualFunc(a.s.m, b.s.m, bytes.Equal) {
			t.Fatal("after the same entry on the same state, the two stores differ")
		}
	})
	t.Run("discarded batch", func(t *testing.T) {
		a, b := newHarness(t), newHarness(t)
		cmds := []Command{sessionCmd(1, 1, 1, IncrBy([]byte("n"), 1))}
		a.apply(t0, cmds...)
		b.apply(t0, cmds...)
		es := a.entries(t0, sessionCmd(1, 2, 1, IncrBy([]byte("n"), 1)))
		bt := a.s.NewBatch()
		if _, err := a.m.Apply(es, bt, bt); err != nil { // never committed
			t.Fatal(err)
		}
		a.index--
		a.apply(t0, sessionCmd(1, 2, 1, IncrBy([]byte("n"), 10)))
		r := b.apply(t0, sessionCmd(1, 2, 1, IncrBy([]byte("n"), 10)))
		if r[0].Responses[0].Int != 11 {
			t.Fatalf("INCRBY answered %d, want 11", r[0].Responses[0].Int)
		}
		if !maps.EqualFunc(a.s.m, b.s.m, bytes.Equal) {
			t.Fatal("a discarded batch left its mark on the next Apply")
		}
	})
}
