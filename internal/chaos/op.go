package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// Kind is what an operation does. The register workload uses Get, Put,
// Delete, Swap and CAS; the set workload Add and Read; the ttl workload
// TTLPut and TTLGet.
type Kind string

// The operation kinds.
const (
	Get    Kind = "get"     // register: read the key
	Put    Kind = "put"     // register: write Input.Value
	Delete Kind = "delete"  // register: make the key absent
	Swap   Kind = "swap"    // register: GETSET; Output holds the previous value
	CAS    Kind = "cas"     // register: write Input.Value if the key holds Input.Expected (or is absent, with Input.ExpectAbsent)
	Add    Kind = "add"     // set: add the unique element Input.Value
	Read   Kind = "read"    // set: Output.Elements is the whole set
	TTLPut Kind = "ttl-put" // ttl: write Input.Value with Input.TTL
	TTLGet Kind = "ttl-get" // ttl: read the key back
)

// Outcome is what the client learnt about an operation, in the terms of
// DESIGN.md's outcome table.
type Outcome string

// The outcomes.
const (
	// OK: done, and Output is what the store answered. A condition that
	// failed (a CAS that did not swap) is OK with Output.Swapped false.
	OK Outcome = "ok"
	// Failed: certainly not applied (NOT_APPLIED, 503, -TRYAGAIN, or an
	// error raised before the request left the client). A failed operation
	// did not happen, so checkers drop it.
	Failed Outcome = "failed"
	// Indeterminate: the outcome is unknown (a deadline, a broken
	// connection, a bare UNAVAILABLE). Checkers treat it as possibly applied
	// at any time after its call, never as failed. Jepsen calls it "info".
	Indeterminate Outcome = "indeterminate"
)

// Op is one operation of a history: a call, and what came back.
//
// Times are int64s handed in by the caller (this package reads no clock):
// nanoseconds of a monotonic clock of the process that runs the clients is
// what the rest of the package assumes when it turns times into seconds
// (Summary), but any counter that never goes backwards and is read before
// the request leaves and after the reply arrives gives a correct check. Every
// Op of one history must use the same clock.
type Op struct {
	// Client is the logical client (a worker, a connection) that issued the
	// operation.
	Client int `json:"client"`
	// Process is the porcupine ClientId: the client's lane in the
	// visualization. It changes after an indeterminate operation (see
	// Processes), because the client cannot know whether that operation is
	// still in flight.
	Process int    `json:"process"`
	Kind    Kind   `json:"kind"`
	Key     string `json:"key,omitempty"`
	Input   Input  `json:"input"`
	Output  Output `json:"output"`
	// Call is when the request was sent, Return when its reply arrived or
	// the client gave up. An indeterminate operation's Return records when
	// the client gave up; checkers treat it as open-ended.
	Call    int64   `json:"call"`
	Return  int64   `json:"return"`
	Outcome Outcome `json:"outcome"`
	// Err is the error text for a failed or indeterminate operation.
	Err string `json:"error,omitempty"`
}

// Input is what the client asked for. Written values and set elements must be
// unique per key across a history (checkers reject duplicates), so a value
// read identifies the write that produced it.
type Input struct {
	// Value: the value written by Put, Swap, CAS and TTLPut; the element
	// added by Add.
	Value string `json:"value,omitempty"`
	// Expected: CAS writes Value only if the key holds Expected.
	Expected string `json:"expected,omitempty"`
	// ExpectAbsent: CAS writes Value only if the key is absent (SET NX);
	// Expected is then ignored.
	ExpectAbsent bool `json:"expect_absent,omitempty"`
	// TTL: TTLPut's time to live, relative to the group time at which the
	// write applies, in the history's time unit. Zero means no expiry.
	TTL int64 `json:"ttl,omitempty"`
}

// Output is what the store answered. Only the fields of the operation's kind
// mean anything.
type Output struct {
	// Exists: Get and TTLGet found the key; Swap found a previous value.
	Exists bool `json:"exists,omitempty"`
	// Value: the value Get or TTLGet read, or the previous value Swap
	// replaced; meaningful only when Exists.
	Value string `json:"value,omitempty"`
	// Swapped: CAS's condition held and it wrote.
	Swapped bool `json:"swapped,omitempty"`
	// Elements: the set as Read saw it.
	Elements []string `json:"elements,omitempty"`
}

