package kv

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/storage"
)

// self is the want.ver / state.ver of the entry under test; n > 0 is the
// index of the n-th setup entry.
const self = -1

func TestCommands(t *testing.T) {
	sec := int64(time.Second)
	type state struct {
		exists   bool
		val      string
		ver      int
		deadline int64
	}
	type want struct {
		code     Code
		ver      int
		deadline int64
		int      int64
		prev     *string
	}
	str := func(s string) *string { return &s }
	cases := []struct {
		name  string
		setup []Request
		req   Request
		at    int64 // group time of the request; t0 when 0
		want  want
		state state
	}{
		// PUT
		{name: "put/new", req: Put(b("k"), b("v")),
			want: want{code: CodeOK, ver: self}, state: state{true, "v", self, 0}},
		{name: "put/overwrite clears ttl", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Minute)}, req: Put(b("k"), b("v")),
			want: want{code: CodeOK, int: 1, ver: self}, state: state{true, "v", self, 0}},
		{name: "put/empty value", req: Put(b("k"), nil),
			want: want{code: CodeOK, ver: self}, state: state{true, "", self, 0}},
		{name: "put/keepttl", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Minute)}, req: Put(b("k"), b("v")).KeepTTL(),
			want: want{code: CodeOK, int: 1, ver: self, deadline: t0 + 60*sec}, state: state{true, "v", self, t0 + 60*sec}},
		{name: "put/keepttl absent", req: Put(b("k"), b("v")).KeepTTL(),
			want: want{code: CodeOK, ver: self}, state: state{true, "v", self, 0}},
		{name: "put/ttl", req: Put(b("k"), b("v")).WithTTL(10 * time.Second),
			want: want{code: CodeOK, ver: self, deadline: t0 + 10*sec}, state: state{true, "v", self, t0 + 10*sec}},
		{name: "put/ttl replaces ttl", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Minute)}, req: Put(b("k"), b("v")).WithTTL(time.Second),
			want: want{code: CodeOK, int: 1, ver: self, deadline: t0 + sec}, state: state{true, "v", self, t0 + sec}},
		{name: "put/ttl zero invalid", setup: []Request{Put(b("k"), b("a"))}, req: Put(b("k"), b("v")).WithTTL(0),
			want: want{code: CodeInvalidExpire}, state: state{true, "a", 1, 0}},
		{name: "put/ttl negative invalid", req: Put(b("k"), b("v")).WithTTL(-time.Second),
			want: want{code: CodeInvalidExpire}},
		{name: "put/ttl overflow invalid", req: Put(b("k"), b("v")).WithTTL(math.MaxInt64),
			want: want{code: CodeInvalidExpire}},
		{name: "put/deadline", req: Put(b("k"), b("v")).WithDeadline(t0 + 5*sec),
			want: want{code: CodeOK, ver: self, deadline: t0 + 5*sec}, state: state{true, "v", self, t0 + 5*sec}},
		{name: "put/deadline in the past deletes", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Minute)}, req: Put(b("k"), b("v")).WithDeadline(t0 - 1).ReturnPrev(),
			want: want{code: CodeOK, int: 1, deadline: t0 - 1, prev: str("a")}},
		{name: "put/deadline at group time deletes", req: Put(b("k"), b("v")).WithDeadline(t0),
			want: want{code: CodeOK, deadline: t0}},
		{name: "put/deadline negative invalid", req: Put(b("k"), b("v")).WithDeadline(-5),
			want: want{code: CodeInvalidExpire}},
		{name: "put/keepttl with ttl malformed", req: Put(b("k"), b("v")).WithTTL(time.Second).KeepTTL(),
			want: want{code: CodeMalformed}},
		{name: "put/nx absent", req: Put(b("k"), b("v")).IfAbsent(),
			want: want{code: CodeOK, ver: self}, state: state{true, "v", self, 0}},
		{name: "put/nx present", setup: []Request{Put(b("k"), b("a"))}, req: Put(b("k"), b("v")).IfAbsent(),
			want: want{code: CodeConditionFailed, ver: 1}, state: state{true, "a", 1, 0}},
		{name: "put/nx present returns prev", setup: []Request{Put(b("k"), b("a"))}, req: Put(b("k"), b("v")).IfAbsent().ReturnPrev(),
			want: want{code: CodeConditionFailed, ver: 1, prev: str("a")}, state: state{true, "a", 1, 0}},
		{name: "put/xx absent", req: Put(b("k"), b("v")).IfExists(),
			want: want{code: CodeConditionFailed}},
		{name: "put/xx present", setup: []Request{Put(b("k"), b("a"))}, req: Put(b("k"), b("v")).IfExists(),
			want: want{code: CodeOK, int: 1, ver: self}, state: state{true, "v", self, 0}},
		{name: "put/nx and xx malformed", req: Put(b("k"), b("v")).IfAbsent().IfExists(),
			want: want{code: CodeMalformed}},
		{name: "put/if-version match", setup: []Request{Put(b("k"), b("a")), Put(b("k"), b("b"))}, req: Put(b("k"), b("v")).IfVersion(2),
			want: want{code: CodeOK, int: 1, ver: self}, state: state{true, "v", self, 0}},
		{name: "put/if-version mismatch", setup: []Request{Put(b("k"), b("a")), Put(b("k"), b("b"))}, req: Put(b("k"), b("v")).IfVersion(1),
			want: want{code: CodeConditionFailed, ver: 2}, state: state{true, "b", 2, 0}},
		{name: "put/if-version absent", req: Put(b("k"), b("v")).IfVersion(3),
			want: want{code: CodeConditionFailed}},
		{name: "put/if-version 0 absent", req: Put(b("k"), b("v")).IfVersion(0),
			want: want{code: CodeOK, ver: self}, state: state{true, "v", self, 0}},
		{name: "put/if-version 0 present", setup: []Request{Put(b("k"), b("a"))}, req: Put(b("k"), b("v")).IfVersion(0),
			want: want{code: CodeConditionFailed, ver: 1}, state: state{true, "a", 1, 0}},
		// The node's config store (replica.ConfigStore) is this: a PUT on
		// the version, whose conflict answers the current version and value.
		{name: "put/if-version mismatch returns prev", setup: []Request{Put(b("k"), b("a")), Put(b("k"), b("b"))}, req: Put(b("k"), b("v")).IfVersion(1).ReturnPrev(),
			want: want{code: CodeConditionFailed, ver: 2, prev: str("b")}, state: state{true, "b", 2, 0}},
		{name: "put/if-version 0 present returns prev", setup: []Request{Put(b("k"), b("a"))}, req: Put(b("k"), b("v")).IfVersion(0).ReturnPrev(),
			want: want{code: CodeConditionFailed, ver: 1, prev: str("a")}, state: state{true, "a", 1, 0}},
		{name: "put/if-version absent returns no prev", req: Put(b("k"), b("v")).IfVersion(3).ReturnPrev(),
			want: want{code: CodeConditionFailed}},
		{name: "put/cas by value match", setup: []Request{Put(b("k"), b("a"))}, req: Put(b("k"), b("v")).IfValue(b("a")).ReturnPrev(),
			want: want{code: CodeOK, int: 1, ver: self, prev: str("a")}, state: state{true, "v", self, 0}},
		{name: "put/cas by value mismatch", setup: []Request{Put(b("k"), b("a"))}, req: Put(b("k"), b("v")).IfValue(b("x")),
			want: want{code: CodeConditionFailed, ver: 1}, state: state{true, "a", 1, 0}},
		{name: "put/cas by value absent", req: Put(b("k"), b("v")).IfValue(b("")),
			want: want{code: CodeConditionFailed}},
		{name: "put/getset present", setup: []Request{Put(b("k"), b("a"))}, req: Put(b("k"), b("v")).ReturnPrev(),
			want: want{code: CodeOK, int: 1, ver: self, prev: str("a")}, state: state{true, "v", self, 0}},
		{name: "put/getset absent", req: Put(b("k"), b("v")).ReturnPrev(),
			want: want{code: CodeOK, ver: self}, state: state{true, "v", self, 0}},
		// DELETE
		{name: "delete/present", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Minute)}, req: Delete(b("k")),
			want: want{code: CodeOK, int: 1}},
		{name: "delete/absent", req: Delete(b("k")),
			want: want{code: CodeNotFound}},
		{name: "delete/getdel", setup: []Request{Put(b("k"), b("a"))}, req: Delete(b("k")).ReturnPrev(),
			want: want{code: CodeOK, int: 1, prev: str("a")}},
		{name: "delete/if-version match", setup: []Request{Put(b("k"), b("a"))}, req: Delete(b("k")).IfVersion(1),
			want: want{code: CodeOK, int: 1}},
		{name: "delete/if-version mismatch", setup: []Request{Put(b("k"), b("a"))}, req: Delete(b("k")).IfVersion(9),
			want: want{code: CodeConditionFailed, ver: 1}, state: state{true, "a", 1, 0}},
		{name: "delete/if-value match", setup: []Request{Put(b("k"), b("a"))}, req: Delete(b("k")).IfValue(b("a")),
			want: want{code: CodeOK, int: 1}},
		{name: "delete/if-value mismatch", setup: []Request{Put(b("k"), b("a"))}, req: Delete(b("k")).IfValue(b("b")).ReturnPrev(),
			want: want{code: CodeConditionFailed, ver: 1, prev: str("a")}, state: state{true, "a", 1, 0}},
		{name: "delete/nx malformed", req: Delete(b("k")).IfAbsent(),
			want: want{code: CodeMalformed}},
		// INCRBY
		{name: "incrby/absent counts as 0", req: IncrBy(b("k"), 5),
			want: want{code: CodeOK, ver: self, int: 5}, state: state{true, "5", self, 0}},
		{name: "incrby/existing", setup: []Request{Put(b("k"), b("10"))}, req: IncrBy(b("k"), -15),
			want: want{code: CodeOK, ver: self, int: -5}, state: state{true, "-5", self, 0}},
		{name: "incrby/keeps ttl", setup: []Request{Put(b("k"), b("1")).WithTTL(time.Minute)}, req: IncrBy(b("k"), 1),
			want: want{code: CodeOK, ver: self, int: 2, deadline: t0 + 60*sec}, state: state{true, "2", self, t0 + 60*sec}},
		{name: "incrby/zero", setup: []Request{Put(b("k"), b("0"))}, req: IncrBy(b("k"), 0),
			want: want{code: CodeOK, ver: self}, state: state{true, "0", self, 0}},
		{name: "incrby/min int64", setup: []Request{Put(b("k"), b("-9223372036854775808"))}, req: IncrBy(b("k"), 1),
			want: want{code: CodeOK, ver: self, int: math.MinInt64 + 1}, state: state{true, "-9223372036854775807", self, 0}},
		{name: "incrby/not integer", setup: []Request{Put(b("k"), b("abc"))}, req: IncrBy(b("k"), 1),
			want: want{code: CodeNotInteger, ver: 1}, state: state{true, "abc", 1, 0}},
		{name: "incrby/leading zero", setup: []Request{Put(b("k"), b("01"))}, req: IncrBy(b("k"), 1),
			want: want{code: CodeNotInteger, ver: 1}, state: state{true, "01", 1, 0}},
		{name: "incrby/plus sign", setup: []Request{Put(b("k"), b("+1"))}, req: IncrBy(b("k"), 1),
			want: want{code: CodeNotInteger, ver: 1}, state: state{true, "+1", 1, 0}},
		{name: "incrby/minus zero", setup: []Request{Put(b("k"), b("-0"))}, req: IncrBy(b("k"), 1),
			want: want{code: CodeNotInteger, ver: 1}, state: state{true, "-0", 1, 0}},
		{name: "incrby/space", setup: []Request{Put(b("k"), b(" 1"))}, req: IncrBy(b("k"), 1),
			want: want{code: CodeNotInteger, ver: 1}, state: state{true, " 1", 1, 0}},
		{name: "incrby/empty", setup: []Request{Put(b("k"), nil)}, req: IncrBy(b("k"), 1),
			want: want{code: CodeNotInteger, ver: 1}, state: state{true, "", 1, 0}},
		{name: "incrby/out of range value", setup: []Request{Put(b("k"), b("9223372036854775808"))}, req: IncrBy(b("k"), -1),
			want: want{code: CodeNotInteger, ver: 1}, state: state{true, "9223372036854775808", 1, 0}},
		{name: "incrby/overflow", setup: []Request{Put(b("k"), b("9223372036854775807"))}, req: IncrBy(b("k"), 1),
			want: want{code: CodeOverflow, ver: 1}, state: state{true, "9223372036854775807", 1, 0}},
		{name: "incrby/underflow", setup: []Request{Put(b("k"), b("-9223372036854775808"))}, req: IncrBy(b("k"), -1),
			want: want{code: CodeOverflow, ver: 1}, state: state{true, "-9223372036854775808", 1, 0}},
		// APPEND
		{name: "append/absent", req: Append(b("k"), b("abc")),
			want: want{code: CodeOK, ver: self, int: 3}, state: state{true, "abc", self, 0}},
		{name: "append/existing keeps ttl", setup: []Request{Put(b("k"), b("ab")).WithTTL(time.Minute)}, req: Append(b("k"), b("cd")),
			want: want{code: CodeOK, ver: self, int: 4, deadline: t0 + 60*sec}, state: state{true, "abcd", self, t0 + 60*sec}},
		// EXPIRE
		{name: "expire/absent", req: Expire(b("k"), time.Minute),
			want: want{code: CodeNotFound}},
		{name: "expire/ttl", setup: []Request{Put(b("k"), b("a"))}, req: Expire(b("k"), time.Minute),
			want: want{code: CodeOK, ver: self, int: 1, deadline: t0 + 60*sec}, state: state{true, "a", self, t0 + 60*sec}},
		{name: "expire/ttl replaces", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Hour)}, req: Expire(b("k"), time.Minute),
			want: want{code: CodeOK, ver: self, int: 1, deadline: t0 + 60*sec}, state: state{true, "a", self, t0 + 60*sec}},
		{name: "expire/ttl zero deletes", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Hour)}, req: Expire(b("k"), 0),
			want: want{code: CodeOK, int: 1}},
		{name: "expire/ttl negative deletes", setup: []Request{Put(b("k"), b("a"))}, req: Expire(b("k"), -time.Second),
			want: want{code: CodeOK, int: 1}},
		{name: "expire/at in the past deletes", setup: []Request{Put(b("k"), b("a"))}, req: ExpireAt(b("k"), t0-sec),
			want: want{code: CodeOK, int: 1}},
		{name: "expire/at in the future", setup: []Request{Put(b("k"), b("a"))}, req: ExpireAt(b("k"), t0+sec),
			want: want{code: CodeOK, ver: self, int: 1, deadline: t0 + sec}, state: state{true, "a", self, t0 + sec}},
		{name: "expire/overflow invalid", setup: []Request{Put(b("k"), b("a"))}, req: Expire(b("k"), math.MaxInt64),
			want: want{code: CodeInvalidExpire}, state: state{true, "a", 1, 0}},
		{name: "expire/no deadline malformed", setup: []Request{Put(b("k"), b("a"))}, req: Request{Op: OpExpire, Key: b("k")},
			want: want{code: CodeMalformed}, state: state{true, "a", 1, 0}},
		// PERSIST
		{name: "persist/absent", req: Persist(b("k")),
			want: want{code: CodeNotFound}},
		{name: "persist/no ttl", setup: []Request{Put(b("k"), b("a"))}, req: Persist(b("k")),
			want: want{code: CodeOK, ver: 1}, state: state{true, "a", 1, 0}},
		{name: "persist/ttl", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Minute)}, req: Persist(b("k")),
			want: want{code: CodeOK, ver: self, int: 1}, state: state{true, "a", self, 0}},
		// EXPIRE-IF-DUE
		{name: "expire-if-due/absent", req: ExpireIfDue(b("k"), 1),
			want: want{code: CodeNotFound}},
		{name: "expire-if-due/due", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Second)}, req: ExpireIfDue(b("k"), 1), at: t0 + sec,
			want: want{code: CodeOK, int: 1}},
		{name: "expire-if-due/not yet due", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Second)}, req: ExpireIfDue(b("k"), 1), at: t0 + sec - 1,
			want: want{code: CodeConditionFailed, ver: 1, deadline: t0 + sec}, state: state{true, "a", 1, t0 + sec}},
		{name: "expire-if-due/version changed", setup: []Request{Put(b("k"), b("a")).WithTTL(time.Second), Put(b("k"), b("b")).KeepTTL()}, req: ExpireIfDue(b("k"), 1), at: t0 + 2*sec,
			want: want{code: CodeConditionFailed, ver: 2, deadline: t0 + sec}, state: state{true, "b", 2, t0 + sec}},
		{name: "expire-if-due/no deadline", setup: []Request{Put(b("k"), b("a"))}, req: ExpireIfDue(b("k"), 1), at: t0 + 2*sec,
			want: want{code: CodeConditionFailed, ver: 1}, state: state{true, "a", 1, 0}},
		// Misuse
		{name: "flags/unknown op flags malformed", req: Request{Op: OpPersist, Flags: FlagKeepTTL, Key: b("k")},
			want: want{code: CodeMalformed}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for _, q := range tc.setup {
				if r := h.do(q); r.Code != CodeOK {
					t.Fatalf("setup %v: %v", q.Op, r.Code)
				}
			}
			at := tc.at
			if at == 0 {
				at = t0
			}
			got := h.doAt(at, tc.req)
			ver := func(v int) uint64 {
				if v == self {
					return h.index
				}
				return uint64(v)
			}
			w := Response{Code: tc.want.code, Version: ver(tc.want.ver), Deadline: tc.want.deadline, Int: tc.want.int}
			if tc.want.prev != nil {
				w.Value, w.HasValue = []byte(*tc.want.prev), true
			}
			if !equalResponse(got, w) {
				t.Errorf("response = %+v, want %+v", got, w)
			}
			it, ok := h.get("k")
			if ok != tc.state.exists {
				t.Fatalf("exists = %v, want %v", ok, tc.state.exists)
			}
			if ok && (string(it.Value) != tc.state.val || it.Version != ver(tc.state.ver) || it.Deadline != tc.state.deadline) {
				t.Errorf("state = %q v%d d%d, want %q v%d d%d", it.Value, it.Version, it.Deadline,
					tc.state.val, ver(tc.state.ver), tc.state.deadline)
			}
		})
	}
}

