package kv

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// queryHarness holds keys a..j (value "v<key>") and x1 (deadline t0+1s)
// applied at t0.
func queryHarness(t tb) *harness {
	h := newHarness(t)
	var cmds []Command
	for c := 'a'; c <= 'j'; c++ {
		cmds = append(cmds, NewCommand(Put([]byte{byte(c)}, []byte{'v', byte(c)})))
	}
	cmds = append(cmds, NewCommand(Put(b("x1"), b("vx1")).WithTTL(time.Second)))
	h.apply(t0, cmds...)
	return h
}

func TestEvalGet(t *testing.T) {
	h := queryHarness(t)
	rep, err := Eval(h.s, testGroup, GetQuery(b("a"), b("nope"), b("x1")))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Code != CodeOK || rep.GroupTime != t0 || len(rep.Responses) != 3 {
		t.Fatalf("reply %+v", rep)
	}
	if r := rep.Responses[0]; r.Code != CodeOK || !r.HasValue || string(r.Value) != "va" || r.Version != 1 || r.Deadline != 0 {
		t.Fatalf("a: %+v", r)
	}
	if r := rep.Responses[1]; r.Code != CodeNotFound || r.HasValue {
		t.Fatalf("nope: %+v", r)
	}
	if r := rep.Responses[2]; r.Code != CodeOK || string(r.Value) != "vx1" || r.Deadline != t0+int64(time.Second) {
		t.Fatalf("x1: %+v", r)
	}
	rep, err = Eval(h.s, testGroup, CountQuery())
	if err != nil || len(rep.Responses) != 1 || rep.Responses[0].Int != 11 {
		t.Fatalf("count: %+v %v", rep, err)
	}
}

func keysOf(items []Item) string {
	var buf bytes.Buffer
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it.Key)
	}
	return buf.String()
}

func TestEvalScan(t *testing.T) {
	h := queryHarness(t)
	for _, tc := range []struct {
		name  string
		q     Query
		items string
		next  string // "" : nil
		exam  int
	}{
		{"all", ScanQuery(nil, nil, 100), "a,b,c,d,e,f,g,h,i,j,x1", "", 11},
		{"limit", ScanQuery(nil, nil, 3), "a,b,c", "d", 3},
		{"limit at the end", ScanQuery(b("i"), nil, 3), "i,j,x1", "", 3},
		{"range", ScanQuery(b("c"), b("f"), 100), "c,d,e", "", 3},
		{"range limit", ScanQuery(b("c"), b("f"), 2), "c,d", "e", 2},
		{"empty range", ScanQuery(b("f"), b("c"), 100), "", "", 0},
		{"match", Query{Kind: QueryScan, Limit: 100, Match: b("[b-d]")}, "b,c,d", "", 11},
		{"match counts examined keys", Query{Kind: QueryScan, Limit: 4, Match: b("[b-d]")}, "b,c,d", "e", 4},
		{"match nothing", Query{Kind: QueryScan, Limit: 2, Match: b("zz*")}, "", "c", 2},
		{"byte budget", Query{Kind: QueryScan, Limit: 100, MaxBytes: 9}, "a,b,c", "d", 3},
		{"byte budget keeps the first item", Query{Kind: QueryScan, Limit: 100, MaxBytes: 1}, "a", "b", 1},
		{"keys only", Query{Kind: QueryScan, Limit: 100, MaxBytes: 4, KeysOnly: true}, "a,b,c,d", "e", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Eval(h.s, testGroup, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysOf(rep.Items); got != tc.items {
				t.Fatalf("items %s, want %s", got, tc.items)
			}
			if string(rep.Next) != tc.next || (tc.next == "") != (rep.Next == nil) {
				t.Fatalf("next %q, want %q", rep.Next, tc.next)
			}
			if rep.Examined != tc.exam {
				t.Fatalf("examined %d, want %d", rep.Examined, tc.exam)
			}
			for _, it := range rep.Items {
				if tc.q.KeysOnly != (it.Value == nil) {
					t.Fatalf("item %+v with keys only %v", it, tc.q.KeysOnly)
				}
				if !tc.q.KeysOnly && string(it.Value) != "v"+string(it.Key) {
					t.Fatalf("item %+v", it)
				}
			}
			// What the page answers survives its encoding.
			dec, err := DecodeResult(rep.Encode())
			if err != nil || keysOf(dec.Items) != tc.items || !bytes.Equal(dec.Next, rep.Next) || dec.GroupTime != t0 || dec.Examined != rep.Examined {
				t.Fatalf("decoded %+v, %v", dec, err)
			}
		})
	}
}

