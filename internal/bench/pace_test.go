package bench

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeConn answers every request after latency(), or with ctx's error when
// ctx ends first, and counts the requests sent to it.
type fakeConn struct {
	latency func() time.Duration
	sent    *atomic.Int64
}

func (c fakeConn) get(ctx context.Context, _ []byte) error    { return c.answer(ctx) }
func (c fakeConn) put(ctx context.Context, _, _ []byte) error { return c.answer(ctx) }

func (c fakeConn) answer(ctx context.Context) error {
	c.sent.Add(1)
	t := time.NewTimer(c.latency())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fakeRun runs cfg on cfg.Clients fake conns answering after latency() and
// returns the result and the number of requests sent.
func fakeRun(t *testing.T, ctx context.Context, cfg Config, latency func() time.Duration) (*Result, int64) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	conns := make([]conn, cfg.Clients)
	for i := range conns {
		conns[i] = fakeConn{latency, &sent}
	}
	return runOn(ctx, cfg, conns, "fake"), sent.Load()
}

// fakeConfig is a write-only run (no preload) of n clients for d.
func fakeConfig(n int, d time.Duration) Config {
	cfg := DefaultConfig()
	cfg.Clients, cfg.Duration, cfg.Keys = n, d, 100
	return cfg
}

func constant(d time.Duration) func() time.Duration { return func() time.Duration { return d } }

// With --rate the clients together send about rate × duration requests,
// however many clients there are. NB: the bounds are wide on purpose; the
// upper one holds on any machine (no request is due after the end).
func TestRateIssuesOnSchedule(t *testing.T) {
	cfg := fakeConfig(4, 500*time.Millisecond)
	cfg.Rate = 200
	res, sent := fakeRun(t, context.Background(), cfg, constant(time.Millisecond))
	if sent < 50 || sent > 150 {
		t.Fatalf("sent %d requests at 200/s for 500ms, want 50..150 (about 100)", sent)
	}
	if res.Ops+res.Errors != sent || res.Errors != 0 {
		t.Fatalf("ops %d errors %d (%v), want %d ops", res.Ops, res.Errors, res.ErrorSamples, sent)
	}
	if res.Rate != 200 || res.IssueRate <= 0 {
		t.Fatalf("rate %v sent at %v, want 200 and a positive figure", res.Rate, res.IssueRate)
	}

	t.Run("requests", func(t *testing.T) {
		// --requests with --rate: all of them, and no sooner than the
		// schedule allows (the 40th is due at 195ms).
		cfg := fakeConfig(4, 0)
		cfg.Rate, cfg.Requests = 200, 40
		res, sent := fakeRun(t, context.Background(), cfg, constant(time.Millisecond))
		if sent != 40 || res.Ops != 40 {
			t.Fatalf("sent %d, ops %d; want 40", sent, res.Ops)
		}
		if res.Seconds < 0.195 {
			t.Fatalf("40 requests at 200/s took %vs, want at least 0.195s: the schedule was not kept", res.Seconds)
		}
	})
}

// With a rate the latency counts from the intended start: one client whose
// every request takes 20ms cannot keep 100/s, falls further behind with
// every request, and its latencies grow with the delay it caused.
func TestRateLatencyFromIntendedStart(t *testing.T) {
	cfg := fakeConfig(1, 500*time.Millisecond)
	cfg.Rate = 100
	res, _ := fakeRun(t, context.Background(), cfg, constant(20*time.Millisecond))
	// Request k is sent at >= 20k ms and due at 10k ms: its latency is
	// >= 10k + 20 ms, so the median of about 25 is well above 40ms.
	if res.Ops < 5 || res.Latency.P50 < 40 {
		t.Fatalf("%d ops, p50 %v ms; want several and p50 >= 40ms (measured from the intended start, not the send)", res.Ops, res.Latency.P50)
	}
	if res.IssueRate >= behindShare*cfg.Rate {
		t.Fatalf("sent at %v/s, want below %v/s: one client cannot send faster than one request per 20ms", res.IssueRate, behindShare*cfg.Rate)
	}
	var warn, table bytes.Buffer
	res.WriteRateWarning(&warn)
	if !strings.HasPrefix(warn.String(), "warning: --rate 100/s not reached") || strings.Count(warn.String(), "\n") != 1 {
		t.Fatalf("warning %q, want one line saying --rate 100/s was not reached", warn.String())
	}
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "rate 100/s (sent at ") {
		t.Fatalf("table does not show the rate and what was reached:\n%s", table.String())
	}
}