func TestFlush(t *testing.T) {
	h := newHarness(t)
	h.do(Put(b("a"), b("1")))
	h.do(Put(b("b"), b("2")).WithTTL(time.Minute))
	h.do(Put(b("c"), b("3")))
	got := h.do(Flush())
	if got.Code != CodeOK || got.Int != 3 {
		t.Fatalf("flush = %+v, want OK 3", got)
	}
	if items, _, _ := Scan(h.s, testGroup, nil, nil, 0); len(items) != 0 {
		t.Fatalf("%d keys left after flush", len(items))
	}
	if n, _ := Count(h.s, testGroup); n != 0 {
		t.Fatalf("Count = %d after flush", n)
	}
	if r := h.do(Put(b("a"), b("x"))); r.Code != CodeOK {
		t.Fatal(r.Code)
	}
	if n, _ := Count(h.s, testGroup); n != 1 {
		t.Fatalf("Count = %d after a put", n)
	}
	t.Run("with other requests malformed", func(t *testing.T) {
		rep := h.apply(t0, NewCommand(Put(b("z"), b("1")), Flush()))[0]
		if rep.Code != CodeOK || rep.Responses[1].Code != CodeMalformed {
			t.Fatalf("reply %+v", rep)
		}
	})
}

func TestMultiRequest(t *testing.T) {
	t.Run("later request sees earlier", func(t *testing.T) {
		h := newHarness(t)
		rep := h.apply(t0, NewCommand(Put(b("k"), b("1")).WithTTL(time.Minute), IncrBy(b("k"), 1), Append(b("k"), b("0"))))[0]
		if rep.Code != CodeOK || rep.Responses[1].Int != 2 || rep.Responses[2].Int != 2 {
			t.Fatalf("reply %+v", rep)
		}
		it, _ := h.get("k")
		if string(it.Value) != "20" || it.Version != h.index || it.Deadline != t0+int64(time.Minute) {
			t.Fatalf("item %+v", it)
		}
	})
	t.Run("without all-or-nothing each applies", func(t *testing.T) {
		h := newHarness(t)
		h.do(Put(b("a"), b("old")))
		rep := h.apply(t0, NewCommand(Put(b("a"), b("1")).IfAbsent(), Put(b("b"), b("2")).IfAbsent()))[0]
		if rep.Code != CodeOK || rep.Responses[0].Code != CodeConditionFailed || rep.Responses[1].Code != CodeOK {
			t.Fatalf("reply %+v", rep)
		}
		if _, ok := h.get("b"); !ok {
			t.Fatal("b not written")
		}
	})
	t.Run("all-or-nothing one fails none applies", func(t *testing.T) {
		h := newHarness(t)
		h.do(Put(b("b"), b("old")))
		c := NewCommand(Put(b("a"), b("1")).IfAbsent(), Put(b("b"), b("2")).IfAbsent(), Put(b("c"), b("3")).IfAbsent())
		c.AllOrNothing = true
		rep := h.apply(t0, c)[0]
		want := []Code{CodeAborted, CodeConditionFailed, CodeAborted}
		if rep.Code != CodeAborted || len(rep.Responses) != 3 {
			t.Fatalf("reply %+v", rep)
		}
		for i, w := range want {
			if rep.Responses[i].Code != w {
				t.Errorf("response %d = %v, want %v", i, rep.Responses[i].Code, w)
			}
		}
		if _, ok := h.get("a"); ok {
			t.Error("a written")
		}
		if it, _ := h.get("b"); string(it.Value) != "old" {
			t.Error("b overwritten")
		}
	})
	t.Run("all-or-nothing all hold all apply", func(t *testing.T) {
		h := newHarness(t)
		c := NewCommand(Put(b("a"), b("1")).IfAbsent(), Put(b("b"), b("2")).IfAbsent())
		c.AllOrNothing = true
		rep := h.apply(t0, c)[0]
		if rep.Code != CodeOK || rep.Responses[0].Code != CodeOK || rep.Responses[1].Code != CodeOK {
			t.Fatalf("reply %+v", rep)
		}
		if n, _ := Count(h.s, testGroup); n != 2 {
			t.Fatalf("Count = %d", n)
		}
	})
	t.Run("all-or-nothing incr error aborts", func(t *testing.T) {
		h := newHarness(t)
		h.do(Put(b("s"), b("x")))
		c := NewCommand(Put(b("a"), b("1")), IncrBy(b("s"), 1))
		c.AllOrNothing = true
		if rep := h.apply(t0, c)[0]; rep.Code != CodeAborted || rep.Responses[1].Code != CodeNotInteger {
			t.Fatalf("reply %+v", rep)
		}
		if _, ok := h.get("a"); ok {
			t.Error("a written")
		}
	})
	t.Run("many keys in one command", func(t *testing.T) {
		h := newHarness(t)
		var reqs []Request
		for i := range 40 {
			reqs = append(reqs, Put([]byte{byte('a' + i%20)}, []byte{byte(i)}))
		}
		h.apply(t0, NewCommand(reqs...))
		if n, _ := Count(h.s, testGroup); n != 20 {
			t.Fatalf("Count = %d, want 20", n)
		}
		it, _ := h.get("a")
		if it.Value[0] != 20 {
			t.Fatalf("a = %v, want the later write", it.Value)
		}
	})
}