// TestEvalScanResumes walks a range page by page from Next and sees every
// key once, whatever the limit.
func TestEvalScanResumes(t *testing.T) {
	h := queryHarness(t)
	for limit := 1; limit <= 12; limit++ {
		var seen []Item
		q := ScanQuery(nil, nil, limit)
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("limit %d: no end", limit)
			}
			rep, err := Eval(h.s, testGroup, q)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, rep.Items...)
			if rep.Next == nil {
				break
			}
			q.Start = rep.Next
		}
		if got := keysOf(seen); got != "a,b,c,d,e,f,g,h,i,j,x1" {
			t.Fatalf("limit %d: %s", limit, got)
		}
	}
}

func TestQueryCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    Query
	}{
		{"unknown kind", Query{Kind: 9}},
		{"zero kind", Query{}},
		{"get of nothing", GetQuery()},
		{"get with a limit", Query{Kind: QueryGet, Keys: [][]byte{b("a")}, Limit: 3}},
		{"scan limit 0", ScanQuery(nil, nil, 0)},
		{"scan limit too big", ScanQuery(nil, nil, MaxScanLimit+1)},
		{"scan negative budget", Query{Kind: QueryScan, Limit: 1, MaxBytes: -1}},
		{"scan with keys", Query{Kind: QueryScan, Limit: 1, Keys: [][]byte{b("a")}}},
		{"count with keys", Query{Kind: QueryCount, Keys: [][]byte{b("a")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.q.Check(); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Check = %v, want ErrMalformed", err)
			}
			h := newHarness(t)
			if _, err := Eval(h.s, testGroup, tc.q); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Eval = %v, want ErrMalformed", err)
			}
		})
	}
}

func seedQueries() []Query {
	return []Query{
		GetQuery(b("a")),
		GetQuery(b("a"), b(""), b("ccc")),
		ScanQuery(nil, nil, 10),
		ScanQuery(b("a"), b("z"), 1),
		{Kind: QueryScan, Start: b("p"), End: []byte{}, Limit: 1000, MaxBytes: 3 << 20, Match: b("p*[0-9]"), KeysOnly: true},
		CountQuery(),
	}
}

func TestQueryEncoding(t *testing.T) {
	for i, q := range seedQueries() {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, err := DecodeQuery(q.AppendEncode(nil))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normQuery(got), normQuery(q)) {
				t.Fatalf("round trip: %+v != %+v", got, q)
			}
		})
	}
}

// normQuery makes empty and nil keys equal where the encoding does not
// tell them apart (a get's keys, a scan's start).
func normQuery(q Query) Query {
	for i := range q.Keys {
		if q.Keys[i] == nil {
			q.Keys[i] = []byte{}
		}
	}
	if q.Start == nil && q.Kind == QueryScan {
		q.Start = []byte{}
	}
	return q
}

func FuzzDecodeQuery(f *testing.F) {
	for _, q := range seedQueries() {
		f.Add(q.AppendEncode(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{1, 2, 0xff})
	h := queryHarness(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := DecodeQuery(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		q2, err := DecodeQuery(q.AppendEncode(nil))
		if err != nil || !reflect.DeepEqual(normQuery(q), normQuery(q2)) {
			t.Fatalf("round trip: %+v != %+v (%v)", q, q2, err)
		}
		// Whatever decodes evaluates without failing.
		if _, err := Eval(h.s, testGroup, q); err != nil {
			t.Fatalf("Eval(%+v): %v", q, err)
		}
	})
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"a*", "abc", true},
		{"a*", "bac", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[a-c]x", "bx", true},
		{"[^a-c]x", "bx", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{"user:*:name", "user:42:name", true},
	} {
		if got := Match(b(tc.pattern), b(tc.s)); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
	for _, tc := range []struct{ pattern, prefix string }{
		{"user:*", "user:"}, {"abc", "abc"}, {"*", ""}, {`a\*b*`, "a*b"}, {"ab?", "ab"}, {"ab[c]", "ab"},
	} {
		if got := string(MatchPrefix(b(tc.pattern))); got != tc.prefix {
			t.Errorf("MatchPrefix(%q) = %q, want %q", tc.pattern, got, tc.prefix)
		}
	}
}
