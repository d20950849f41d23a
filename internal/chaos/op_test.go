package chaos

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestHistoryRoundTrip(t *testing.T) {
	h := []Op{
		put(0, "x", "a", 0, 10),
		with(swap(1, "x", "b", true, "a", 5, 15), Indeterminate),
		{Client: 2, Process: 3, Kind: CAS, Key: "x", Input: Input{Value: "c", ExpectAbsent: true}, Call: 20, Return: 30, Outcome: Failed, Err: "not applied"},
		read(40, 50, "e1", "e2"),
		ttlPut("t", "v", 1_000_000, 60, 70),
	}
	var buf bytes.Buffer
	if err := WriteHistory(&buf, h); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(h) {
		t.Fatalf("%d lines for %d ops", n, len(h))
	}
	back, err := ReadHistory(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, h) {
		t.Fatalf("round trip:\n%+v\n%+v", back, h)
	}
}

func TestReadHistoryErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":          "{\n",
		"unknown field":     `{"kind":"get","outcome":"ok","colour":1}`,
		"unknown kind":      `{"kind":"incr","outcome":"ok"}`,
		"unknown outcome":   `{"kind":"get","outcome":"maybe"}`,
		"return first":      `{"kind":"get","outcome":"ok","call":5,"return":4}`,
		"two values a line": `{"kind":"get","outcome":"ok"} {"kind":"get","outcome":"ok"}`,
	} {
		_, err := ReadHistory(strings.NewReader(in))
		if !errors.Is(err, ErrHistory) || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: %v", name, err)
		}
	}
	ops, err := ReadHistory(strings.NewReader("\n  \n" + `{"kind":"get","outcome":"indeterminate","call":5,"return":0}` + "\n"))
	if err != nil || len(ops) != 1 {
		t.Errorf("blank lines, indeterminate op: %v %v", ops, err)
	}
}

// FuzzReadHistory: whatever the bytes, ReadHistory returns ops or an error,
// never panics, and what it returns writes back and reads again the same.
func FuzzReadHistory(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteHistory(&buf, []Op{put(0, "x", "a", 0, 10), read(1, 2, "a"), with(get(1, "x", "a", 3, 4), Indeterminate)})
	f.Add(buf.Bytes())
	f.Add([]byte(`{"kind":"cas","outcome":"ok","input":{"expected":"a","value":"b"},"output":{"swapped":true}}`))
	f.Add([]byte("{\"kind\":\"get\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := ReadHistory(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteHistory(&out, ops); err != nil {
			t.Fatal(err)
		}
		again, err := ReadHistory(&out)
		if err != nil {
			t.Fatalf("re-reading what was written: %v", err)
		}
		if len(again) != len(ops) {
			t.Fatalf("%d ops, then %d", len(ops), len(again))
		}
	})
}