func TestApplyEdges(t *testing.T) {
	t.Run("empty entry", func(t *testing.T) {
		h := newHarness(t)
		res := h.applyEntries([]Entry{{Index: 1, Term: 2, Time: t0}})
		if res[0] != nil {
			t.Fatalf("result %v, want nil", res[0])
		}
		st, err := ReadApplied(h.s, testGroup)
		if err != nil || st != (storage.AppliedState{Index: 1, Term: 2, GroupTime: t0}) {
			t.Fatalf("applied %+v %v", st, err)
		}
	})
	t.Run("garbage is malformed", func(t *testing.T) {
		h := newHarness(t)
		res := h.applyEntries([]Entry{{Index: 1, Term: 1, Time: t0, Data: []byte{1, 2, 3}}})
		rep, err := DecodeResult(res[0])
		if err != nil || rep.Code != CodeMalformed {
			t.Fatalf("reply %+v %v", rep, err)
		}
	})
	t.Run("no entries", func(t *testing.T) {
		h := newHarness(t)
		b := h.s.NewBatch()
		res, err := h.m.Apply(nil, b, b)
		if res != nil || err != nil || !b.Empty() {
			t.Fatalf("Apply(nil) = %v, %v; batch empty %v", res, err, b.Empty())
		}
	})
	t.Run("index going backwards is an error", func(t *testing.T) {
		h := newHarness(t)
		h.applyEntries([]Entry{{Index: 1, Term: 1, Time: t0}})
		b := h.s.NewBatch()
		if _, err := h.m.Apply([]Entry{{Index: 1, Term: 1}}, b, b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("re-applying index 1: err %v, want ErrCorrupt", err)
		}
	})
	t.Run("a gap is an error", func(t *testing.T) {
		h := newHarness(t)
		h.applyEntries([]Entry{{Index: 1, Term: 1, Time: t0}})
		for _, ents := range [][]Entry{
			{{Index: 3, Term: 1}},                      // the first entry skips 2
			{{Index: 2, Term: 1}, {Index: 4, Term: 1}}, // a gap inside the call
		} {
			b := h.s.NewBatch()
			if _, err := h.m.Apply(ents, b, b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Apply(%v) after 1: err %v, want ErrCorrupt", ents, err)
			}
			b.Close()
		}
		// The refused calls left the machine able to apply 2 next.
		b := h.s.NewBatch()
		if _, err := h.m.Apply([]Entry{{Index: 2, Term: 1}}, b, b); err != nil {
			t.Fatalf("Apply(2) after refused calls: %v", err)
		}
		b.Close()
	})
	t.Run("corrupt record is an error", func(t *testing.T) {
		h := newHarness(t)
		h.s.set(string(storage.DataKey(testGroup, b("k"))), []byte{9, 9})
		c := NewCommand(Put(b("k"), b("v")))
		bt := h.s.NewBatch()
		if _, err := h.m.Apply([]Entry{{Index: 1, Data: c.Encode()}}, bt, bt); err == nil {
			t.Fatal("corrupt record not reported")
		}
	})
}

