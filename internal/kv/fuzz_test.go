package kv

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/storage"
)

func seedCommands() []Command {
	c := NewCommand(Put(b("a"), b("1")).IfAbsent(), Put(b("b"), b("2")).IfAbsent())
	c.AllOrNothing = true
	return []Command{
		NewCommand(Put(b("k"), b("v"))),
		NewCommand(Put(b("k"), b("v")).WithTTL(time.Second).IfVersion(3).IfValue(b("o")).ReturnPrev()),
		NewCommand(Put(b("k"), b("v")).WithDeadline(12345).IfExists()).WithSession(1, 2, 1),
		NewCommand(Delete(b("k")).ReturnPrev(), IncrBy(b("n"), -3), Append(b("s"), b("x"))),
		NewCommand(Expire(b("k"), -time.Second), ExpireAt(b("k"), 99), Persist(b("k"))),
		NewCommand(Flush()),
		NewCommand(ExpireIfDue(b("k"), 7)),
		c,
		NewCommand(),
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, c := range seedCommands() {
		f.Add(c.Encode())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		c2, err := DecodeCommand(c.Encode())
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if !reflect.DeepEqual(normCommand(c), normCommand(c2)) {
			t.Fatalf("round trip: %+v != %+v", c, c2)
		}
	})
}

// normCommand makes empty byte fields nil so that DeepEqual compares values.
func normCommand(c Command) Command {
	n := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return b
	}
	c.Requests = append([]Request(nil), c.Requests...)
	for i := range c.Requests {
		q := &c.Requests[i]
		q.Key, q.Value, q.Expected = n(q.Key), n(q.Value), n(q.Expected)
	}
	if len(c.Requests) == 0 {
		c.Requests = nil
	}
	return c
}

func FuzzDecodeResult(f *testing.F) {
	reps := []Reply{
		{Code: CodeOK, GroupTime: t0, Responses: []Response{{Code: CodeOK, Version: 5}}},
		{Code: CodeOK, GroupTime: t0, Responses: []Response{{Code: CodeConditionFailed, Value: b("prev"), HasValue: true, Version: 9, Deadline: t0 + 1, Int: -4}, {Code: CodeNotFound}}},
		{Code: CodeSessionExpired, GroupTime: -1},
		{Code: CodeAborted, Responses: []Response{{Code: CodeAborted}, {Code: CodeNotInteger}}},
		{Code: CodeOK, GroupTime: t0, Items: []Item{{Key: b("a"), Value: b("1"), Version: 3, Deadline: t0}, {Key: b("b")}}, Next: b("c"), Examined: 5},
		{Code: CodeOK, Items: []Item{{Key: b("a"), Value: b("")}}},
	}
	for i := range reps {
		f.Add([]byte(reps[i].Encode()))
	}
	f.Add([]byte{1, 0, 0, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := DecodeResult(data)
		if err != nil {
			return
		}
		rep2, err := DecodeResult(rep.Encode())
		if err != nil {
			t.Fatalf("re-encoded result does not decode: %v", err)
		}
		if rep.Code != rep2.Code || rep.GroupTime != rep2.GroupTime || len(rep.Responses) != len(rep2.Responses) {
			t.Fatalf("round trip: %+v != %+v", rep, rep2)
		}
		for i := range rep.Responses {
			if !equalResponse(rep.Responses[i], rep2.Responses[i]) {
				t.Fatalf("response %d: %+v != %+v", i, rep.Responses[i], rep2.Responses[i])
			}
		}
		if len(rep.Items) != len(rep2.Items) || rep.Examined != rep2.Examined || !bytes.Equal(rep.Next, rep2.Next) || (rep.Next == nil) != (rep2.Next == nil) {
			t.Fatalf("round trip of the page: %+v != %+v", rep, rep2)
		}
		for i := range rep.Items {
			a, c := rep.Items[i], rep2.Items[i]
			if !bytes.Equal(a.Key, c.Key) || !bytes.Equal(a.Value, c.Value) || a.Version != c.Version || a.Deadline != c.Deadline {
				t.Fatalf("item %d: %+v != %+v", i, a, c)
			}
		}
	})
}

// FuzzDecodeStored covers the decoders of replicated state read from disk:
// data records, sessions and stats.
func FuzzDecodeStored(f *testing.F) {
	r := record{Value: b("value"), Version: 3, Deadline: t0}
	f.Add(r.appendEncode(nil))
	s := session{LastActive: t0, Low: 2, Results: []windowEntry{{2, b("r2")}, {5, b("r5")}}}
	f.Add(s.appendEncode(nil))
	st := stats{Keys: 10, Sweep: 4}
	f.Add(st.appendEncode(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := decodeRecord(data); err == nil {
			if r2, err := decodeRecord(r.appendEncode(nil)); err != nil || !bytes.Equal(r.Value, r2.Value) || r.Version != r2.Version || r.Deadline != r2.Deadline {
				t.Fatalf("record round trip: %+v %+v %v", r, r2, err)
			}
		}
		if s, err := decodeSession(data); err == nil {
			if _, err := decodeSession(s.appendEncode(nil)); err != nil {
				t.Fatalf("session round trip: %v", err)
			}
			for _, w := range s.Results {
				s.lookup(w.Seq)
			}
			s.advance(s.Low+1, 2)
		}
		_, _ = sessionLastActive(data)
		if st, err := decodeStats(data); err == nil {
			if st2, err := decodeStats(st.appendEncode(nil)); err != nil || st != st2 {
				t.Fatalf("stats round trip: %+v %+v %v", st, st2, err)
			}
		}
	})
}

// FuzzApply feeds arbitrary entry data to Apply: it must answer, never fail
// or panic, and keep the state's invariants.
func FuzzApply(f *testing.F) {
	for _, c := range seedCommands() {
		f.Add(c.Encode(), int64(0))
	}
	f.Add([]byte{0xff}, int64(-5))
	f.Fuzz(func(t *testing.T, data []byte, dt int64) {
		h := newHarness(t)
		h.apply(t0, NewCommand(Put(b("k"), b("12")).WithTTL(time.Second)), NewCommand(Put(b("a"), b("x"))))
		h.index++
		res := h.applyEntries([]Entry{{Index: h.index, Term: 1, Time: t0 + dt, Data: data}})
		if len(data) > 0 {
			if _, err := DecodeResult(res[0]); err != nil {
				t.Fatalf("Apply answered an undecodable result: %v", err)
			}
		}
		if _, _, err := h.m.Digest(h.s); err != nil {
			t.Fatal(err)
		}
		h.m.Due(h.s, t0+dt, 10)
		if _, err := Count(h.s, testGroup); err != nil {
			t.Fatal(err)
		}
		_ = storage.ErrNotFound
	})
}
