package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 µs .. 60 s in microseconds, 3 significant digits.
const (
	histMin    = 1
	histMax    = 60_000_000
	histDigits = 3
)

func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// record adds one latency, clamped into the histogram's range.
func record(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histMin), histMax)
	_ = h.RecordValue(us) // in range: cannot fail
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// LatencyOf extracts the percentiles of h (microseconds) in milliseconds;
// all zero when h is empty.
func LatencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return round(float64(us)/1000, 3) }
	return Latency{
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Side is the figures of reads, of writes, or of both.
type Side struct {
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Throughput float64 `json:"throughput"` // ops per second
	Latency    Latency `json:"latency_ms"`
}

func sideOf(h *hdrhistogram.Histogram, errs int64, seconds float64) Side {
	s := Side{Ops: h.TotalCount(), Errors: errs, Latency: LatencyOf(h)}
	if seconds > 0 {
		s.Throughput = round(float64(s.Ops)/seconds, 1)
	}
	return s
}

// Result is a finished run. Its JSON is DESIGN.md's `cairn bench -o json`
// shape: the embedded Side gives the overall ops, errors, throughput and
// latency_ms between seconds and reads.
type Result struct {
	Protocol string  `json:"protocol"`
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"seconds"`
	Side
	Reads  Side `json:"reads"`
	Writes Side `json:"writes"`
	// ServerCPUSeconds is the CPU time (user + system) the servers named
	// by Config.Metrics spent during the timed run, and CPUMicrosPerOp
	// that over the operations done; both absent when not measured.
	ServerCPUSeconds float64 `json:"server_cpu_seconds,omitempty"`
	CPUMicrosPerOp   float64 `json:"cpu_us_per_op,omitempty"`
	// Servers is how many servers' CPU was read.
	Servers int `json:"servers,omitempty"`
	// CPUNote says why the CPU figures are missing, when asked for.
	CPUNote string `json:"-"`

	// Not in the JSON shape: they go to stderr.
	Interrupted   bool          `json:"-"` // the context ended the run early
	Preloaded     int64         `json:"-"` // keys written by the preload
	PreloadErrors int64         `json:"-"`
	ErrorSamples  []ErrorSample `json:"-"` // the first distinct messages, in order seen
	Mode          string        `json:"-"` // e.g. "grpc batch (Go client, 4 streams per node, round-robin)"
	ReadRatio     float64       `json:"-"`
	// Rate is the asked rate (Config.Rate), 0 without pacing. IssueRate is
	// the rate at which requests that completed were sent: with n of them,
	// n over the time from the start to the last send plus one period, so
	// a run that kept to the schedule comes out at Rate.
	Rate      float64 `json:"-"`
	IssueRate float64 `json:"-"`
	// Timeline is the run in progress intervals (--progress-interval), and
	// Distribution the latency at a range of percentiles: for --report.
	Timeline     []Interval   `json:"-"`
	Distribution []Percentile `json:"-"`
}

// Interval is one progress interval of a run: At seconds after the start,
// the requests completed in it per second, its errors, and the p50 and p99
// of its requests in milliseconds (0 when none completed).
type Interval struct {
	At, Throughput float64
	Errors         int64
	P50, P99       float64
}

// Percentile is the latency in milliseconds at percentile Q (0..100).
type Percentile struct{ Q, Ms float64 }

// reportQuantiles are the percentiles of Distribution.
var reportQuantiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100}

func distribution(h *hdrhistogram.Histogram) []Percentile {
	if h.TotalCount() == 0 {
		return nil
	}
	out := make([]Percentile, len(reportQuantiles))
	for i, q := range reportQuantiles {
		v := h.ValueAtQuantile(q)
		if q == 0 {
			v = h.Min()
		}
		out[i] = Percentile{Q: q, Ms: round(float64(v)/1000, 3)}
	}
	return out
}

// behindShare is how far below Rate IssueRate may fall before
// WriteRateWarning speaks: a run that kept up comes within a few per cent.
const behindShare = 0.95

// ErrorSample is one distinct error message and how often it was seen.
type ErrorSample struct {
	Message string
	Count   int64
}

// WriteJSON writes the result as one JSON line.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable writes a human summary with the same figures as the JSON.
func (r *Result) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%s, %d clients, %.2fs, read ratio %g", r.Mode, r.Clients, r.Seconds, r.ReadRatio)
	if r.Rate > 0 {
		fmt.Fprintf(w, ", rate %g/s (sent at %.1f/s)", r.Rate, r.IssueRate)
	}
	if r.Interrupted {
		fmt.Fprint(w, " (interrupted)")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tops\terrors\tops/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	row := func(name string, s Side) {
		l := s.Latency
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n",
			name, s.Ops, s.Errors, s.Throughput, l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	row("all", r.Side)
	row("reads", r.Reads)
	row("writes", r.Writes)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Servers > 0 {
		_, err := fmt.Fprintf(w, "server CPU: %.2fs on %d servers, %.0f µs per op\n", r.ServerCPUSeconds, r.Servers, r.CPUMicrosPerOp)
		return err
	}
	return nil
}

// setCPU records the servers' CPU seconds over the run.
func (r *Result) setCPU(seconds float64, servers int) {
	r.ServerCPUSeconds, r.Servers = seconds, servers
	if r.Ops > 0 {
		r.CPUMicrosPerOp = seconds * 1e6 / float64(r.Ops)
	}
}

// WriteErrors writes the error count and the first distinct messages;
// nothing when the run had no errors.
func (r *Result) WriteErrors(w io.Writer) {
	if r.PreloadErrors > 0 {
		fmt.Fprintf(w, "preload: %d of %d writes failed\n", r.PreloadErrors, r.Preloaded+r.PreloadErrors)
	}
	if r.CPUNote != "" {
		fmt.Fprintln(w, r.CPUNote)
	}
	if r.Errors == 0 && r.PreloadErrors == 0 {
		return
	}
	fmt.Fprintf(w, "errors: %d (reads %d, writes %d); first distinct messages:\n", r.Errors, r.Reads.Errors, r.Writes.Errors)
	for _, s := range r.ErrorSamples {
		fmt.Fprintf(w, "  %7d× %s\n", s.Count, s.Message)
	}
}

// WriteRateWarning writes one line when a paced run (Rate > 0) sent its
// requests below behindShare of Rate: the clients could not keep to the
// schedule, so the run measured a lower load than asked (the latencies
// still count from the intended starts). Nothing otherwise.
func (r *Result) WriteRateWarning(w io.Writer) {
	if r.Rate <= 0 || r.Ops+r.Errors == 0 || r.IssueRate >= behindShare*r.Rate {
		return // NB: with nothing completed there is no rate to speak of
	}
	fmt.Fprintf(w, "warning: --rate %g/s not reached: requests were sent at %.1f/s (%.0f%%); "+
		"the clients fell behind the schedule (latencies count from the intended starts); "+
		"add --clients, or lower --rate if the cluster is saturated\n",
		r.Rate, r.IssueRate, 100*r.IssueRate/r.Rate)
}

// errorLog keeps the first maxSamples distinct error messages with counts.
type errorLog struct {
	samples []ErrorSample
	index   map[string]int
}

const maxSamples = 5

func (l *errorLog) add(msg string) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	if i, ok := l.index[msg]; ok {
		l.samples[i].Count++
		return
	}
	if len(l.samples) >= maxSamples {
		return
	}
	l.index[msg] = len(l.samples)
	l.samples = append(l.samples, ErrorSample{Message: msg, Count: 1})
}

func (l *errorLog) sorted() []ErrorSample {
	out := append([]ErrorSample(nil), l.samples...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}