func TestScanAndGet(t *testing.T) {
	h := newHarness(t)
	for _, k := range []string{"a", "ab", "abc", "b", "c"} {
		h.do(Put(b(k), b("v"+k)))
	}
	items, next, err := Scan(h.s, testGroup, b("a"), PrefixEnd(b("a")), 0)
	if err != nil || len(items) != 3 || next != nil {
		t.Fatalf("prefix scan: %d items next %q err %v", len(items), next, err)
	}
	items, next, _ = Scan(h.s, testGroup, nil, nil, 2)
	if len(items) != 2 || string(next) != "abc" {
		t.Fatalf("limited scan: %d items next %q", len(items), next)
	}
	items, next, _ = Scan(h.s, testGroup, next, nil, 10)
	if len(items) != 3 || next != nil || string(items[0].Key) != "abc" || string(items[2].Value) != "vc" {
		t.Fatalf("resumed scan: %+v next %q", items, next)
	}
	if PrefixEnd([]byte{0xff, 0xff}) != nil || string(PrefixEnd([]byte{'a', 0xff})) != "b" {
		t.Fatal("PrefixEnd")
	}
	if _, ok := h.get("zz"); ok {
		t.Fatal("absent key found")
	}
	if it, ok := h.get("ab"); !ok || string(it.Value) != "vab" || it.Version != 2 {
		t.Fatalf("Get ab = %+v %v", it, ok)
	}
}

