package chaos

import (
	"fmt"
	"strings"
	"testing"
)

func add(e string, o Outcome, call, ret int64) Op {
	return Op{Kind: Add, Key: "s", Input: Input{Value: e}, Call: call, Return: ret, Outcome: o}
}

func read(call, ret int64, elems ...string) Op {
	return Op{Kind: Read, Key: "s", Output: Output{Elements: elems}, Call: call, Return: ret, Outcome: OK}
}

func TestCheckSet(t *testing.T) {
	tests := []struct {
		name string
		h    []Op
		want Verdict
		// what the result must list, as "field=a,b"
		expect []string
	}{
		{"all there", []Op{
			add("a", OK, 0, 10), add("b", OK, 5, 15), read(20, 30, "a", "b"),
		}, VerdictOk, []string{"Lost=", "Landed="}},
		{"acknowledged add lost", []Op{
			add("a", OK, 0, 10), add("b", OK, 5, 15), add("c", OK, 6, 16), read(20, 30, "a"),
		}, VerdictIllegal, []string{"Lost=b,c"}},
		{"element never written", []Op{
			add("a", OK, 0, 10), read(20, 30, "a", "ghost"),
		}, VerdictIllegal, []string{"Unexpected=ghost", "Lost="}},
		{"element read before its add was invoked", []Op{
			read(0, 5, "a"), add("a", OK, 10, 20), read(30, 40, "a"),
		}, VerdictIllegal, []string{"Unexpected=a"}},
		{"failed add present", []Op{
			add("a", OK, 0, 10), add("b", Failed, 0, 10), read(20, 30, "a", "b"),
		}, VerdictIllegal, []string{"FailedPresent=b"}},
		{"failed add retried and acknowledged", []Op{
			add("b", Failed, 0, 10), add("b", OK, 11, 19), read(20, 30, "b"),
		}, VerdictOk, nil},
		{"indeterminate adds landed or not", []Op{
			add("a", OK, 0, 10), add("b", Indeterminate, 0, 10), add("c", Indeterminate, 0, 10),
			read(20, 30, "a", "b"),
		}, VerdictOk, []string{"Landed=b", "NotLanded=c"}},
		{"indeterminate add seen, then lost", []Op{
			add("a", Indeterminate, 0, 10), read(20, 30, "a"), read(40, 50),
		}, VerdictIllegal, []string{"Lost=a"}},
		{"intermediate read may miss an acknowledged element", []Op{
			add("a", OK, 0, 10), add("b", OK, 0, 30), read(12, 20, "b"), read(40, 50, "a", "b"),
		}, VerdictOk, nil},
		{"no final read", []Op{
			add("a", OK, 0, 10), read(5, 9), add("b", Indeterminate, 20, 30),
		}, VerdictUnknown, nil},
		{"failed reads are dropped", []Op{
			add("a", OK, 0, 10), with(read(20, 30), Failed), read(40, 50, "a"),
		}, VerdictOk, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := CheckSet(tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != tt.want {
				t.Errorf("verdict %s, want %s: %+v", r.Verdict, tt.want, r)
			}
			fields := map[string][]string{"Lost": r.Lost, "Unexpected": r.Unexpected, "FailedPresent": r.FailedPresent,
				"Landed": r.Landed, "NotLanded": r.NotLanded}
			for _, e := range tt.expect {
				name, want, _ := strings.Cut(e, "=")
				if got := strings.Join(fields[name], ","); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestCheckSetCounts(t *testing.T) {
	h := []Op{add("a", OK, 0, 10), add("b", Failed, 0, 10), add("c", Indeterminate, 0, 10), read(20, 30, "a"), read(40, 50, "a")}
	r, err := CheckSet(h)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.Attempted, r.Acked, r.FailedAdds, r.IndeterminateAdds, r.Reads, r.FinalReads); got != "3 1 1 1 2 2" {
		t.Errorf("counts %s", got)
	}
	c := r.Check("set")
	if c.Verdict != VerdictOk || c.Workload != "set" || c.Anomalies != 0 {
		t.Errorf("check %+v", c)
	}
}

func TestCheckSetErrors(t *testing.T) {
	if _, err := CheckSet([]Op{add("a", OK, 0, 10), add("a", Indeterminate, 20, 30)}); err == nil || !strings.Contains(err.Error(), "unique") {
		t.Errorf("duplicate element: %v", err)
	}
	if _, err := CheckSet([]Op{put(0, "x", "a", 0, 1)}); err == nil || !strings.Contains(err.Error(), "not a set operation") {
		t.Errorf("register op: %v", err)
	}
}
