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

// TestExpireConditions judges EXPIRE's NX, XX, GT and LT at apply time, by
// the key's deadline in the replicated state, as Redis does.
func TestExpireConditions(t *testing.T) {
	sec := int64(time.Second)
	for _, tc := range []struct {
		name     string
		deadline int64 // the key's deadline before; 0: none
		absent   bool
		req      func(Request) Request
		ttl      time.Duration // the EXPIRE's TTL, from group time t0
		want     Code
		after    int64 // the key's deadline after (0: none); -1: deleted
	}{
		{"NX without deadline", 0, false, Request.IfNoDeadline, 10 * time.Second, CodeOK, t0 + 10*sec},
		{"NX with deadline", t0 + 5*sec, false, Request.IfNoDeadline, 10 * time.Second, CodeConditionFailed, t0 + 5*sec},
		{"XX without deadline", 0, false, Request.IfDeadline, 10 * time.Second, CodeConditionFailed, 0},
		{"XX with deadline", t0 + 5*sec, false, Request.IfDeadline, 10 * time.Second, CodeOK, t0 + 10*sec},
		{"GT without deadline", 0, false, Request.IfLater, 10 * time.Second, CodeConditionFailed, 0},
		{"GT later", t0 + 5*sec, false, Request.IfLater, 10 * time.Second, CodeOK, t0 + 10*sec},
		{"GT equal", t0 + 10*sec, false, Request.IfLater, 10 * time.Second, CodeConditionFailed, t0 + 10*sec},
		{"GT earlier", t0 + 20*sec, false, Request.IfLater, 10 * time.Second, CodeConditionFailed, t0 + 20*sec},
		{"LT without deadline", 0, false, Request.IfEarlier, 10 * time.Second, CodeOK, t0 + 10*sec},
		{"LT earlier", t0 + 20*sec, false, Request.IfEarlier, 10 * time.Second, CodeOK, t0 + 10*sec},
		{"LT equal", t0 + 10*sec, false, Request.IfEarlier, 10 * time.Second, CodeConditionFailed, t0 + 10*sec},
		{"LT later", t0 + 5*sec, false, Request.IfEarlier, 10 * time.Second, CodeConditionFailed, t0 + 5*sec},
		{"XX GT", t0 + 5*sec, false, func(r Request) Request { return r.IfDeadline().IfLater() }, 10 * time.Second, CodeOK, t0 + 10*sec},
		{"XX LT without deadline", 0, false, func(r Request) Request { return r.IfDeadline().IfEarlier() }, 10 * time.Second, CodeConditionFailed, 0},
		{"LT in the past deletes", t0 + 5*sec, false, Request.IfEarlier, -time.Second, CodeOK, -1},
		{"GT in the past fails", t0 + 5*sec, false, Request.IfLater, -time.Second, CodeConditionFailed, t0 + 5*sec},
		{"NX on a missing key", 0, true, Request.IfNoDeadline, 10 * time.Second, CodeNotFound, -1},
		{"NX with XX", 0, false, func(r Request) Request { return r.IfNoDeadline().IfDeadline() }, time.Second, CodeMalformed, 0},
		{"NX with GT", 0, false, func(r Request) Request { return r.IfNoDeadline().IfLater() }, time.Second, CodeMalformed, 0},
		{"GT with LT", 0, false, func(r Request) Request { return r.IfLater().IfEarlier() }, time.Second, CodeMalformed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if !tc.absent {
				put := Put(b("k"), b("v"))
				if tc.deadline != 0 {
					put = put.WithDeadline(tc.deadline)
				}
				h.doAt(t0-sec, put)
			}
			before, _ := h.get("k")
			r := h.doAt(t0, tc.req(Expire(b("k"), tc.ttl)))
			if r.Code != tc.want {
				t.Fatalf("code %v, want %v", r.Code, tc.want)
			}
			it, found := h.get("k")
			switch {
			case tc.after == -1:
				if found {
					t.Fatalf("key still there: %+v", it)
				}
			case !found:
				t.Fatal("key gone")
			case it.Deadline != tc.after:
				t.Fatalf("deadline %d, want %d", it.Deadline, tc.after)
			case tc.want != CodeOK && it.Version != before.Version:
				t.Fatalf("a failed condition changed the version %d -> %d", before.Version, it.Version)
			}
			if tc.want == CodeConditionFailed && (r.Version != before.Version || r.Deadline != before.Deadline) {
				t.Fatalf("a failed condition answered version %d deadline %d, want the key's %d %d", r.Version, r.Deadline, before.Version, before.Deadline)
			}
			checkInvariants(t, h.s, testGroup)
		})
	}
}

// TestGetEx is GETEX: EXPIRE or PERSIST answering the key's value, in one
// command.
func TestGetEx(t *testing.T) {
	sec := int64(time.Second)
	for _, tc := range []struct {
		name   string
		setup  Request
		req    Request
		want   Code
		value  string // answered value; "" with HasValue false when absent
		after  int64  // deadline after; -1: deleted
		bumped bool   // the version moved to the entry's index
	}{
		{"EX", Put(b("k"), b("v")), Expire(b("k"), 10*time.Second).ReturnPrev(), CodeOK, "v", t0 + 10*sec, true},
		{"EXAT", Put(b("k"), b("v")), ExpireAt(b("k"), t0+20*sec).ReturnPrev(), CodeOK, "v", t0 + 20*sec, true},
		{"EXAT in the past deletes", Put(b("k"), b("v")), ExpireAt(b("k"), t0-sec).ReturnPrev(), CodeOK, "v", -1, false},
		{"PERSIST", Put(b("k"), b("v")).WithTTL(5 * time.Second), Persist(b("k")).ReturnPrev(), CodeOK, "v", 0, true},
		{"PERSIST without deadline", Put(b("k"), b("v")), Persist(b("k")).ReturnPrev(), CodeOK, "v", 0, false},
		{"missing", Put(b("other"), b("v")), Expire(b("k"), time.Second).ReturnPrev(), CodeNotFound, "", -1, false},
		{"missing PERSIST", Put(b("other"), b("v")), Persist(b("k")).ReturnPrev(), CodeNotFound, "", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.doAt(t0-sec, tc.setup)
			r := h.doAt(t0, tc.req)
			if r.Code != tc.want || r.HasValue != (tc.value != "") || string(r.Value) != tc.value {
				t.Fatalf("got %v %q (has %v), want %v %q", r.Code, r.Value, r.HasValue, tc.want, tc.value)
			}
			it, found := h.get("k")
			switch {
			case tc.after == -1:
				if found {
					t.Fatalf("key still there: %+v", it)
				}
			case !found:
				t.Fatal("key gone")
			case it.Deadline != tc.after || string(it.Value) != "v":
				t.Fatalf("key %+v, want value v deadline %d", it, tc.after)
			case tc.bumped != (it.Version == h.index):
				t.Fatalf("version %d, entry %d, bumped want %v", it.Version, h.index, tc.bumped)
			}
			checkInvariants(t, h.s, testGroup)
		})
	}
}
