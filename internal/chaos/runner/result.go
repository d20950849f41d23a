package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
)

// Result is what a run found: the chaos summary (operations by outcome,
// faults, unavailability, histories checked, the verdict) and what the run
// knows besides.
type Result struct {
	Summary chaos.Summary
	// The run's shape, for the report and the replay line.
	Nodes, Partitions, Clients, Keys int
	Time                             time.Duration
	// Out is the run's directory; Visualization the porcupine HTML of the
	// keys that failed, Anomalies the set or ttl anomalies, when written.
	Out, Visualization, Anomalies string
	// NodeFailures lists servers that exited without being told to (a
	// crash, or a restart that did not come up): a failure of the run.
	NodeFailures []string
	// FinalReadsFailed counts final reads that never succeeded before the
	// deadline: the checkers then have less to go on (a set with no final
	// read is Unknown).
	FinalReadsFailed int
	// RecoverySeconds is the time from the final heal until every server
	// was ready again.
	RecoverySeconds float64
	// Converge is how the membership settled after the final heal; nil
	// when the nemesis did not change membership.
	Converge *Convergence
	// Replay is the command line that runs the same schedule and choices.
	Replay string
	// Loss is the account of an async primary-backup run's lost
	// acknowledged writes; nil for any other run.
	Loss *chaos.LossAccount
}

// Convergence is the wait, after the final heal and the recovery, until the
// cluster's membership settled (Admin.Status): no replica move in flight or
// queued, every group known to the rebalancer, none under-replicated, every
// member up or removed, every drained node removed (and stopped).
type Convergence struct {
	// Seconds is how long it took, or how long the run waited
	// (convergeTimeout) when it did not settle.
	Seconds float64
	// Converged: it settled in time. When not, the run fails: a move that
	// never ends is a bug as much as a lost write.
	Converged bool
	// Detail is the members and their replicas when it settled, or what
	// was still pending when the run gave up.
	Detail string
}

// Passed reports whether the run passed: every history checked Ok (so
// linearizable, nothing acknowledged lost, nothing Unknown), no server
// failed on its own, and the membership settled.
func (r *Result) Passed() bool {
	return !r.Summary.Failed() && len(r.NodeFailures) == 0 && (r.Converge == nil || r.Converge.Converged)
}

// Problem says in one line why the run failed, "" when it passed.
func (r *Result) Problem() string {
	var parts []string
	for _, h := range r.Summary.Histories {
		if h.Verdict != chaos.VerdictOk {
			p := fmt.Sprintf("%s %s", h.Name, h.Verdict)
			if h.Detail != "" {
				p += " (" + h.Detail + ")"
			}
			parts = append(parts, p)
		}
	}
	if len(r.Summary.Histories) == 0 {
		parts = append(parts, "no history checked")
	}
	if n := len(r.NodeFailures); n > 0 {
		parts = append(parts, fmt.Sprintf("%d server failure(s): %s", n, r.NodeFailures[0]))
	}
	if c := r.Converge; c != nil && !c.Converged {
		parts = append(parts, fmt.Sprintf("the membership did not settle %.0fs after the final heal: %s", c.Seconds, c.Detail))
	}
	if r.Passed() {
		return ""
	}
	return strings.Join(parts, "; ")
}

