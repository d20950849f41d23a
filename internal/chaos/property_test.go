package chaos

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// linearizableHistory draws a history of a real register: each operation
// takes effect at a linearization point inside its [call, return], and its
// output is the register's state there. Indeterminate writes take effect or
// not; failed ones never do. So the history is linearizable by construction.
func linearizableHistory(t *rapid.T, maxOps int) []Op {
	keys := []string{"k0", "k1", "k2"}[:rapid.IntRange(1, 3).Draw(t, "keys")]
	n := rapid.IntRange(0, maxOps).Draw(t, "ops")
	state := make(map[string]RegisterState)
	var h []Op
	var point int64
	for i := range n {
		point += rapid.Int64Range(1, 5).Draw(t, "gap")
		key := rapid.SampledFrom(keys).Draw(t, "key")
		op := Op{
			Client:  rapid.IntRange(0, 3).Draw(t, "client"),
			Kind:    rapid.SampledFrom([]Kind{Get, Put, Delete, Swap, CAS}).Draw(t, "kind"),
			Key:     key,
			Call:    point - rapid.Int64Range(0, 12).Draw(t, "before"),
			Return:  point + rapid.Int64Range(0, 12).Draw(t, "after"),
			Outcome: OK,
		}
		if op.Kind != Get {
			op.Outcome = rapid.SampledFrom([]Outcome{OK, OK, OK, Failed, Indeterminate}).Draw(t, "outcome")
		}
		applied := op.Outcome == OK || (op.Outcome == Indeterminate && rapid.Bool().Draw(t, "landed"))
		st := state[key]
		op.Input.Value = fmt.Sprintf("v%d", i)
		switch op.Kind {
		case Get:
			op.Output = Output{Exists: st.Exists, Value: st.Value}
		case Put:
			if applied {
				st = RegisterState{Exists: true, Value: op.Input.Value}
			}
		case Delete:
			if applied {
				st = RegisterState{}
			}
		case Swap:
			op.Output = Output{Exists: st.Exists, Value: st.Value}
			if applied {
				st = RegisterState{Exists: true, Value: op.Input.Value}
			}
		case CAS:
			if st.Exists && rapid.Bool().Draw(t, "match") {
				op.Input.Expected = st.Value
			} else {
				op.Input.Expected = "nope"
			}
			match := st.Exists && st.Value == op.Input.Expected
			op.Output = Output{Swapped: match}
			if applied && match {
				st = RegisterState{Exists: true, Value: op.Input.Value}
			}
		}
		if op.Outcome != OK {
			op.Output = Output{}
		}
		state[key] = st
		h = append(h, op)
	}
	return AssignProcesses(h)
}

func TestRapidLinearizableHistoriesCheckOk(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := linearizableHistory(t, 40)
		res, err := CheckRegister(h, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != VerdictOk {
			t.Fatalf("verdict %s (keys %v) for a linearizable history:\n%v", res.Verdict, res.Keys, h)
		}
	})
}

// A sequential history (no two operations overlap) with one read changed to a
// value nobody wrote is never linearizable.
func TestRapidCorruptedReadIsIllegal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := linearizableHistory(t, 30)
		var reads []int
		var clock int64
		for i := range h {
			h[i].Call, h[i].Return = clock, clock+1
			clock += 2
			if h[i].Kind == Get {
				reads = append(reads, i)
			}
		}
		if len(reads) == 0 {
			t.Skip("no read to corrupt")
		}
		i := rapid.SampledFrom(reads).Draw(t, "read")
		h[i].Output = Output{Exists: true, Value: "corrupt"}
		res, err := CheckRegister(h, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != VerdictIllegal || res.Keys[h[i].Key] != VerdictIllegal {
			t.Fatalf("verdict %s keys %v, want key %s illegal", res.Verdict, res.Keys, h[i].Key)
		}
	})
}
