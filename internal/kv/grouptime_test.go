package kv

import (
	"reflect"
	"testing"
)

// The group time kept in memory is the one Apply writes into the store:
// unknown before the first Apply and after a Restore; never going back
// under an entry stamped earlier. EvalAt with it answers what Eval does.
func TestGroupTimeInMemory(t *testing.T) {
	h := newHarness(t)
	if _, ok := h.m.GroupTime(); ok {
		t.Fatal("a new machine knows a group time")
	}
	h.apply(t0, NewCommand(Put([]byte("k"), []byte("v"))))
	h.apply(t0-5, NewCommand(Put([]byte("k2"), []byte("v")))) // a leader with a slower clock
	got, ok := h.m.GroupTime()
	applied, err := ReadApplied(h.s, testGroup)
	if err != nil {
		t.Fatal(err)
	}
	if !ok || got != applied.GroupTime || got != t0 {
		t.Fatalf("group time in memory %d (ok %v), in the store %d, want %d", got, ok, applied.GroupTime, int64(t0))
	}
	for _, q := range []Query{GetQuery([]byte("k"), []byte("absent")), ScanQuery(nil, nil, 10), CountQuery()} {
		want, err := Eval(h.s, testGroup, q)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := EvalAt(h.s, testGroup, q, got)
		if err != nil || !reflect.DeepEqual(rep, want) {
			t.Fatalf("EvalAt %v: %+v %v, Eval: %+v", q.Kind, rep, err, want)
		}
	}
	if _, err := EvalAt(h.s, testGroup, Query{Kind: QueryGet}, got); err == nil {
		t.Fatal("EvalAt took a get of no keys")
	}
	b := h.s.NewBatch()
	if err := h.m.Restore(b, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.m.GroupTime(); ok {
		t.Fatal("the group time of before a Restore is still known")
	}
}