func TestWriteRateWarning(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  Result
		warn bool
	}{
		{"closed loop", Result{Side: Side{Ops: 10}}, false},
		{"kept up", Result{Side: Side{Ops: 10}, Rate: 100, IssueRate: 99}, false},
		{"at 95%", Result{Side: Side{Ops: 10}, Rate: 100, IssueRate: 95}, false},
		{"behind", Result{Side: Side{Ops: 10}, Rate: 100, IssueRate: 94.9}, true},
		{"behind, errors only", Result{Side: Side{Errors: 10}, Rate: 100, IssueRate: 50}, true},
		{"nothing completed", Result{Rate: 100}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.res.WriteRateWarning(&buf)
			if got := buf.Len() > 0; got != tc.warn {
				t.Fatalf("warned %v (%q), want %v", got, buf.String(), tc.warn)
			}
		})
	}
}

func TestDue(t *testing.T) {
	for _, tc := range []struct {
		k    int64
		rate float64
		want time.Duration
	}{
		{0, 100, 0},
		{1, 100, 10 * time.Millisecond},
		{200, 200, time.Second},
		{3, 0.5, 6 * time.Second},
		{1, 3, 333333333},
		{math.MaxInt64, 1e-9, 1 << 62}, // clamped, not overflowed into the past
	} {
		if got := due(tc.k, tc.rate); got != tc.want {
			t.Errorf("due(%d, %v) = %v, want %v", tc.k, tc.rate, got, tc.want)
		}
	}
}

var progressLine = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3}  .* ops/s  \d+ ops  \d+ errors  p99 (\S+) ms \(last ([^)]+)\)$`)

// phaseWriter collects plain progress lines and moves the fake cluster
// through its phases by their count: latency slow from line slowAt, fast
// again from line fastAt, and the run cancelled at line stopAt. The phases
// follow the lines, not the clock, so each window is wholly in one phase.
type phaseWriter struct {
	lines                  []string
	slow                   *atomic.Bool
	cancel                 context.CancelFunc
	slowAt, fastAt, stopAt int
}

func (w *phaseWriter) Write(p []byte) (int, error) {
	for l := range strings.SplitSeq(strings.TrimSuffix(string(p), "\n"), "\n") {
		w.lines = append(w.lines, l)
		switch len(w.lines) {
		case w.slowAt:
			w.slow.Store(true)
		case w.fastAt:
			w.slow.Store(false)
		case w.stopAt:
			w.cancel()
		}
	}
	return len(p), nil
}

// A progress line's p99 is its interval's own: it rises when the cluster
// slows and falls back when it recovers, which a cumulative p99 would not.
func TestProgressShowsIntervalP99(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var slow atomic.Bool
	w := &phaseWriter{slow: &slow, cancel: cancel, slowAt: 3, fastAt: 6, stopAt: 10}
	cfg := fakeConfig(2, time.Hour)
	cfg.Progress, cfg.ProgressInterval = w, 100*time.Millisecond
	res, _ := fakeRun(t, ctx, cfg, func() time.Duration {
		if slow.Load() {
			return 30 * time.Millisecond
		}
		return time.Millisecond
	})
	if len(w.lines) < w.stopAt {
		t.Fatalf("the run ended after %d progress lines, want %d (timed out?):\n%s", len(w.lines), w.stopAt, strings.Join(w.lines, "\n"))
	}
	if !res.Interrupted {
		t.Fatalf("the run was not cancelled by line %d", w.stopAt)
	}
	p99s := make([]float64, len(w.lines))
	for i, l := range w.lines {
		m := progressLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d %q is not a plain progress line (time, ops/s, ops, errors, p99 ms (last interval))", i+1, l)
		}
		if d, err := time.ParseDuration(m[2]); err != nil || d <= 0 {
			t.Fatalf("line %d %q: the interval %q is not a duration", i+1, l, m[2])
		}
		p99s[i] = math.NaN() // "-": nothing completed in the interval
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			p99s[i] = v
		}
	}
	// anyIn reports whether a line numbered from..to (1-based) has a p99
	// for which ok holds. NB: a tick that comes late repeats the figures of
	// the interval before, so each phase is checked on any of its lines.
	anyIn := func(from, to int, ok func(float64) bool) bool {
		for _, v := range p99s[from-1 : to] {
			if ok(v) {
				return true
			}
		}
		return false
	}
	fast := func(v float64) bool { return v < 10 }
	slowP99 := func(v float64) bool { return v >= 20 }
	if !anyIn(1, 2, fast) || !anyIn(4, 6, slowP99) || !anyIn(8, 10, fast) {
		t.Fatalf("p99 by line %v: want < 10ms in lines 1-2 (1ms answers), >= 20ms in 4-6 (30ms answers) "+
			"and < 10ms again in 8-10 (1ms answers; a cumulative p99 would stay up):\n%s",
			p99s, strings.Join(w.lines, "\n"))
	}
}

func TestIntervalString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:              "1.0s",
		1049 * time.Millisecond:  "1.0s",
		2500 * time.Millisecond:  "2.5s",
		101 * time.Millisecond:   "100ms",
		99400 * time.Microsecond: "99ms",
		time.Millisecond:         "1ms",
	} {
		if got := intervalString(d); got != want {
			t.Errorf("intervalString(%v) = %q, want %q", d, got, want)
		}
	}
}
