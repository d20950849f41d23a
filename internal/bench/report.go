package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/cairnkv/cairn/internal/report"
)

// WriteHTML writes the run as a self-contained page (cairn bench --report):
// the settings given, the figures of the table, throughput and p50/p99 over
// time (one point per progress interval) and the latency distribution.
func (r *Result) WriteHTML(w io.Writer, settings []report.Fact) error {
	ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	facts := append([]report.Fact{
		{Name: "mode", Value: r.Mode},
		{Name: "clients", Value: strconv.Itoa(r.Clients)},
		{Name: "seconds", Value: strconv.FormatFloat(r.Seconds, 'f', 2, 64)},
		{Name: "read ratio", Value: strconv.FormatFloat(r.ReadRatio, 'g', -1, 64)},
	}, settings...)
	if r.Rate > 0 {
		facts = append(facts, report.Fact{Name: "rate", Value: fmt.Sprintf("%g/s asked, sent at %.1f/s", r.Rate, r.IssueRate)})
	}
	if r.Servers > 0 {
		facts = append(facts, report.Fact{Name: "server CPU", Value: fmt.Sprintf("%.2f s on %d servers, %.0f µs per op", r.ServerCPUSeconds, r.Servers, r.CPUMicrosPerOp)})
	}
	if r.Interrupted {
		facts = append(facts, report.Fact{Name: "interrupted", Value: "yes: the figures cover the run until then"})
	}
	summary := &report.Table{Head: []string{"", "ops", "errors", "ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"}}
	for _, row := range []struct {
		name string
		s    Side
	}{{"all", r.Side}, {"reads", r.Reads}, {"writes", r.Writes}} {
		l := row.s.Latency
		summary.Rows = append(summary.Rows, []string{row.name, strconv.FormatInt(row.s.Ops, 10), strconv.FormatInt(row.s.Errors, 10),
			strconv.FormatFloat(row.s.Throughput, 'f', 1, 64), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max)})
	}
	var tput, errs, p50, p99 report.Series
	tput.Name, errs.Name, p50.Name, p99.Name = "ops/s", "errors", "p50", "p99"
	for _, iv := range r.Timeline {
		tput.Points = append(tput.Points, report.Point{X: iv.At, Y: iv.Throughput})
		errs.Points = append(errs.Points, report.Point{X: iv.At, Y: float64(iv.Errors)})
		if iv.P99 > 0 {
			p50.Points = append(p50.Points, report.Point{X: iv.At, Y: iv.P50})
			p99.Points = append(p99.Points, report.Point{X: iv.At, Y: iv.P99})
		}
	}
	throughput := []report.Series{tput}
	if r.Errors > 0 {
		throughput = append(throughput, errs)
	}
	// The distribution on a log scale of 1/(1-q): 50% at 0.3, 90% at 1,
	// 99% at 2, 99.9% at 3 (HdrHistogram's plots); the maximum one step on.
	nines := func(q float64) float64 { return math.Log10(100 / (100 - q)) }
	var dist report.Series
	dist.Name = "latency"
	var ticks []report.Tick
	dtable := &report.Table{Head: []string{"percentile", "ms"}}
	top := 0.0
	for _, p := range r.Distribution {
		if p.Q < 100 {
			top = math.Max(top, nines(p.Q))
		}
	}
	for _, p := range r.Distribution {
		x := top + 0.5
		if p.Q < 100 {
			x = nines(p.Q)
		}
		dist.Points = append(dist.Points, report.Point{X: x, Y: p.Ms})
		label := strconv.FormatFloat(p.Q, 'g', -1, 64) + "%"
		if p.Q == 100 {
			label = "max"
		}
		if p.Q == 50 || p.Q == 90 || p.Q >= 99 {
			ticks = append(ticks, report.Tick{At: x, Label: label})
		}
		dtable.Rows = append(dtable.Rows, []string{label, ms(p.Ms)})
	}
	return report.Write(w, report.Page{
		Title:    "cairn bench",
		Subtitle: r.Mode,
		Facts:    facts,
		Sections: []report.Section{
			{Title: "Summary", Table: summary},
			{Title: "Throughput", Note: fmt.Sprintf("Requests completed per second in each progress interval (%d intervals).", len(r.Timeline)),
				Chart: &report.Chart{XLabel: "seconds since the start", YLabel: "ops/s", Series: throughput}},
			{Title: "Latency over time", Note: "The p50 and p99 of the requests completed in each interval.",
				Chart: &report.Chart{XLabel: "seconds since the start", YLabel: "ms", Series: []report.Series{p50, p99}}},
			{Title: "Latency distribution", Note: "Every successful request of the run (HdrHistogram, 3 significant digits); the x axis is logarithmic in 1/(1 − percentile).",
				Chart: &report.Chart{XLabel: "percentile", YLabel: "ms", Series: []report.Series{dist}, XTicks: ticks}, Table: dtable},
		},
	})
}