// WriteJSON writes the result as one JSON line: the chaos summary's fields
// and the run's. converge_seconds, converged and converge_detail are there
// only when the nemesis changed membership.
func (r *Result) WriteJSON(w io.Writer) error {
	var conv struct {
		seconds   *float64
		converged *bool
		detail    string
	}
	if c := r.Converge; c != nil {
		conv.seconds, conv.converged, conv.detail = &c.Seconds, &c.Converged, c.Detail
	}
	var loss struct {
		lost, failovers *int
		window          *float64
		entries         *uint64
	}
	if a := r.Loss; a != nil {
		loss.lost, loss.failovers, loss.window, loss.entries = &a.LostAcknowledged, &a.Failovers, &a.MaxWindow, &a.MaxEntries
	}
	b, err := json.Marshal(struct {
		chaos.Summary
		Passed           bool     `json:"passed"`
		Nodes            int      `json:"nodes,omitempty"`
		Partitions       int      `json:"partitions,omitempty"`
		Clients          int      `json:"clients,omitempty"`
		Keys             int      `json:"keys,omitempty"`
		Time             float64  `json:"time_seconds,omitempty"`
		Out              string   `json:"out"`
		Visualization    string   `json:"visualization,omitempty"`
		Anomalies        string   `json:"anomalies,omitempty"`
		NodeFailures     []string `json:"node_failures,omitempty"`
		FinalReadsFailed int      `json:"final_reads_failed,omitempty"`
		RecoverySeconds  float64  `json:"recovery_seconds"`
		ConvergeSeconds  *float64 `json:"converge_seconds,omitempty"`
		Converged        *bool    `json:"converged,omitempty"`
		ConvergeDetail   string   `json:"converge_detail,omitempty"`
		Replay           string   `json:"replay"`
		LostAcknowledged *int     `json:"lost_acknowledged,omitempty"`
		Failovers        *int     `json:"failovers,omitempty"`
		MaxWindow        *float64 `json:"max_window_s,omitempty"`
		MaxEntries       *uint64  `json:"max_window_entries,omitempty"`
	}{r.Summary, r.Passed(), r.Nodes, r.Partitions, r.Clients, r.Keys, r.Time.Seconds(), r.Out,
		r.Visualization, r.Anomalies, r.NodeFailures, r.FinalReadsFailed, r.RecoverySeconds,
		conv.seconds, conv.converged, conv.detail, r.Replay, loss.lost, loss.failovers, loss.window, loss.entries})
	if err != nil {
		return fmt.Errorf("runner: encoding the summary: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable writes the result for people.
func (r *Result) WriteTable(w io.Writer) error {
	s := &r.Summary
	var b strings.Builder
	row := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-14s %s\n", label, fmt.Sprintf(format, args...))
	}
	if r.Nodes > 0 {
		keys := ""
		if s.Workload != WorkloadSet {
			keys = fmt.Sprintf(", %d keys at once", r.Keys)
		}
		row("run", "%s workload on %d %s nodes, %d partitions, %d clients%s, %v",
			s.Workload, r.Nodes, s.Engine, r.Partitions, r.Clients, keys, r.Time)
		row("nemesis", "%s", s.Nemesis)
		row("seed", "%d", s.Seed)
	} else {
		row("history", "%s workload", s.Workload)
	}
	row("out", "%s", r.Out)
	row("operations", "%d in %.1fs: %s", s.Ops.Total, s.Seconds, counts(s.Ops))
	for _, k := range slices.Sorted(maps.Keys(s.OpsByKind)) {
		c := s.OpsByKind[k]
		row("  "+string(k), "%d: %s", c.Total, counts(c))
	}
	if len(s.Faults) == 0 {
		row("faults", "none")
	} else {
		var fs []string
		for _, k := range slices.Sorted(maps.Keys(s.Faults)) {
			st := s.Faults[k]
			fs = append(fs, fmt.Sprintf("%s %d (%.1fs)", k, st.Count, st.Seconds))
		}
		row("faults", "%s; %.1fs under faults", strings.Join(fs, ", "), s.FaultSeconds)
	}
	lu := s.LongestUnavailable
	row("unavailable", "%.3fs at most (from %.1fs to %.1fs)", lu.Seconds, float64(lu.Start)/1e9, float64(lu.End)/1e9)
	if r.Nodes > 0 {
		row("recovery", "%.1fs from the final heal until every node was ready", r.RecoverySeconds)
	}
	if c := r.Converge; c != nil && c.Converged {
		row("converge", "%.1fs more until no replica move was left: %s", c.Seconds, c.Detail)
	} else if c != nil {
		row("converge", "NOT settled after %.1fs: %s", c.Seconds, c.Detail)
	}
	if r.FinalReadsFailed > 0 {
		row("final reads", "%d never succeeded", r.FinalReadsFailed)
	}
	for _, h := range s.Histories {
		line := fmt.Sprintf("%s: %s, %d ops checked", h.Name, h.Verdict, h.Ops)
		if h.Keys > 0 {
			line += fmt.Sprintf(", %d keys (%d ok, %d illegal, %d unknown)", h.Keys, h.KeysOk, h.KeysIllegal, h.KeysUnknown)
		}
		if h.Anomalies > 0 {
			line += fmt.Sprintf(", %d anomalies", h.Anomalies)
		}
		if h.CheckSeconds > 0 {
			line += fmt.Sprintf(", in %.1fs", h.CheckSeconds)
		}
		if h.Detail != "" {
			line += "; " + h.Detail
		}
		row("history", "%s", line)
	}
	if a := r.Loss; a != nil {
		row("async loss", "%s", a.String())
	}
	for _, f := range r.NodeFailures {
		row("node failure", "%s", f)
	}
	if r.Visualization != "" {
		row("visualization", "%s", r.Visualization)
	}
	if r.Anomalies != "" {
		row("anomalies", "%s", r.Anomalies)
	}
	if r.Passed() {
		row("verdict", "PASS")
	} else {
		row("verdict", "FAIL: %s", r.Problem())
	}
	row("replay", "%s", r.Replay)
	_, err := io.WriteString(w, b.String())
	return err
}

func counts(c chaos.OpCounts) string {
	return fmt.Sprintf("%d ok, %d failed, %d indeterminate", c.OK, c.Failed, c.Indeterminate)
}
