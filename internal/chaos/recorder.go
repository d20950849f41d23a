package chaos

import (
	"fmt"
	"sync"
)

// Handle names an invoked operation until it completes.
type Handle int

// Recorder collects one history from many concurrent clients. It is safe for
// concurrent use. It keeps every operation, failed ones included (a Summary
// counts them); the checkers apply the recording rules when they read it.
//
//	rec := chaos.NewRecorder(func() int64 { return int64(time.Since(start)) })
//	h := rec.Invoke(client, chaos.Put, key, chaos.Input{Value: v})
//	err := cl.Put(ctx, key, v)
//	rec.Complete(h, chaos.Output{}, outcomeOf(err))
type Recorder struct {
	now func() int64
	mu  struct {
		sync.Mutex
		ops   []Op
		done  []bool
		procs Processes
		tick  int64 // the logical clock, when now is nil
	}
}

// NewRecorder returns an empty Recorder that stamps calls and returns with
// now. now is read under the Recorder's lock, so the stamps never go backwards
// in recording order; it should be a monotonic clock (nanoseconds since the
// run started). With a nil now the Recorder stamps with a counter that
// advances on every Invoke and Complete, which orders operations by when the
// clients recorded them: right for tests and simulations, and for runs whose
// only question is linearizability (not for the ttl workload, whose TTLs are
// in the clock's unit, nor for a Summary's times).
func NewRecorder(now func() int64) *Recorder {
	return &Recorder{now: now}
}

func (r *Recorder) stampLocked() int64 {
	if r.now != nil {
		return r.now()
	}
	r.mu.tick++
	return r.mu.tick
}

// Invoke records the call of an operation just before the client sends it,
// and returns the handle to complete it with.
func (r *Recorder) Invoke(client int, kind Kind, key string, in Input) Handle {
	r.mu.Lock()
	defer r.mu.Unlock()
	op := Op{
		Client:  client,
		Process: r.mu.procs.Of(client),
		Kind:    kind,
		Key:     key,
		Input:   in,
		Call:    r.stampLocked(),
	}
	r.mu.ops = append(r.mu.ops, op)
	r.mu.done = append(r.mu.done, false)
	return Handle(len(r.mu.ops) - 1)
}

// Complete records what came back for h. An indeterminate outcome gives the
// client a fresh process for its later operations. Completing a handle twice
// panics: it is a bug in the harness.
func (r *Recorder) Complete(h Handle, out Output, outcome Outcome) {
	r.complete(h, out, outcome, "")
}

// CompleteError is Complete for an operation that failed or ended
// indeterminate with err, which the history keeps as text.
func (r *Recorder) CompleteError(h Handle, outcome Outcome, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	r.complete(h, Output{}, outcome, msg)
}

func (r *Recorder) complete(h Handle, out Output, outcome Outcome, msg string) {
	if !outcome.valid() {
		panic(fmt.Sprintf("chaos: Complete with unknown outcome %q", outcome))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i := int(h)
	if i < 0 || i >= len(r.mu.ops) {
		panic(fmt.Sprintf("chaos: Complete of unknown handle %d", i))
	}
	if r.mu.done[i] {
		panic(fmt.Sprintf("chaos: Complete of handle %d twice", i))
	}
	op := &r.mu.ops[i]
	op.Output = out
	op.Outcome = outcome
	op.Err = msg
	op.Return = r.stampLocked()
	r.mu.done[i] = true
	if outcome == Indeterminate {
		r.mu.procs.Indeterminate(op.Client)
	}
}

// History returns a copy of the history so far, in invocation order. An
// operation not yet completed is reported indeterminate, returning now, with
// the error "no reply recorded": the run ended while it was in flight.
func (r *Recorder) History() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := make([]Op, len(r.mu.ops))
	copy(ops, r.mu.ops)
	var end int64
	pending := false
	for i := range ops {
		if !r.mu.done[i] {
			pending = true
		}
		if ops[i].Output.Elements != nil {
			ops[i].Output.Elements = append([]string(nil), ops[i].Output.Elements...)
		}
	}
	if pending {
		end = r.stampLocked()
	}
	for i := range ops {
		if !r.mu.done[i] {
			ops[i].Outcome = Indeterminate
			ops[i].Return = end
			ops[i].Err = "no reply recorded"
		}
	}
	return ops
}

// Len returns how many operations have been invoked.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mu.ops)
}
