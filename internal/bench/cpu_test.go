package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// metricsServer serves a /metrics whose process_cpu_seconds_total grows by
// step at every scrape.
func metricsServer(t *testing.T, step float64) *httptest.Server {
	var scrapes atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		n := scrapes.Add(1)
		fmt.Fprintf(w, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"+
			"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\nprocess_open_fds 12\n", float64(n)*step)
	}))
	t.Cleanup(s.Close)
	return s
}

// The servers' CPU over the timed run, summed over --metrics, is in the
// JSON with the CPU per operation; scrapes before the run (the check at
// start, the sample after the preload) do not count.
func TestServerCPUFromMetrics(t *testing.T) {
	c := start(t)
	m1, m2 := metricsServer(t, 0.25), metricsServer(t, 0.5)
	cfg := doors[0].config(c)
	cfg.Metrics = m1.URL + "," + strings.TrimPrefix(m2.URL, "http://")
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Each server was scraped three times: at start, before and after the
	// run; the run's share is one step of each: 0.25 + 0.5.
	if res.Servers != 2 || math.Abs(res.ServerCPUSeconds-0.75) > 1e-9 {
		t.Fatalf("servers %d, cpu %v s; want 2 servers, 0.75 s", res.Servers, res.ServerCPUSeconds)
	}
	if want := 0.75e6 / float64(res.Ops); res.Ops == 0 || math.Abs(res.CPUMicrosPerOp-want) > 1e-6 {
		t.Fatalf("cpu_us_per_op %v over %d ops, want %v", res.CPUMicrosPerOp, res.Ops, want)
	}
	var out bytes.Buffer
	if err := res.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"server_cpu_seconds":0.75`, `"cpu_us_per_op":`, `"servers":2`} {
		if !strings.Contains(out.String(), k) {
			t.Fatalf("JSON %s lacks %s", out.String(), k)
		}
	}
	out.Reset()
	if err := res.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "server CPU: 0.75s on 2 servers") {
		t.Fatalf("table lacks the CPU line:\n%s", out.String())
	}
}

// Named addresses that do not serve the metric refuse the run, naming the
// address; auto with resp measures nothing and says nothing.
func TestMetricsErrors(t *testing.T) {
	c := start(t)
	cfg := doors[0].config(c)
	cfg.Metrics = refusedAddr(t)
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), cfg.Metrics) {
		t.Fatalf("Run with --metrics %s = %v, want an error naming it", cfg.Metrics, err)
	}
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "go_goroutines 3") }))
	defer empty.Close()
	cfg.Metrics = empty.URL
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no process_cpu_seconds_total") {
		t.Fatalf("Run against metrics without the counter = %v, want it named", err)
	}
	cfg = doors[2].config(c) // resp, auto
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Servers != 0 || res.CPUNote != "" {
		t.Fatalf("resp with auto: servers %d, note %q; want neither", res.Servers, res.CPUNote)
	}
}

func TestParseCPU(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
		err  bool
	}{
		{"process_cpu_seconds_total 12.5\n", 12.5, true, false},
		{"process_cpu_seconds_total_x 3\nprocess_cpu_seconds_total 1e1 1700000000\n", 10, true, false},
		{"# TYPE process_cpu_seconds_total counter\n", 0, false, false},
		{"process_cpu_seconds_total twelve\n", 0, false, true},
	} {
		got, ok, err := parseCPU(bufio.NewScanner(strings.NewReader(tc.in)))
		if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("parseCPU(%q) = %v, %v, %v; want %v, %v, error %v", tc.in, got, ok, err, tc.want, tc.ok, tc.err)
		}
	}
}
