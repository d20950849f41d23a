package chaos

import (
	"fmt"
	"hash/fnv"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// RegisterInput is the porcupine input of a register operation.
type RegisterInput struct {
	Kind         Kind // Get, Put, Delete, Swap or CAS
	Key          string
	Value        string // Put, Swap, CAS: the value written
	Expected     string // CAS
	ExpectAbsent bool   // CAS: the condition is "absent"
}

// RegisterOutput is the porcupine output of a register operation.
type RegisterOutput struct {
	Exists  bool   // Get: found; Swap: there was a previous value
	Value   string // Get: the value; Swap: the previous value
	Swapped bool   // CAS
	// Unknown: the operation ended indeterminate. The model then checks
	// nothing about the output but still applies the effect; the operation
	// returns at the end of the history, so it may also linearize after
	// everything, which is the same as never having happened.
	Unknown bool
}

// RegisterState is the state of one key: absent, or holding Value.
type RegisterState struct {
	Exists bool
	Value  string
}

// registerMeta rides in porcupine's Metadata for the visualization's tooltip.
type registerMeta struct {
	index   int // in the history handed to RegisterOperations
	client  int
	outcome Outcome
	err     string
}

// RegisterModel returns the porcupine model of the register workload: one
// register per key, partitioned by key, so each key is checked on its own
// (and in parallel). Get reads; Put writes; Delete makes the key absent
// (its reply, DEL's count, is not checked); Swap writes and returns the
// previous value (GETSET); CAS writes if the key holds Input.Expected (or is
// absent, with ExpectAbsent) and reports whether it did.
func RegisterModel() porcupine.Model {
	return porcupine.Model{
		Partition:      partitionRegister,
		PartitionEvent: partitionRegisterEvents,
		Init:           func() any { return RegisterState{} },
		Step: func(state, input, output any) (bool, any) {
			return stepRegister(state.(RegisterState), input.(RegisterInput), output.(RegisterOutput))
		},
		Equal: func(a, b any) bool { return a.(RegisterState) == b.(RegisterState) },
		Hash: func(state any) uint64 {
			st := state.(RegisterState)
			if !st.Exists {
				return 0
			}
			h := fnv.New64a()
			h.Write([]byte(st.Value))
			return h.Sum64() | 1
		},
		DescribeOperation: func(input, output any) string {
			return describeRegisterOp(input.(RegisterInput), output.(RegisterOutput))
		},
		DescribeState: func(state any) string {
			st := state.(RegisterState)
			if !st.Exists {
				return "absent"
			}
			return strconv.Quote(st.Value)
		},
		DescribeOperationMetadata: func(m any) string {
			md, ok := m.(registerMeta)
			if !ok {
				return ""
			}
			s := fmt.Sprintf("op %d, client %d, %s", md.index, md.client, md.outcome)
			if md.err != "" {
				s += ": " + md.err
			}
			return s
		},
	}
}

func stepRegister(st RegisterState, in RegisterInput, out RegisterOutput) (bool, RegisterState) {
	sameAsState := func() bool { return out.Exists == st.Exists && (!st.Exists || out.Value == st.Value) }
	switch in.Kind {
	case Get:
		return out.Unknown || sameAsState(), st
	case Put:
		return true, RegisterState{Exists: true, Value: in.Value}
	case Delete:
		return true, RegisterState{}
	case Swap:
		return out.Unknown || sameAsState(), RegisterState{Exists: true, Value: in.Value}
	case CAS:
		match := !st.Exists
		if !in.ExpectAbsent {
			match = st.Exists && st.Value == in.Expected
		}
		if !out.Unknown && out.Swapped != match {
			return false, st
		}
		if match {
			return true, RegisterState{Exists: true, Value: in.Value}
		}
		return true, st
	}
	return false, st
}

func describeRegisterOp(in RegisterInput, out RegisterOutput) string {
	val := func(exists bool, v string) string {
		if !exists {
			return "absent"
		}
		return strconv.Quote(v)
	}
	var s string
	switch in.Kind {
	case Get:
		s = fmt.Sprintf("get(%s)", in.Key)
		if !out.Unknown {
			s += " → " + val(out.Exists, out.Value)
		}
	case Put:
		s = fmt.Sprintf("put(%s, %q)", in.Key, in.Value)
	case Delete:
		s = fmt.Sprintf("delete(%s)", in.Key)
	case Swap:
		s = fmt.Sprintf("swap(%s, %q)", in.Key, in.Value)
		if !out.Unknown {
			s += " → " + val(out.Exists, out.Value)
		}
	case CAS:
		s = fmt.Sprintf("cas(%s, %s → %q)", in.Key, val(!in.ExpectAbsent, in.Expected), in.Value)
		if !out.Unknown {
			if out.Swapped {
				s += " → swapped"
			} else {
				s += " → not swapped"
			}
		}
	default:
		s = fmt.Sprintf("%s(%s)", in.Kind, in.Key)
	}
	if out.Unknown {
		s += " → ? (indeterminate)"
	}
	return s
}

// partitionRegister splits a history by key, in key order. Deterministic, so
// that CheckRegister can match porcupine's partitions to keys.
func partitionRegister(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := make(map[string][]porcupine.Operation)
	for _, op := range history {
		k := op.Input.(RegisterInput).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := sortedKeys(byKey)
	out := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

func partitionRegisterEvents(history []porcupine.Event) [][]porcupine.Event {
	keyOf := make(map[int]string) // event Id → key, from its call
	byKey := make(map[string][]porcupine.Event)
	for _, ev := range history {
		if ev.Kind == porcupine.CallEvent {
			keyOf[ev.Id] = ev.Value.(RegisterInput).Key
		}
		k := keyOf[ev.Id]
		byKey[k] = append(byKey[k], ev)
	}
	keys := sortedKeys(byKey)
	out := make([][]porcupine.Event, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RegisterOperations turns a register history into porcupine operations by
// the recording rules of notes/paxos-primary-backup-and-checking.md §4:
//
//   - a failed operation (certainly not applied) is dropped: it did not
//     happen;
//   - an indeterminate Get is dropped: it observed nothing and changed
//     nothing;
//   - an indeterminate write is kept as possibly applied: its output is
//     Unknown and it returns one past the latest time in the history, so it
//     may linearize anywhere after its call, including after everything else
//     (which is the same as never having happened) — never as failed.
//
// It returns an error for a kind that is not a register operation, for a
// completed operation that returns before its call, and for a value written
// twice to one key by operations that are kept (values must be unique so
// that a read names its write).
func RegisterOperations(history []Op) ([]porcupine.Operation, error) {
	end := endOfHistory(history)
	written := make(map[[2]string]int) // (key, value) → op index
	var out []porcupine.Operation
	for i := range history {
		op := &history[i]
		if err := op.validate(i); err != nil {
			return nil, err
		}
		switch op.Kind {
		case Get, Put, Delete, Swap, CAS:
		default:
			return nil, fmt.Errorf("chaos: op %d: %s is not a register operation", i, op.Kind)
		}
		if op.Outcome == Failed || (op.Kind == Get && op.Outcome == Indeterminate) {
			continue
		}
		if op.Kind == Put || op.Kind == Swap || op.Kind == CAS {
			kv := [2]string{op.Key, op.Input.Value}
			if j, dup := written[kv]; dup {
				return nil, fmt.Errorf("chaos: ops %d and %d both write %q to key %q: values must be unique", j, i, op.Input.Value, op.Key)
			}
			written[kv] = i
		}
		pop := porcupine.Operation{
			ClientId: op.Process,
			Input: RegisterInput{
				Kind:         op.Kind,
				Key:          op.Key,
				Value:        op.Input.Value,
				Expected:     op.Input.Expected,
				ExpectAbsent: op.Input.ExpectAbsent,
			},
			Call:     op.Call,
			Return:   op.Return,
			Metadata: registerMeta{index: i, client: op.Client, outcome: op.Outcome, err: op.Err},
		}
		if op.Outcome == Indeterminate {
			pop.Return = end
			pop.Output = RegisterOutput{Unknown: true}
		} else {
			pop.Output = RegisterOutput{Exists: op.Output.Exists, Value: op.Output.Value, Swapped: op.Output.Swapped}
		}
		out = append(out, pop)
	}
	return out, nil
}

// RegisterResult is the outcome of CheckRegister.
type RegisterResult struct {
	// Verdict: VerdictOk when every key is linearizable, VerdictIllegal when
	// some key is not, otherwise VerdictUnknown (the checker ran out of time
	// on some key). Unknown is a failure: nothing was verified.
	Verdict Verdict
	// Keys holds the verdict of every key in the checked history.
	Keys map[string]Verdict
	// Ops is how many operations were checked, Dropped how many were left
	// out by the recording rules, Indeterminate how many of the checked ones
	// were open-ended writes.
	Ops, Dropped, Indeterminate int
	// Elapsed is how long the check took (wall clock: the checker's own run
	// time, the only clock this package reads, through porcupine's timeout).
	Elapsed time.Duration

	model porcupine.Model
	info  porcupine.LinearizationInfo
	end   int64 // one past the latest time in the checked history
}

// CheckRegister checks a register history for linearizability per key with
// porcupine, giving up after timeout (0: no limit; the budget covers the whole
// history, keys being checked in parallel). A key that is not linearizable
// within the budget is Illegal; a key whose check ran out of time is Unknown.
// When some key is Illegal, the keys that did not finish are checked once
// more on their own, with the same budget, so each gets an exact verdict;
// the check can then take up to twice the timeout.
//
// Checking is NP-complete: keep to about 200 operations per key and few
// indeterminate ones per key (the note's advice).
func CheckRegister(history []Op, timeout time.Duration) (*RegisterResult, error) {
	ops, err := RegisterOperations(history)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	model := RegisterModel()
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)

	parts := partitionRegister(ops) // porcupine's partitions, in the same order
	partials := info.PartialLinearizations()
	r := &RegisterResult{
		Keys:    make(map[string]Verdict, len(parts)),
		Ops:     len(ops),
		Dropped: len(history) - len(ops),
		model:   model,
		info:    info,
		end:     endOfHistory(history),
	}
	for _, op := range ops {
		if op.Output.(RegisterOutput).Unknown {
			r.Indeterminate++
		}
	}
	var unfinished []int
	for i, part := range parts {
		key := part[0].Input.(RegisterInput).Key
		complete := false
		if i < len(partials) {
			for _, p := range partials[i] {
				if len(p) == len(part) {
					complete = true
				}
			}
		}
		switch {
		case complete:
			r.Keys[key] = VerdictOk
		case res == porcupine.Illegal:
			unfinished = append(unfinished, i)
		default:
			// porcupine says Illegal as soon as one partition is; so
			// with Unknown, a partition without a full linearization
			// was cut short by the timeout.
			r.Keys[key] = VerdictUnknown
		}
	}
	if len(unfinished) == 1 && res == porcupine.Illegal {
		// One unfinished key and an Illegal result: that key is the one.
		r.Keys[parts[unfinished[0]][0].Input.(RegisterInput).Key] = VerdictIllegal
	} else if len(unfinished) > 1 {
		recheck(model, parts, unfinished, timeout, r.Keys)
	}
	r.Verdict = worstVerdict(r.Keys)
	if res == porcupine.Illegal {
		// NB: a key found Illegal by the first check may run out of time
		// when checked again; the history is Illegal all the same.
		r.Verdict = VerdictIllegal
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// recheck checks each of parts[idx] on its own, a few at a time, to tell the
// Illegal keys from those the first check's timeout cut short.
func recheck(model porcupine.Model, parts [][]porcupine.Operation, idx []int, timeout time.Duration, into map[string]Verdict) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, i := range idx {
		wg.Add(1)
		sem <- struct{}{}
		go func(part []porcupine.Operation) {
			defer wg.Done()
			defer func() { <-sem }()
			// NB: the Verbose variant waits for its goroutine to stop
			// before returning, even on timeout; the plain one does not.
			res, _ := porcupine.CheckOperationsVerbose(model, part, timeout)
			mu.Lock()
			into[part[0].Input.(RegisterInput).Key] = fromPorcupine(res)
			mu.Unlock()
		}(parts[i])
	}
	wg.Wait()
}

func fromPorcupine(res porcupine.CheckResult) Verdict {
	switch res {
	case porcupine.Ok:
		return VerdictOk
	case porcupine.Illegal:
		return VerdictIllegal
	}
	return VerdictUnknown
}

// Failed returns the keys whose verdict is not Ok, in order.
func (r *RegisterResult) Failed() []string {
	var keys []string
	for k, v := range r.Keys {
		if v != VerdictOk {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// WriteVisualization writes porcupine's HTML view of the checked history to
// path — every key, with its linearization, or for an Illegal key the longest
// partial linearizations and where they stop — with the faults drawn as
// annotations on rows of their own ("nemesis kill", "nemesis partition", …).
// Fault times must be on the history's clock.
func (r *RegisterResult) WriteVisualization(path string, faults ...Fault) error {
	info := r.info // NB: a copy; r.info holds no annotations, so adding to the copy leaves r as it was
	info.AddAnnotations(FaultAnnotations(faults, r.end))
	if err := porcupine.VisualizePath(r.model, info, path); err != nil {
		return fmt.Errorf("chaos: writing visualization: %w", err)
	}
	return nil
}

// FaultAnnotations turns fault intervals into porcupine annotations, one row
// per fault kind. A fault not healed (End == 0) runs to end.
func FaultAnnotations(faults []Fault, end int64) []porcupine.Annotation {
	out := make([]porcupine.Annotation, 0, len(faults))
	for _, f := range faults {
		e := f.End
		if e == 0 {
			e = max(end, f.Start)
		}
		desc := string(f.Kind)
		if f.Node != "" {
			desc += " " + f.Node
		}
		details := fmt.Sprintf("%s from %d to %d", desc, f.Start, e)
		if f.Detail != "" {
			details += ": " + f.Detail
		}
		if f.End == 0 {
			details += " (not healed)"
		}
		out = append(out, porcupine.Annotation{
			Tag:             "nemesis " + string(f.Kind),
			Start:           f.Start,
			End:             e,
			Description:     desc,
			Details:         details,
			BackgroundColor: faultColor(f.Kind),
		})
	}
	return out
}

func faultColor(k FaultKind) string {
	switch k {
	case Kill:
		return "#f4cccc"
	case Pause:
		return "#fce5cd"
	case Partition:
		return "#cfe2f3"
	case Clock:
		return "#d9ead3"
	case Disk:
		return "#ead1dc"
	case Leader:
		return "#d9d2e9"
	}
	return "#eeeeee"
}

// describeKeys lists up to n keys for messages.
func describeKeys(keys []string, n int) string {
	if len(keys) <= n {
		return strings.Join(keys, ", ")
	}
	return strings.Join(keys[:n], ", ") + fmt.Sprintf(" and %d more", len(keys)-n)
}
