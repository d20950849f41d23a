package chaos

import (
	"fmt"
	"sort"
)

// SetResult is the outcome of CheckSet. Element lists are sorted.
type SetResult struct {
	// Verdict: VerdictIllegal when Lost, Unexpected or FailedPresent is not
	// empty; otherwise VerdictUnknown when no read came after the adds (so
	// nothing about loss could be said), else VerdictOk.
	Verdict Verdict
	// Elements attempted, and how their adds ended. An element whose add
	// failed and was retried counts by its best outcome.
	Attempted, Acked, FailedAdds, IndeterminateAdds int
	// Reads is how many reads succeeded; FinalReads how many of them
	// started after every add had been invoked and every completed add had
	// returned.
	Reads, FinalReads int
	// Lost: acknowledged, or seen by an earlier read, yet missing from a
	// final read that started after that.
	Lost []string
	// Unexpected: present in a read that returned before any add of the
	// element was invoked (never attempted, at that time or at all).
	Unexpected []string
	// FailedPresent: every add of the element certainly failed, yet a read
	// saw it — a "not applied" answer for something that was applied.
	FailedPresent []string
	// Landed and NotLanded split the indeterminate adds by whether the last
	// final read has them: information, not anomalies.
	Landed, NotLanded []string
	// Reason says why the verdict is Unknown.
	Reason string
}

// setAdd is what the history says about one element.
type setAdd struct {
	outcome Outcome // the best: OK over Indeterminate over Failed
	call    int64   // the earliest invocation of any add of the element
	ret     int64   // the acknowledgement, when outcome is OK
	index   int     // the op that decides outcome
}

// CheckSet checks the set workload: adds of unique elements (ok, failed or
// indeterminate) and reads of the whole set, some of them final reads made
// after the adds, once the faults are healed. It checks that
//
//   - no acknowledged add is missing from a final read (lost),
//   - no element an earlier read saw is missing from a final read that
//     started after that read returned (lost, for indeterminate adds),
//   - no read has an element that no add had been invoked for when the read
//     returned (unexpected: never written),
//   - no read has an element whose adds all certainly failed.
//
// It reports which indeterminate adds landed. It does not check reads other
// than final ones for missing elements (a stale intermediate read is a
// linearizability question: use the register workload), nor the order of
// elements. Failed and indeterminate reads are dropped. An element may be
// added again only after an add of it certainly failed; two adds of one
// element that may both have applied are an error, as is any kind other
// than Add and Read. Keys are ignored: one history is one set.
func CheckSet(history []Op) (*SetResult, error) {
	adds := make(map[string]*setAdd)
	var reads []int
	var lastAddEnd int64 // when every add has been invoked and every completed add returned
	anyAdd := false
	r := &SetResult{}
	for i := range history {
		op := &history[i]
		if err := op.validate(i); err != nil {
			return nil, err
		}
		switch op.Kind {
		case Add:
			anyAdd = true
			lastAddEnd = max(lastAddEnd, op.Call)
			if op.Outcome != Indeterminate {
				lastAddEnd = max(lastAddEnd, op.Return)
			}
			e := op.Input.Value
			a, seen := adds[e]
			if !seen {
				a = &setAdd{outcome: op.Outcome, call: op.Call, ret: op.Return, index: i}
				adds[e] = a
				continue
			}
			a.call = min(a.call, op.Call)
			if a.outcome != Failed && op.Outcome != Failed {
				return nil, fmt.Errorf("chaos: ops %d and %d both add %q and neither certainly failed: elements must be unique", a.index, i, e)
			}
			if op.Outcome != Failed {
				a.outcome, a.ret, a.index = op.Outcome, op.Return, i
			}
		case Read:
			if op.Outcome == OK {
				reads = append(reads, i)
			}
		default:
			return nil, fmt.Errorf("chaos: op %d: %s is not a set operation", i, op.Kind)
		}
	}
	r.Attempted = len(adds)
	for _, a := range adds {
		switch a.outcome {
		case OK:
			r.Acked++
		case Failed:
			r.FailedAdds++
		case Indeterminate:
			r.IndeterminateAdds++
		}
	}
	r.Reads = len(reads)
	sort.SliceStable(reads, func(a, b int) bool { return history[reads[a]].Call < history[reads[b]].Call })

	// known[e]: from when e is certainly in the set — its acknowledgement,
	// or the return of the first read that saw it.
	known := make(map[string]int64, len(adds))
	for e, a := range adds {
		if a.outcome == OK {
			known[e] = a.ret
		}
	}
	unexpected := make(map[string]bool)
	failedPresent := make(map[string]bool)
	for _, ri := range reads {
		rd := &history[ri]
		for _, e := range rd.Output.Elements {
			a, ok := adds[e]
			switch {
			case !ok || rd.Return < a.call:
				unexpected[e] = true
				continue
			case a.outcome == Failed:
				failedPresent[e] = true
			}
			if t, ok := known[e]; !ok || rd.Return < t {
				known[e] = rd.Return
			}
		}
	}

	lost := make(map[string]bool)
	var finals []int
	for _, ri := range reads {
		if anyAdd && history[ri].Call > lastAddEnd {
			finals = append(finals, ri)
		}
	}
	r.FinalReads = len(finals)
	for _, ri := range finals {
		rd := &history[ri]
		has := make(map[string]bool, len(rd.Output.Elements))
		for _, e := range rd.Output.Elements {
			has[e] = true
		}
		for e, t := range known {
			if t < rd.Call && !has[e] {
				lost[e] = true
			}
		}
	}
	if len(finals) > 0 {
		last := &history[finals[len(finals)-1]]
		has := make(map[string]bool, len(last.Output.Elements))
		for _, e := range last.Output.Elements {
			has[e] = true
		}
		for e, a := range adds {
			if a.outcome != Indeterminate {
				continue
			}
			if has[e] {
				r.Landed = append(r.Landed, e)
			} else {
				r.NotLanded = append(r.NotLanded, e)
			}
		}
		sort.Strings(r.Landed)
		sort.Strings(r.NotLanded)
	}
	r.Lost = setList(lost)
	r.Unexpected = setList(unexpected)
	r.FailedPresent = setList(failedPresent)
	switch {
	case len(r.Lost)+len(r.Unexpected)+len(r.FailedPresent) > 0:
		r.Verdict = VerdictIllegal
	case anyAdd && len(finals) == 0:
		r.Verdict = VerdictUnknown
		r.Reason = "no read started after the last add returned"
	default:
		r.Verdict = VerdictOk
	}
	return r, nil
}

func setList(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for e := range m {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}
