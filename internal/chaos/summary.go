package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Verdict is what a check concluded.
type Verdict string

// The verdicts. Only VerdictOk is a pass: Unknown means nothing was verified,
// and `cairn check` exits 1 for it as for Illegal.
const (
	VerdictOk      Verdict = "ok"
	VerdictIllegal Verdict = "illegal"
	VerdictUnknown Verdict = "unknown"
)

func (v Verdict) rank() int {
	switch v {
	case VerdictOk:
		return 0
	case VerdictUnknown:
		return 1
	}
	return 2 // Illegal, or anything unrecognised
}

// worse returns the worse of two verdicts: Illegal over Unknown over Ok.
func worse(a, b Verdict) Verdict {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

func worstVerdict(m map[string]Verdict) Verdict {
	v := VerdictOk
	for _, x := range m {
		v = worse(v, x)
	}
	return v
}

// OpCounts counts operations by outcome.
type OpCounts struct {
	Total         int `json:"total"`
	OK            int `json:"ok"`
	Failed        int `json:"failed"`
	Indeterminate int `json:"indeterminate"`
}

func (c *OpCounts) add(o Outcome) {
	c.Total++
	switch o {
	case OK:
		c.OK++
	case Failed:
		c.Failed++
	case Indeterminate:
		c.Indeterminate++
	}
}

// FaultStats is how often a kind of fault was injected and for how long in
// all.
type FaultStats struct {
	Count   int     `json:"count"`
	Seconds float64 `json:"seconds"`
}

// Window is an interval of the history, with its length in seconds.
type Window struct {
	Start   int64   `json:"start"`
	End     int64   `json:"end"`
	Seconds float64 `json:"seconds"`
}

// HistoryCheck is one checked history in a Summary.
type HistoryCheck struct {
	Name     string  `json:"name"`
	Workload string  `json:"workload"` // register, set or ttl
	Ops      int     `json:"ops"`      // operations checked
	Keys     int     `json:"keys,omitempty"`
	Verdict  Verdict `json:"verdict"`
	// Register: how many keys got each verdict.
	KeysOk      int `json:"keys_ok,omitempty"`
	KeysIllegal int `json:"keys_illegal,omitempty"`
	KeysUnknown int `json:"keys_unknown,omitempty"`
	// Anomalies found by the set and ttl checkers.
	Anomalies    int     `json:"anomalies,omitempty"`
	CheckSeconds float64 `json:"check_seconds,omitempty"`
	// Detail says what went wrong, briefly.
	Detail string `json:"detail,omitempty"`
}

// Check summarises r for a Summary.
func (r *RegisterResult) Check(name string) HistoryCheck {
	c := HistoryCheck{Name: name, Workload: "register", Ops: r.Ops, Keys: len(r.Keys), Verdict: r.Verdict,
		CheckSeconds: seconds(int64(r.Elapsed))}
	for _, v := range r.Keys {
		switch v {
		case VerdictOk:
			c.KeysOk++
		case VerdictIllegal:
			c.KeysIllegal++
		default:
			c.KeysUnknown++
		}
	}
	if failed := r.Failed(); len(failed) > 0 {
		c.Detail = "not ok: " + describeKeys(failed, 5)
	}
	return c
}

// Check summarises r for a Summary.
func (r *SetResult) Check(name string) HistoryCheck {
	c := HistoryCheck{Name: name, Workload: "set", Ops: r.Attempted + r.Reads, Verdict: r.Verdict,
		Anomalies: len(r.Lost) + len(r.Unexpected) + len(r.FailedPresent)}
	switch {
	case c.Anomalies > 0:
		c.Detail = fmt.Sprintf("%d lost (acknowledged or seen, then missing), %d never written, %d failed but present",
			len(r.Lost), len(r.Unexpected), len(r.FailedPresent))
	case r.Reason != "":
		c.Detail = r.Reason
	default:
		c.Detail = fmt.Sprintf("%d acknowledged, %d indeterminate of which %d landed", r.Acked, r.IndeterminateAdds, len(r.Landed))
	}
	return c
}

// Check summarises r for a Summary.
func (r *TTLResult) Check(name string) HistoryCheck {
	c := HistoryCheck{Name: name, Workload: "ttl", Ops: r.Writes + r.Reads, Verdict: r.Verdict, Anomalies: len(r.Anomalies)}
	if len(r.Anomalies) > 0 {
		byKind := make(map[string]int)
		for _, a := range r.Anomalies {
			byKind[a.Kind]++
		}
		var parts []string
		for _, k := range sortedKeys(byKind) {
			parts = append(parts, fmt.Sprintf("%d %s", byKind[k], k))
		}
		c.Detail = strings.Join(parts, ", ")
	}
	return c
}

// Summary is what a run found, for people and for `cairn check -o json`.
// Times are in seconds, which assumes the history's clock counts
// nanoseconds; Start and End of a Window are on the history's clock.
type Summary struct {
	Workload string `json:"workload,omitempty"`
	Engine   string `json:"engine,omitempty"`
	Nemesis  string `json:"nemesis,omitempty"`
	Seed     int64  `json:"seed"`
	// Seconds is the span of the history, first call to last return.
	Seconds   float64           `json:"seconds"`
	Ops       OpCounts          `json:"ops"`
	OpsByKind map[Kind]OpCounts `json:"ops_by_kind,omitempty"`
	// Faults by kind, and FaultSeconds the time under any fault.
	Faults       map[FaultKind]FaultStats `json:"faults"`
	FaultSeconds float64                  `json:"fault_seconds"`
	// LongestUnavailable is the longest stretch, while operations were
	// being attempted, in which none completed ok.
	LongestUnavailable Window         `json:"longest_unavailable"`
	Histories          []HistoryCheck `json:"histories"`
	// Verdict is the worst of the histories' verdicts, and Unknown when no
	// history was checked.
	Verdict Verdict `json:"verdict"`
}

// NewSummary counts the operations of history (every workload's operations
// together, failed ones included) and the faults, and finds the longest
// unavailability. Add the checked histories with AddCheck.
func NewSummary(history []Op, faults []Fault) Summary {
	s := Summary{
		OpsByKind: make(map[Kind]OpCounts),
		Faults:    make(map[FaultKind]FaultStats),
		Verdict:   VerdictUnknown,
	}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range history {
		op := &history[i]
		s.Ops.add(op.Outcome)
		c := s.OpsByKind[op.Kind]
		c.add(op.Outcome)
		s.OpsByKind[op.Kind] = c
		first = min(first, op.Call)
		last = max(last, op.Return, op.Call)
	}
	if len(history) > 0 {
		s.Seconds = seconds(last - first)
	} else {
		last = 0
	}
	var spans [][2]int64
	for _, f := range faults {
		end := f.End
		if end == 0 {
			end = max(last, f.Start)
		}
		st := s.Faults[f.Kind]
		st.Count++
		st.Seconds = round3(st.Seconds + seconds(end-f.Start))
		s.Faults[f.Kind] = st
		spans = append(spans, [2]int64{f.Start, end})
	}
	var under int64
	for _, sp := range union(spans) {
		under += sp[1] - sp[0]
	}
	s.FaultSeconds = seconds(under)
	s.LongestUnavailable = LongestUnavailable(history)
	return s
}

// AddCheck adds a checked history and folds its verdict into the summary's.
func (s *Summary) AddCheck(c HistoryCheck) {
	if len(s.Histories) == 0 {
		s.Verdict = c.Verdict
	} else {
		s.Verdict = worse(s.Verdict, c.Verdict)
	}
	s.Histories = append(s.Histories, c)
}

// Failed reports whether the run failed: any verdict but Ok, including no
// history checked at all.
func (s *Summary) Failed() bool { return s.Verdict != VerdictOk }

// MarshalLine encodes s as one line of JSON, newline included.
func (s *Summary) MarshalLine() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("chaos: encoding summary: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteJSON writes s to w as one line of JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	b, err := s.MarshalLine()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// LongestUnavailable finds the longest stretch of history in which operations
// were being attempted and none completed ok: within each stretch where some
// operation was in flight (its call to its return, or to when the client
// gave up on an indeterminate one), the gaps between successive ok returns,
// and from the stretch's start to the first and from the last to its end.
func LongestUnavailable(history []Op) Window {
	var best Window
	unavailable(history, func(a, b int64) {
		if b-a > best.End-best.Start {
			best = Window{Start: a, End: b}
		}
	})
	best.Seconds = seconds(best.End - best.Start)
	return best
}

// Unavailable lists, in order, every stretch of history at least min long
// in which operations were being attempted and none completed ok (the
// stretches LongestUnavailable chooses from).
func Unavailable(history []Op, min time.Duration) []Window {
	var out []Window
	unavailable(history, func(a, b int64) {
		if b-a >= int64(min) && b > a {
			out = append(out, Window{Start: a, End: b, Seconds: seconds(b - a)})
		}
	})
	return out
}

// unavailable calls gap with each stretch without an ok completion, in
// order.
func unavailable(history []Op, gap func(a, b int64)) {
	var spans [][2]int64
	var oks []int64
	for i := range history {
		op := &history[i]
		spans = append(spans, [2]int64{op.Call, max(op.Call, op.Return)})
		if op.Outcome == OK {
			oks = append(oks, op.Return)
		}
	}
	sort.Slice(oks, func(i, j int) bool { return oks[i] < oks[j] })
	j := 0
	for _, sp := range union(spans) {
		prev := sp[0]
		for j < len(oks) && oks[j] < sp[0] {
			j++
		}
		for j < len(oks) && oks[j] <= sp[1] {
			gap(prev, oks[j])
			prev = oks[j]
			j++
		}
		gap(prev, sp[1])
	}
}

// union merges intervals into disjoint sorted ones.
func union(spans [][2]int64) [][2]int64 {
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var out [][2]int64
	for _, sp := range spans {
		if n := len(out); n > 0 && sp[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	return out
}

func seconds(ns int64) float64 { return round3(float64(ns) / 1e9) }

// round3 rounds to milliseconds' precision, to keep the JSON short.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
