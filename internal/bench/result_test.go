package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/report"
)

func TestLatencyOf(t *testing.T) {
	if got := LatencyOf(newHistogram()); got != (Latency{}) {
		t.Fatalf("empty histogram: %+v, want zero", got)
	}

	h := newHistogram()
	for us := 1; us <= 1000; us++ { // below 2048 µs the histogram is exact
		record(h, time.Duration(us)*time.Microsecond)
	}
	want := Latency{P50: 0.5, P90: 0.9, P99: 0.99, P999: 0.999, Max: 1}
	if got := LatencyOf(h); got != want {
		t.Fatalf("1..1000 µs: %+v, want %+v", got, want)
	}

	h = newHistogram()
	for range 990 {
		record(h, 2*time.Millisecond)
	}
	for range 10 {
		record(h, 10*time.Second)
	}
	got := LatencyOf(h)
	if got.P50 != 2 || got.P90 != 2 {
		t.Fatalf("p50 %v p90 %v, want 2 ms", got.P50, got.P90)
	}
	near := func(v, want float64) bool { return math.Abs(v-want) <= want*0.001 } // 3 significant digits
	if !near(got.P999, 10000) || !near(got.Max, 10000) {
		t.Fatalf("p99.9 %v max %v, want 10000 ms within 0.1%%", got.P999, got.Max)
	}
}

func TestRecordClamps(t *testing.T) {
	h := newHistogram()
	record(h, 0)
	record(h, 2*time.Minute)
	if h.TotalCount() != 2 {
		t.Fatalf("recorded %d of 2 out-of-range latencies", h.TotalCount())
	}
	if h.Min() != histMin || !h.ValuesAreEquivalent(h.Max(), histMax) {
		t.Fatalf("min %d max %d, want clamped to %d and %d", h.Min(), h.Max(), histMin, histMax)
	}
}

func TestSideOfEmpty(t *testing.T) {
	if s := sideOf(newHistogram(), 0, 10); s != (Side{}) {
		t.Fatalf("empty side %+v, want zero", s)
	}
	h := newHistogram()
	for range 500 {
		record(h, time.Millisecond)
	}
	if s := sideOf(h, 3, 2); s.Ops != 500 || s.Errors != 3 || s.Throughput != 250 || s.Latency.P50 != 1 {
		t.Fatalf("side %+v, want 500 ops, 3 errors, 250/s, p50 1 ms", s)
	}
}

func TestJSONShapeOfEmptyResult(t *testing.T) {
	var buf bytes.Buffer
	r := &Result{Protocol: "grpc", Clients: 1}
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	checkShape(t, buf.Bytes())
}

func TestErrorLogKeepsFirstDistinct(t *testing.T) {
	var l errorLog
	for _, m := range []string{"a", "b", "a", "c", "d", "e", "f", "a", "f"} {
		l.add(m)
	}
	got := l.sorted()
	if len(got) != maxSamples || got[0] != (ErrorSample{"a", 3}) {
		t.Fatalf("samples %+v, want %d with a×3 first and no f", got, maxSamples)
	}
	for _, s := range got {
		if s.Message == "f" {
			t.Fatalf("sample %q past the first %d distinct kept", s.Message, maxSamples)
		}
	}
}

func TestWriteHTML(t *testing.T) {
	h := newHistogram()
	for us := 1; us <= 1000; us++ {
		record(h, time.Duration(us)*time.Microsecond)
	}
	r := &Result{Protocol: "resp", Clients: 4, Seconds: 3, Mode: "resp <pipelined>", Side: sideOf(h, 2, 3),
		Timeline:     []Interval{{At: 1, Throughput: 300, Errors: 1, P50: 0.5, P99: 0.99}, {At: 2, Throughput: 400, P50: 0.4, P99: 0.9}, {At: 3, Throughput: 0, Errors: 1}},
		Distribution: distribution(h)}
	var b bytes.Buffer
	if err := r.WriteHTML(&b, []report.Fact{{Name: "endpoints", Value: "127.0.0.1:6379"}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"resp &lt;pipelined&gt;", "127.0.0.1:6379", "3 intervals", "<td>99.9%</td>", "max", `class="series"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(out, "<pipelined>") {
		t.Error("the mode is not escaped")
	}
	if got := strings.Count(out, `class="series"`); got != 5 { // ops/s, errors, p50, p99, distribution
		t.Errorf("%d lines drawn, want 5", got)
	}
}
