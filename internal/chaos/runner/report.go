package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
	"github.com/cairnkv/cairn/internal/report"
)

// reportGap is the shortest stretch without a successful operation that
// the report marks: shorter ones are a slow operation, not an outage.
const reportGap = time.Second

// reportBuckets is about how many points a timeline of the report has.
const reportBuckets = 300

// WriteHTML writes the run as one self-contained page (cairn check
// --report), from what the run left in r.Out (history.jsonl, and
// faults.json when there was a nemesis): the summary, operations per second
// by outcome and the p99 of successful ones over time, with every fault
// drawn where it was in force and every stretch of at least a second in
// which operations were attempted and none succeeded marked.
func (r *Result) WriteHTML(w io.Writer, settings []report.Fact) error {
	f, err := os.Open(filepath.Join(r.Out, "history.jsonl"))
	if err != nil {
		return fmt.Errorf("runner: report: %w", err)
	}
	history, err := chaos.ReadHistory(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("runner: report: %w", err)
	}
	var faults []chaos.Fault
	if b, err := os.ReadFile(filepath.Join(r.Out, "faults.json")); err == nil {
		if err := json.Unmarshal(b, &faults); err != nil {
			return fmt.Errorf("runner: report: faults.json: %w", err)
		}
	}
	return report.Write(w, reportPage(r, history, faults, settings))
}

func reportPage(r *Result, history []chaos.Op, faults []chaos.Fault, settings []report.Fact) report.Page {
	s := r.Summary
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL: " + r.Problem()
	}
	facts := []report.Fact{
		{Name: "verdict", Value: verdict},
		{Name: "workload", Value: s.Workload},
		{Name: "engine", Value: s.Engine},
		{Name: "nemesis", Value: s.Nemesis},
		{Name: "seed", Value: strconv.FormatInt(s.Seed, 10)},
		{Name: "operations", Value: fmt.Sprintf("%d in %.1f s: %d ok, %d failed, %d indeterminate", s.Ops.Total, s.Seconds, s.Ops.OK, s.Ops.Failed, s.Ops.Indeterminate)},
		{Name: "under faults", Value: fmt.Sprintf("%.1f s", s.FaultSeconds)},
		{Name: "longest unavailability", Value: fmt.Sprintf("%.1f s", s.LongestUnavailable.Seconds)},
	}
	if r.Replay != "" {
		facts = append(facts, report.Fact{Name: "replay", Value: r.Replay})
	}
	facts = append(facts, settings...)

	var t0, t1 int64
	if len(history) > 0 {
		t0, t1 = history[0].Call, history[0].Call
		for _, op := range history {
			t0, t1 = min(t0, op.Call), max(t1, op.Return, op.Call)
		}
	}
	at := func(t int64) float64 { return float64(t-t0) / 1e9 }
	var bands []report.Band
	var faultRows [][]string
	for _, f := range faults {
		end := f.End
		if end == 0 {
			end = t1
		}
		label := string(f.Kind)
		if f.Node != "" {
			label += " " + f.Node
		}
		if f.Detail != "" {
			label += ": " + f.Detail
		}
		bands = append(bands, report.Band{From: at(f.Start), To: at(end), Label: label, Class: report.BandFault})
		faultRows = append(faultRows, []string{fmt.Sprintf("%.1f", at(f.Start)), fmt.Sprintf("%.1f", at(end)), string(f.Kind), f.Node, f.Detail})
	}
	var gapRows [][]string
	for _, g := range chaos.Unavailable(history, reportGap) {
		bands = append(bands, report.Band{From: at(g.Start), To: at(g.End), Label: fmt.Sprintf("no operation succeeded for %.1f s", g.Seconds), Class: report.BandGap})
		gapRows = append(gapRows, []string{fmt.Sprintf("%.1f", at(g.Start)), fmt.Sprintf("%.1f", at(g.End)), fmt.Sprintf("%.1f", g.Seconds)})
	}

	ok, failed, indet, p99 := timeline(history, t0, t1)
	checks := &report.Table{Head: []string{"history", "workload", "ops", "keys", "verdict", "detail"}}
	for _, h := range s.Histories {
		checks.Rows = append(checks.Rows, []string{h.Name, h.Workload, strconv.Itoa(h.Ops), strconv.Itoa(h.Keys), string(h.Verdict), h.Detail})
	}
	sections := []report.Section{
		{Title: "Operations over time", Note: "Operations completed per second by outcome. Shaded: a fault in force (hover for which); dark: a stretch of at least a second in which operations were attempted and none succeeded.",
			Chart: &report.Chart{XLabel: "seconds since the first operation", YLabel: "ops/s", Series: []report.Series{ok, failed, indet}, Bands: bands}},
		{Title: "Latency over time", Note: "The p99 of the operations that succeeded in each interval.",
			Chart: &report.Chart{XLabel: "seconds since the first operation", YLabel: "ms", Series: []report.Series{p99}, Bands: bands}},
		{Title: "Histories checked", Table: checks},
	}
	if len(faultRows) > 0 {
		sections = append(sections, report.Section{Title: "Faults", Table: &report.Table{Head: []string{"from s", "to s", "kind", "node", "detail"}, Rows: faultRows}})
	}
	if len(gapRows) > 0 {
		sections = append(sections, report.Section{Title: "Unavailability", Note: "Every stretch of at least a second without a successful operation while some were attempted.",
			Table: &report.Table{Head: []string{"from s", "to s", "seconds"}, Rows: gapRows}})
	}
	return report.Page{Title: "cairn check", Subtitle: verdict, Facts: facts, Sections: sections}
}

// timeline buckets history into about reportBuckets intervals of at least
// a second: completions per second by outcome (at their return), and the
// p99 latency of the successful ones.
func timeline(history []chaos.Op, t0, t1 int64) (ok, failed, indet, p99 report.Series) {
	ok.Name, failed.Name, indet.Name, p99.Name = "ok", "failed", "indeterminate", "p99 of ok"
	if len(history) == 0 {
		return
	}
	width := max(int64(time.Second), (t1-t0)/reportBuckets)
	n := int((t1-t0)/width) + 1
	counts := make([][3]int, n)
	lat := make([][]int64, n)
	for _, op := range history {
		i := int((max(op.Return, op.Call) - t0) / width)
		switch op.Outcome {
		case chaos.OK:
			counts[i][0]++
			lat[i] = append(lat[i], op.Return-op.Call)
		case chaos.Failed:
			counts[i][1]++
		default:
			counts[i][2]++
		}
	}
	per := float64(width) / 1e9
	for i := range n {
		x := (float64(i) + 0.5) * per
		ok.Points = append(ok.Points, report.Point{X: x, Y: float64(counts[i][0]) / per})
		failed.Points = append(failed.Points, report.Point{X: x, Y: float64(counts[i][1]) / per})
		indet.Points = append(indet.Points, report.Point{X: x, Y: float64(counts[i][2]) / per})
		if l := lat[i]; len(l) > 0 {
			sort.Slice(l, func(a, b int) bool { return l[a] < l[b] })
			k := min(len(l)-1, int(float64(len(l))*0.99))
			p99.Points = append(p99.Points, report.Point{X: x, Y: float64(l[k]) / 1e6})
		}
	}
	return
}
