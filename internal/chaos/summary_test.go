package chaos

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

func TestLongestUnavailable(t *testing.T) {
	tests := []struct {
		name       string
		h          []Op
		start, end int64
	}{
		{"empty", nil, 0, 0},
		{"steady", []Op{
			put(0, "x", "a", 0, 1*sec), put(0, "x", "b", 1*sec, 2*sec), put(0, "x", "c", 2*sec, 3*sec),
		}, 0, 1 * sec},
		{"a gap of failures between oks", []Op{
			put(0, "x", "a", 0, 1*sec),
			with(put(0, "x", "b", 1*sec, 3*sec), Failed),
			with(put(1, "x", "c", 2*sec, 6*sec), Indeterminate),
			put(0, "x", "d", 3*sec, 7*sec),
			put(0, "x", "e", 7*sec, 8*sec),
		}, 1 * sec, 7 * sec},
		{"idle time is not unavailability", []Op{
			put(0, "x", "a", 0, 1*sec),
			put(0, "x", "b", 100*sec, 101*sec),
		}, 0, 1 * sec},
		{"nothing ok", []Op{
			with(put(0, "x", "a", 5*sec, 9*sec), Failed),
		}, 5 * sec, 9 * sec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := LongestUnavailable(tt.h)
			if w.Start != tt.start || w.End != tt.end {
				t.Fatalf("window %+v, want [%d, %d]", w, tt.start, tt.end)
			}
			if want := float64(tt.end-tt.start) / 1e9; w.Seconds != want {
				t.Errorf("seconds %v, want %v", w.Seconds, want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	h := []Op{
		put(0, "x", "a", 0, 1*sec),
		with(put(0, "x", "b", 1*sec, 3*sec), Failed),
		with(put(1, "x", "c", 2*sec, 6*sec), Indeterminate),
		get(0, "x", "a", 3*sec, 7*sec),
		add("e", OK, 7*sec, 10*sec),
	}
	faults := []Fault{
		{Kind: Kill, Node: "n1", Start: 1 * sec, End: 3 * sec},
		{Kind: Kill, Node: "n2", Start: 4 * sec, End: 5 * sec},
		{Kind: Partition, Start: 2 * sec, End: 4 * sec},
		{Kind: Clock, Node: "n3", Start: 9 * sec}, // never healed: runs to the end, 10 s
	}
	s := NewSummary(h, faults)
	s.Workload, s.Engine, s.Nemesis, s.Seed = "register", "raft", "kill,partition,clock", 7
	if s.Verdict != VerdictUnknown || !s.Failed() {
		t.Errorf("a summary with no history checked must fail: %s", s.Verdict)
	}
	if s.Ops != (OpCounts{Total: 5, OK: 3, Failed: 1, Indeterminate: 1}) {
		t.Errorf("ops %+v", s.Ops)
	}
	if s.OpsByKind[Put] != (OpCounts{Total: 3, OK: 1, Failed: 1, Indeterminate: 1}) || s.OpsByKind[Add].OK != 1 {
		t.Errorf("by kind %+v", s.OpsByKind)
	}
	if s.Faults[Kill] != (FaultStats{Count: 2, Seconds: 3}) || s.Faults[Partition] != (FaultStats{Count: 1, Seconds: 2}) ||
		s.Faults[Clock] != (FaultStats{Count: 1, Seconds: 1}) {
		t.Errorf("faults %+v", s.Faults)
	}
	if s.FaultSeconds != 5 { // [1,4] ∪ [4,5] ∪ [9,10]
		t.Errorf("fault seconds %v", s.FaultSeconds)
	}
	if s.Seconds != 10 || s.LongestUnavailable.Seconds != 6 {
		t.Errorf("seconds %v, longest unavailable %+v", s.Seconds, s.LongestUnavailable)
	}

	s.AddCheck(HistoryCheck{Name: "register", Workload: "register", Verdict: VerdictOk})
	if s.Verdict != VerdictOk || s.Failed() {
		t.Errorf("verdict %s", s.Verdict)
	}
	s.AddCheck(HistoryCheck{Name: "ttl", Workload: "ttl", Verdict: VerdictUnknown})
	s.AddCheck(HistoryCheck{Name: "set", Workload: "set", Verdict: VerdictOk})
	if s.Verdict != VerdictUnknown {
		t.Errorf("verdict %s, want unknown", s.Verdict)
	}
	s.AddCheck(HistoryCheck{Name: "register2", Workload: "register", Verdict: VerdictIllegal})
	if s.Verdict != VerdictIllegal {
		t.Errorf("verdict %s, want illegal", s.Verdict)
	}

	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("not one line: %q", line)
	}
	var back map[string]any
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workload", "engine", "nemesis", "seed", "seconds", "ops", "ops_by_kind", "faults", "fault_seconds", "longest_unavailable", "histories", "verdict"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, line)
		}
	}
	var round Summary
	if err := json.Unmarshal(buf.Bytes(), &round); err != nil || round.Verdict != VerdictIllegal || len(round.Histories) != 4 {
		t.Errorf("round trip: %v %+v", err, round)
	}
}

func TestSummaryOfCheckers(t *testing.T) {
	reg, err := CheckRegister([]Op{put(0, "x", "a", 0, 10), put(0, "y", "b", 0, 10), get(1, "y", "zz", 20, 30)}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	set, err := CheckSet([]Op{add("a", OK, 0, 10), read(20, 30)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSummary(nil, nil)
	s.AddCheck(reg.Check("register"))
	s.AddCheck(set.Check("set"))
	rc, sc := s.Histories[0], s.Histories[1]
	if rc.Keys != 2 || rc.KeysOk != 1 || rc.KeysIllegal != 1 || rc.Verdict != VerdictIllegal || rc.Detail != "not ok: y" {
		t.Errorf("register check %+v", rc)
	}
	if sc.Anomalies != 1 || sc.Verdict != VerdictIllegal || !strings.Contains(sc.Detail, "1 lost") {
		t.Errorf("set check %+v", sc)
	}
}

func TestUnavailable(t *testing.T) {
	s := int64(time.Second)
	history := []Op{
		{Call: 0, Return: 1 * s, Outcome: OK},
		{Call: 1 * s, Return: 4 * s, Outcome: Failed},
		{Call: 2 * s, Return: 5 * s, Outcome: OK},
		{Call: 5 * s, Return: 5*s + s/2, Outcome: OK},
		{Call: 10 * s, Return: 12 * s, Outcome: Indeterminate},
	}
	got := Unavailable(history, time.Second)
	// The first operation's second counts too: an operation was in
	// flight and none had succeeded.
	want := []Window{{Start: 0, End: 1 * s, Seconds: 1}, {Start: 1 * s, End: 5 * s, Seconds: 4}, {Start: 10 * s, End: 12 * s, Seconds: 2}}
	if len(got) != len(want) {
		t.Fatalf("Unavailable = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Unavailable = %+v, want %+v", got, want)
		}
	}
	if l := LongestUnavailable(history); l != want[1] {
		t.Fatalf("LongestUnavailable = %+v, want %+v", l, want[1])
	}
	if got := Unavailable(history, 3*time.Second); len(got) != 1 {
		t.Fatalf("with min 3s: %+v, want only the 4 s stretch", got)
	}
}
