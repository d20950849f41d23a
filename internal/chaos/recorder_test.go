package chaos

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRecorderConcurrent(t *testing.T) {
	const clients, each = 8, 200
	var clock atomic.Int64
	rec := NewRecorder(func() int64 { return clock.Add(1) })
	// Registers every client writes and reads under one lock, so the
	// recorded history is linearizable and must check Ok.
	var mu sync.Mutex
	regs := make(map[string]RegisterState)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("k%d", i%4)
				switch {
				case i%10 == 0:
					h := rec.Invoke(c, Put, key, Input{Value: fmt.Sprintf("lost-c%d-%d", c, i)})
					rec.CompleteError(h, Indeterminate, errors.New("deadline exceeded")) // never applied
				case i%10 == 5:
					h := rec.Invoke(c, Put, key, Input{Value: fmt.Sprintf("refused-c%d-%d", c, i)})
					rec.CompleteError(h, Failed, errors.New("not applied"))
				case i%2 == 0:
					v := fmt.Sprintf("c%d-%d", c, i)
					h := rec.Invoke(c, Put, key, Input{Value: v})
					mu.Lock()
					regs[key] = RegisterState{Exists: true, Value: v}
					mu.Unlock()
					rec.Complete(h, Output{}, OK)
				default:
					h := rec.Invoke(c, Get, key, Input{})
					mu.Lock()
					st := regs[key]
					mu.Unlock()
					rec.Complete(h, Output{Exists: st.Exists, Value: st.Value}, OK)
				}
			}
		})
	}
	wg.Wait()
	ops := rec.History()
	if len(ops) != clients*each || rec.Len() != clients*each {
		t.Fatalf("%d ops, want %d", len(ops), clients*each)
	}
	processes := make(map[int]int) // process → client
	for i, op := range ops {
		if op.Return <= op.Call {
			t.Fatalf("op %d: call %d return %d", i, op.Call, op.Return)
		}
		if c, ok := processes[op.Process]; ok && c != op.Client {
			t.Fatalf("process %d used by clients %d and %d", op.Process, c, op.Client)
		}
		processes[op.Process] = op.Client
	}
	// Each client starts with one process and gets a new one after each of
	// its 20 indeterminate operations.
	if want := clients * (1 + each/10); len(processes) != want {
		t.Errorf("%d processes, want %d", len(processes), want)
	}
	res, err := CheckRegister(ops, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictOk {
		t.Errorf("verdict %s", res.Verdict)
	}
}

func TestRecorderRules(t *testing.T) {
	rec := NewRecorder(nil) // logical clock
	a := rec.Invoke(7, Put, "x", Input{Value: "a"})
	b := rec.Invoke(8, Get, "x", Input{})
	rec.Complete(a, Output{}, OK)
	c := rec.Invoke(7, Put, "x", Input{Value: "b"})
	rec.CompleteError(c, Indeterminate, errors.New("timeout"))
	d := rec.Invoke(7, Get, "x", Input{})
	rec.Complete(d, Output{Exists: true, Value: "b"}, OK)
	h := rec.History()
	if got := []int64{h[0].Call, h[1].Call, h[0].Return, h[2].Call, h[2].Return, h[3].Call, h[3].Return}; fmt.Sprint(got) != "[1 2 3 4 5 6 7]" {
		t.Errorf("logical stamps %v", got)
	}
	if h[0].Process != 0 || h[1].Process != 1 || h[2].Process != 0 || h[3].Process == 0 || h[3].Process == 1 {
		t.Errorf("processes %d %d %d %d: client 7 must move to a fresh one after its indeterminate put", h[0].Process, h[1].Process, h[2].Process, h[3].Process)
	}
	if h[2].Err != "timeout" || h[2].Outcome != Indeterminate {
		t.Errorf("op 2: %+v", h[2])
	}
	// b never completed: the history reports it in flight, indeterminate.
	if h[1].Outcome != Indeterminate || h[1].Err == "" || h[1].Return != 8 {
		t.Errorf("pending op: %+v", h[1])
	}
	// The history is a copy.
	h[0].Key = "changed"
	if rec.History()[0].Key != "x" {
		t.Error("History shares memory with the recorder")
	}
	rec.Complete(b, Output{}, OK)
	if got := rec.History()[1]; got.Outcome != OK {
		t.Errorf("completed late: %+v", got)
	}
	mustPanic(t, "complete twice", func() { rec.Complete(a, Output{}, OK) })
	mustPanic(t, "unknown handle", func() { rec.Complete(Handle(99), Output{}, OK) })
	mustPanic(t, "unknown outcome", func() { rec.Complete(d, Output{}, "maybe") })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}

func TestAssignProcesses(t *testing.T) {
	h := []Op{
		{Client: 5, Call: 30, Outcome: OK},
		{Client: 5, Call: 10, Outcome: Indeterminate},
		{Client: 9, Call: 20, Outcome: OK},
		{Client: 5, Call: 40, Outcome: OK},
	}
	got := AssignProcesses(h)
	// In call order: c5@10 → p0, and p1 after it (indeterminate); c9@20 → p2; c5@30, c5@40 → p1.
	if fmt.Sprint(got[1].Process, got[2].Process, got[0].Process, got[3].Process) != "0 2 1 1" {
		t.Errorf("processes %d %d %d %d", got[0].Process, got[1].Process, got[2].Process, got[3].Process)
	}
	if h[0].Process != 0 || h[1].Process != 0 {
		t.Error("AssignProcesses changed its input")
	}
}
