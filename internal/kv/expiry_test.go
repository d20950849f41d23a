package kv

import (
	"testing"
	"time"
)

func TestGroupTimeMonotonic(t *testing.T) {
	h := newHarness(t)
	h.apply(t0+10, NewCommand(Put(b("a"), b("1"))))
	// A new leader with a slower clock stamps an older time.
	rep := h.apply(t0, NewCommand(Put(b("k"), b("v")).WithTTL(time.Second)))[0]
	if rep.GroupTime != t0+10 {
		t.Fatalf("group time %d, want %d", rep.GroupTime, t0+10)
	}
	if d := rep.Responses[0].Deadline; d != t0+10+int64(time.Second) {
		t.Fatalf("deadline %d, want relative to group time %d", d, t0+10)
	}
	st, _ := ReadApplied(h.s, testGroup)
	if st.GroupTime != t0+10 || st.Index != 2 {
		t.Fatalf("applied %+v", st)
	}
}

func applyDue(h *harness, at int64, cmds [][]byte) []Reply {
	var cs []Command
	for _, d := range cmds {
		c, err := DecodeCommand(d)
		if err != nil {
			h.t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return h.apply(at, cs...)
}

func TestDue(t *testing.T) {
	sec := int64(time.Second)
	h := newHarness(t)
	h.apply(t0,
		NewCommand(Put(b("b"), b("1")).WithTTL(2*time.Second)),
		NewCommand(Put(b("a"), b("1")).WithTTL(time.Second)),
		NewCommand(Put(b("c"), b("1"))),
		NewCommand(Put(b("d"), b("1")).WithTTL(10*time.Second)),
	)
	keys := func(cmds [][]byte) []string {
		var ks []string
		for _, d := range cmds {
			c, err := DecodeCommand(d)
			if err != nil || len(c.Requests) != 1 || c.Requests[0].Op != OpExpireIfDue || c.Client != 0 {
				t.Fatalf("Due returned %+v, %v", c, err)
			}
			ks = append(ks, string(c.Requests[0].Key))
		}
		return ks
	}
	for _, tc := range []struct {
		name string
		now  int64
		max  int
		want []string
	}{
		{"none due", t0 + sec - 1, 10, nil},
		{"at the deadline", t0 + sec, 10, []string{"a"}},
		{"earliest first", t0 + 5*sec, 10, []string{"a", "b"}},
		{"max", t0 + 5*sec, 1, []string{"a"}},
		{"max zero", t0 + 5*sec, 0, nil},
		{"all", t0 + 60*sec, 10, []string{"a", "b", "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := keys(h.m.Due(h.s, tc.now, tc.max))
			if len(got) != len(tc.want) {
				t.Fatalf("Due = %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("Due = %q, want %q", got, tc.want)
				}
			}
		})
	}
	t.Run("applying due deletes", func(t *testing.T) {
		reps := applyDue(h, t0+5*sec, h.m.Due(h.s, t0+5*sec, 10))
		for _, r := range reps {
			if r.Responses[0].Code != CodeOK {
				t.Fatalf("reply %+v", r)
			}
		}
		if n, _ := Count(h.s, testGroup); n != 2 {
			t.Fatalf("Count = %d, want 2 (c and d)", n)
		}
		if got := h.m.Due(h.s, t0+5*sec, 10); len(got) != 0 {
			t.Fatalf("still due: %q", keys(got))
		}
	})
}

func TestExpireIfDueSkipsRewrittenKey(t *testing.T) {
	sec := int64(time.Second)
	h := newHarness(t)
	h.do(Put(b("k"), b("1")).WithTTL(time.Second))
	due := h.m.Due(h.s, t0+sec, 10)
	if len(due) != 1 {
		t.Fatalf("%d due", len(due))
	}
	// Set again (same deadline kept) before the leader's delete applies.
	h.doAt(t0+sec, Put(b("k"), b("2")).KeepTTL())
	rep := applyDue(h, t0+2*sec, due)[0]
	if rep.Responses[0].Code != CodeConditionFailed {
		t.Fatalf("reply %+v, want ConditionFailed", rep)
	}
	if it, ok := h.get("k"); !ok || string(it.Value) != "2" {
		t.Fatal("a key set again since was deleted")
	}
	// The next sweep proposes the new version and deletes it.
	rep = applyDue(h, t0+2*sec, h.m.Due(h.s, t0+2*sec, 10))[0]
	if rep.Responses[0].Code != CodeOK {
		t.Fatalf("reply %+v", rep)
	}
	if _, ok := h.get("k"); ok {
		t.Fatal("due key survived")
	}
}
