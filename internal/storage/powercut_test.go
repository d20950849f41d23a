package storage

import (
	"errors"
	"testing"
)

type cut struct{ at CutStage }

// A power cut before the fsync leaves the commit visible but not durable;
// one after it keeps the data; an unarmed switch changes nothing.
func TestPowerSwitch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		armed   CutStage
		durable bool
	}{
		{"unarmed", CutNone, true},
		{"before the fsync", CutBeforeSync, false},
		{"after the fsync", CutAfterSync, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := NewMem()
			s := &PowerSwitch{Mem: mem, Armed: func() CutStage { return tc.armed }, Cut: func(at CutStage) { panic(cut{at}) }}
			b := s.NewBatch()
			if err := b.Set([]byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			var got any
			func() {
				defer func() { got = recover() }()
				if err := b.Commit(true); err != nil {
					t.Fatal(err)
				}
			}()
			if tc.armed != CutNone && got != (cut{tc.armed}) {
				t.Fatalf("Commit(true) armed at %d: recovered %v, want the cut", tc.armed, got)
			}
			if _, err := mem.Get([]byte("k")); err != nil {
				t.Fatalf("the commit is not visible before the crash: %v", err)
			}
			_, err := mem.Crash().Get([]byte("k"))
			if durable := err == nil; durable != tc.durable {
				t.Fatalf("after the crash the key is there: %v (err %v), want %v", durable, err, tc.durable)
			}
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
		})
	}
}