// isWrite reports whether an operation of kind k can change the store.
func (k Kind) isWrite() bool {
	switch k {
	case Put, Delete, Swap, CAS, Add, TTLPut:
		return true
	}
	return false
}

func (k Kind) valid() bool {
	switch k {
	case Get, Put, Delete, Swap, CAS, Add, Read, TTLPut, TTLGet:
		return true
	}
	return false
}

func (o Outcome) valid() bool {
	return o == OK || o == Failed || o == Indeterminate
}

// validate checks what every checker relies on.
func (op *Op) validate(i int) error {
	if !op.Kind.valid() {
		return fmt.Errorf("chaos: op %d: unknown kind %q", i, op.Kind)
	}
	if !op.Outcome.valid() {
		return fmt.Errorf("chaos: op %d: unknown outcome %q", i, op.Outcome)
	}
	if op.Outcome != Indeterminate && op.Return < op.Call {
		return fmt.Errorf("chaos: op %d: returned at %d before its call at %d", i, op.Return, op.Call)
	}
	return nil
}

// Processes hands out porcupine process IDs (Operation.ClientId) to logical
// clients, and a fresh one to a client after an indeterminate operation: the
// client goes on, but the operation it gave up on may still be in flight, so
// from the checker's view it is another process, as in Jepsen. IDs are dense
// from zero, as the visualization wants. The zero value is ready to use; it
// is not safe for concurrent use (Recorder holds its lock around it).
type Processes struct {
	next int
	cur  map[int]int
}

// Of returns the client's current process ID, allocating one on first use.
func (p *Processes) Of(client int) int {
	if p.cur == nil {
		p.cur = make(map[int]int)
	}
	if id, ok := p.cur[client]; ok {
		return id
	}
	id := p.next
	p.next++
	p.cur[client] = id
	return id
}

// Indeterminate gives the client a fresh process ID, to be called when one of
// its operations ended indeterminate, and returns it.
func (p *Processes) Indeterminate(client int) int {
	p.Of(client)
	id := p.next
	p.next++
	p.cur[client] = id
	return id
}

// AssignProcesses returns a copy of ops with Process set from Client by the
// rule Processes implements: each client's operations in call order, a fresh
// process after each indeterminate one. For histories made without a Recorder
// (a simulation, a file from elsewhere).
func AssignProcesses(ops []Op) []Op {
	out := append([]Op(nil), ops...)
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return out[order[a]].Call < out[order[b]].Call })
	var p Processes
	for _, i := range order {
		out[i].Process = p.Of(out[i].Client)
		if out[i].Outcome == Indeterminate {
			p.Indeterminate(out[i].Client)
		}
	}
	return out
}

// WriteHistory writes ops as JSON Lines, one Op per line: the artifact a run
// keeps so that a history can be checked again offline.
func WriteHistory(w io.Writer, ops []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range ops {
		if err := enc.Encode(&ops[i]); err != nil {
			return fmt.Errorf("chaos: writing op %d: %w", i, err)
		}
	}
	return bw.Flush()
}

// ErrHistory is wrapped by ReadHistory's errors about malformed input.
var ErrHistory = errors.New("chaos: malformed history")

// ReadHistory reads what WriteHistory wrote. It rejects unknown fields,
// kinds and outcomes, and operations that return before their call, naming
// the line.
func ReadHistory(r io.Reader) ([]Op, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	var ops []Op
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var op Op
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&op); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrHistory, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: line %d: more than one JSON value", ErrHistory, line)
		}
		if err := op.validate(len(ops)); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrHistory, line, err)
		}
		ops = append(ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("chaos: reading history: %w", err)
	}
	return ops, nil
}

// endOfHistory is one past the latest time in ops: where an indeterminate
// operation's return goes, so that it may linearize after everything else
// (the "+∞" of notes/paxos-primary-backup-and-checking.md §4; etcd's
// robustness suite and porcupine issue #8 do the same).
func endOfHistory(ops []Op) int64 {
	var end int64
	for i := range ops {
		end = max(end, ops[i].Call, ops[i].Return)
	}
	if end == math.MaxInt64 {
		return end
	}
	return end + 1
}