// Restore replaces the whole replicated span with a snapshot's pairs and
// refuses a pair outside it, writing nothing.
func TestRestore(t *testing.T) {
	st := storage.NewMem()
	m := New(7)
	b := st.NewBatch()
	if err := errors.Join(b.Set(storage.DataKey(7, []byte("old")), []byte("x")),
		b.Set(storage.DataKey(8, []byte("other")), []byte("y")), b.Commit(true)); err != nil {
		t.Fatal(err)
	}
	b = st.NewBatch()
	if err := m.Restore(b, [][2][]byte{{storage.DataKey(7, []byte("new")), []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(storage.DataKey(7, []byte("old"))); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a key of the group survived the restore: %v", err)
	}
	if v, err := st.Get(storage.DataKey(7, []byte("new"))); err != nil || string(v) != "v" {
		t.Fatalf("restored key = %q, %v", v, err)
	}
	if v, err := st.Get(storage.DataKey(8, []byte("other"))); err != nil || string(v) != "y" {
		t.Fatalf("another group's key = %q, %v", v, err)
	}
	b = st.NewBatch()
	defer b.Close()
	if err := m.Restore(b, [][2][]byte{{storage.DataKey(8, []byte("k")), []byte("v")}}); err == nil {
		t.Fatal("a pair of another group was restored")
	}
}

// A snapshot restored at the very index the machine had applied (a
// replica rebuilt after a failover lost what it applied: same index,
// other entries) must not leave the cached sessions and stats of the
// state it replaced: the next entry, which directly follows the cached
// applied index, would read them instead of the restored ones.
func TestRestoreAtTheAppliedIndexDropsTheCache(t *testing.T) {
	a, b := newHarness(t), newHarness(t)
	a.apply(t0, NewCommand(IncrBy([]byte("a"), 1)).WithSession(5, 1, 1))
	b.apply(t0, NewCommand(IncrBy([]byte("b"), 5), Put([]byte("c"), []byte("vc"))).WithSession(5, 1, 1))
	// a takes b's state, at index 1 as its own was.
	start, end := storage.ReplicatedSpan(testGroup)
	it, err := b.s.NewIter(start, end)
	if err != nil {
		t.Fatal(err)
	}
	var pairs [][2][]byte
	for ok := it.First(); ok; ok = it.Next() {
		pairs = append(pairs, [2][]byte{bytes.Clone(it.Key()), bytes.Clone(it.Value())})
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	batch := a.s.NewBatch()
	if err := a.m.Restore(batch, pairs); err != nil {
		t.Fatal(err)
	}
	if err := batch.Commit(true); err != nil {
		t.Fatal(err)
	}
	next := NewCommand(IncrBy([]byte("b"), 1)).WithSession(5, 2, 1) // seq 1's answer stays in the window
	a.apply(t0, next)
	b.apply(t0, next)
	ia, sa, err := a.m.Digest(a.s)
	if err != nil {
		t.Fatal(err)
	}
	ib, sb, err := b.m.Digest(b.s)
	if err != nil {
		t.Fatal(err)
	}
	if ia != ib || sa != sb {
		t.Fatalf("after the restore and one more entry: %d %x vs %d %x", ia, sa[:6], ib, sb[:6])
	}
}
