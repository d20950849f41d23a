package kv

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/storage"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testGroup = 7
	t0        = int64(1_000_000) * int64(time.Second) // group time of the tests' entries
)

// tb is what the harness needs of a test: *testing.T, *testing.B and
// rapid's *rapid.T all have it (rapid.T is no testing.TB).
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// harness applies one entry per command, one Apply call per apply, and
// commits after each, checking the invariants of the replicated state.
type harness struct {
	t     tb
	m     *Machine
	s     *memStore
	index uint64
}

func newHarness(t tb, opts ...Option) *harness {
	return &harness{t: t, m: New(testGroup, opts...), s: newMemStore()}
}

// entries turns commands into entries stamped at time.
func (h *harness) entries(time int64, cmds ...Command) []Entry {
	es := make([]Entry, len(cmds))
	for i := range cmds {
		h.index++
		es[i] = Entry{Index: h.index, Term: 1, Time: time, Data: cmds[i].Encode()}
	}
	return es
}

func (h *harness) applyEntries(es []Entry) []Result {
	h.t.Helper()
	b := h.s.NewBatch()
	res, err := h.m.Apply(es, b, b)
	if err != nil {
		h.t.Fatalf("Apply: %v", err)
	}
	if len(res) != len(es) {
		h.t.Fatalf("Apply returned %d results for %d entries", len(res), len(es))
	}
	if err := b.Commit(true); err != nil {
		h.t.Fatal(err)
	}
	checkInvariants(h.t, h.s, testGroup)
	return res
}

// apply applies cmds at time, each as one entry, and decodes the results.
func (h *harness) apply(time int64, cmds ...Command) []Reply {
	h.t.Helper()
	res := h.applyEntries(h.entries(time, cmds...))
	reps := make([]Reply, len(res))
	for i, r := range res {
		rep, err := DecodeResult(r)
		if err != nil {
			h.t.Fatalf("DecodeResult: %v", err)
		}
		reps[i] = rep
	}
	return reps
}

// do applies one request without a session at time t0 and returns its response.
func (h *harness) do(q Request) Response {
	h.t.Helper()
	return h.doAt(t0, q)
}

func (h *harness) doAt(time int64, q Request) Response {
	h.t.Helper()
	rep := h.apply(time, NewCommand(q))[0]
	if rep.Code != CodeOK || len(rep.Responses) != 1 {
		h.t.Fatalf("command code %v with %d responses", rep.Code, len(rep.Responses))
	}
	return rep.Responses[0]
}

func (h *harness) get(key string) (Item, bool) {
	h.t.Helper()
	it, ok, err := Get(h.s, testGroup, []byte(key))
	if err != nil {
		h.t.Fatal(err)
	}
	return it, ok
}

// checkInvariants checks that the expiry index matches the deadlines of the
// data keys exactly and that the stats count the data keys.
func checkInvariants(t tb, v storage.View, g uint64) {
	t.Helper()
	want := map[string]bool{}
	items, _, err := Scan(v, g, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Deadline != 0 {
			want[string(storage.ExpiryKey(g, it.Deadline, it.Key))] = true
		}
		if it.Version == 0 {
			t.Fatalf("key %q has version 0", it.Key)
		}
	}
	lo, hi := storage.ExpirySpan(g)
	iter, err := v.NewIter(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := iter.First(); ok; ok = iter.Next() {
		n++
		if !want[string(iter.Key())] {
			d := int64(binary.BigEndian.Uint64(iter.Key()[len(lo):]))
			t.Fatalf("stray expiry entry deadline %d key %q", d, iter.Key()[len(lo)+8:])
		}
	}
	iter.Close()
	if n != len(want) {
		t.Fatalf("expiry index has %d entries, data has %d deadlines", n, len(want))
	}
	c, err := Count(v, g)
	if err != nil {
		t.Fatal(err)
	}
	if c != uint64(len(items)) {
		t.Fatalf("Count = %d, %d data keys", c, len(items))
	}
}

func b(s string) []byte { return []byte(s) }

func equalResponse(a, b Response) bool {
	return a.Code == b.Code && a.HasValue == b.HasValue && bytes.Equal(a.Value, b.Value) &&
		a.Version == b.Version && a.Deadline == b.Deadline && a.Int == b.Int
}
