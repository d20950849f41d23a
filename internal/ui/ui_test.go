package ui

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMergeNeverOverstatesFastObservations(t *testing.T) {
	a := Histogram{Bounds: []float64{0.001, 0.002, 0.004}, Counts: []uint64{10, 20, 30}, Count: 35}
	b := Histogram{Bounds: []float64{0.0025, 0.005}, Counts: []uint64{4, 8}, Count: 9}
	m := Merge(a, b)
	wantBounds := []float64{0.001, 0.002, 0.0025, 0.004, 0.005}
	wantCounts := []uint64{10, 20, 20 + 4, 30 + 4, 30 + 8}
	if len(m.Bounds) != len(wantBounds) {
		t.Fatalf("bounds %v, want %v", m.Bounds, wantBounds)
	}
	for i := range wantBounds {
		if m.Bounds[i] != wantBounds[i] || m.Counts[i] != wantCounts[i] {
			t.Fatalf("merged %v %v, want %v %v", m.Bounds, m.Counts, wantBounds, wantCounts)
		}
	}
	if m.Count != 44 {
		t.Fatalf("count %d, want 44", m.Count)
	}
	if e := Merge(); e.Count != 0 || len(e.Bounds) != 0 || !math.IsNaN(e.Quantile(0.99)) {
		t.Fatalf("empty merge: %+v", e)
	}
}

func TestQuantileInterpolatesInsideTheBucket(t *testing.T) {
	h := Histogram{Bounds: []float64{1, 2, 4}, Counts: []uint64{50, 90, 100}, Count: 100}
	for _, c := range []struct{ q, want float64 }{
		{0.5, 1},    // exactly the first bucket's edge
		{0.25, 0.5}, // half-way into [0, 1]
		{0.7, 1.5},  // half-way into (1, 2]
		{0.99, 3.8}, // 9 of 10 into (2, 4]
		{1.0, 4},    // the top
	} {
		if got := h.Quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	// Observations beyond the largest bound: the largest bound.
	over := Histogram{Bounds: []float64{1}, Counts: []uint64{1}, Count: 10}
	if got := over.Quantile(0.99); got != 1 {
		t.Errorf("Quantile over the top = %v, want 1", got)
	}
}

func TestRegistryStats(t *testing.T) {
	reg := prometheus.NewRegistry()
	resp := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cairn_resp_command_seconds",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"command"})
	httpH := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cairn_http_request_seconds",
		Buckets: prometheus.ExponentialBuckets(0.00025, 2, 15)}, []string{"route", "method"})
	offset := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cairn_transport_clock_offset_seconds"}, []string{"peer"})
	mismatches := prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_consistency_mismatches_total"})
	groups := prometheus.NewGauge(prometheus.GaugeOpts{Name: "cairn_raft_groups"})
	led := prometheus.NewGauge(prometheus.GaugeOpts{Name: "cairn_raft_groups_led"})
	reg.MustRegister(resp, httpH, offset, mismatches, groups, led)
	groups.Set(9)
	led.Set(4)
	for range 5 {
		resp.WithLabelValues("set").Observe(0.0003)
	}
	resp.WithLabelValues("get").Observe(0.0001)
	httpH.WithLabelValues("GET /v1/kv/{key...}", "GET").Observe(0.001)
	// Not a client request: scrapes and probes are left out.
	httpH.WithLabelValues("GET /metrics", "GET").Observe(0.01)
	httpH.WithLabelValues("GET /readyz", "GET").Observe(0.01)
	offset.WithLabelValues("n2").Set(0.2)
	offset.WithLabelValues("n3").Set(-0.7)
	mismatches.Add(2)

	var st NodeStats
	if err := RegistryStats(reg, &st); err != nil {
		t.Fatal(err)
	}
	if st.Requests != 7 || st.Latency.Count != 7 {
		t.Fatalf("requests %d (latency count %d), want 7: the key route and RESP only", st.Requests, st.Latency.Count)
	}
	if st.ClockOffsetSeconds != -0.7 {
		t.Fatalf("clock offset %v, want the largest by magnitude, -0.7", st.ClockOffsetSeconds)
	}
	if st.ConsistencyMismatches != 2 {
		t.Fatalf("mismatches %d, want 2", st.ConsistencyMismatches)
	}
	if st.Replicas != 9 || st.Leaders != 4 {
		t.Fatalf("replicas %d leaders %d, want 9 and 4", st.Replicas, st.Leaders)
	}
	if q := st.Latency.Quantile(0.5); q < 0.0002 || q > 0.0004 {
		t.Fatalf("median %v, want within the 0.0002..0.0004 bucket", q)
	}
}

func TestAlarms(t *testing.T) {
	ov := Overview{
		Status: &Status{UnderReplicated: 3, Nodes: []NodeStatus{
			{Name: "n1", State: "up"}, {Name: "n2", State: "down"}, {Name: "n3", State: "up"}, {Name: "n4", State: "up"},
		}},
		Nodes: []NodeStats{
			{Name: "n1", Reachable: true, ClockOffsetSeconds: 0.9, NoSpace: true},
			{Name: "n2", Error: "connection refused"},
			{Name: "n3", Reachable: true, ConsistencyMismatches: 1, ClockOffsetSeconds: -0.1},
			{Name: "n4", Error: "timeout"},
		},
	}
	got := map[string]bool{}
	for _, a := range Alarms(ov, 500*time.Millisecond) {
		got[a.Kind+"/"+a.Node] = true
		if a.Message == "" {
			t.Errorf("alarm %s/%s has no message", a.Kind, a.Node)
		}
	}
	want := []string{"node-down/n2", "under-replicated/", "clock-offset/n1", "nospace/n1", "consistency/n3", "unreachable/n4"}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing alarm %s in %v", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("alarms %v, want exactly %v (a down node is not also unreachable; n3's offset is within bounds)", got, want)
	}
	if a := Alarms(Overview{}, time.Second); a == nil || len(a) != 0 {
		t.Errorf("no alarms must be an empty list, got %#v", a)
	}
}

type fakeSource struct {
	self NodeStats
	ov   Overview
}

func (f fakeSource) Overview(context.Context) Overview { return f.ov }
func (f fakeSource) Self() NodeStats                   { return f.self }

func TestHandler(t *testing.T) {
	src := fakeSource{self: NodeStats{Name: "n1", Reachable: true, Incarnation: 1 << 62}, ov: Overview{Node: "n1"}}
	srv := httptest.NewServer(Handler(src, nil))
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/ui/")
	if resp.StatusCode != 200 || !strings.Contains(body, "<title>Cairn</title>") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ui/: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body[:min(len(body), 80)])
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	for _, f := range []string{"app.js", "style.css"} {
		if resp, body := get("/ui/static/" + f); resp.StatusCode != 200 || len(body) < 100 {
			t.Fatalf("%s: %d, %d bytes", f, resp.StatusCode, len(body))
		}
	}
	for _, p := range []string{"/ui/static/nope.js", "/ui/static/..%2fui.go", "/ui/elsewhere"} {
		if resp, _ := get(p); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
	// Every page, script and stylesheet the page names is served: the
	// page never reaches outside the node (no CDN).
	_, page := get("/ui/")
	for _, ref := range []string{"/ui/static/app.js", "/ui/static/style.css"} {
		if !strings.Contains(page, ref) {
			t.Errorf("the page does not load %s", ref)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("the page refers to another origin")
	}
	resp, body = get("/ui/api/node")
	var st NodeStats
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Name != "n1" || st.Incarnation != 1<<62 {
		t.Fatalf("/ui/api/node: %v %+v (%s)", err, st, body)
	}
	resp, _ = get("/ui")
	if resp.Request.URL.Path != "/ui/" {
		t.Errorf("/ui ends at %s, want /ui/", resp.Request.URL.Path)
	}
	r, err := http.Post(srv.URL+"/ui/api/overview", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST overview: %d, want 405", r.StatusCode)
	}
}

func TestGather(t *testing.T) {
	peer := httptest.NewServer(Handler(fakeSource{self: NodeStats{Name: "n2", Requests: 42, DiskFreeBytes: 7}}, nil))
	defer peer.Close()
	impostor := httptest.NewServer(Handler(fakeSource{self: NodeStats{Name: "n9"}}, nil))
	defer impostor.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	self := NodeStats{Name: "n1", Reachable: true}
	got := Gather(context.Background(), http.DefaultClient, "http", self, []Peer{
		{Name: "n1"},
		{Name: "n2", HTTP: strings.TrimPrefix(peer.URL, "http://")},
		{Name: "n3", HTTP: deadAddr},
		{Name: "n4"},
		{Name: "n5", HTTP: strings.TrimPrefix(impostor.URL, "http://")},
	})
	if len(got) != 5 || got[0].Name != "n1" || !got[0].Reachable {
		t.Fatalf("self: %+v", got)
	}
	if !got[1].Reachable || got[1].Requests != 42 || got[1].DiskFreeBytes != 7 {
		t.Fatalf("n2: %+v", got[1])
	}
	for _, i := range []int{2, 3, 4} {
		if got[i].Reachable || got[i].Error == "" || got[i].DiskFreeBytes != -1 {
			t.Errorf("%s should be unreachable with a reason: %+v", got[i].Name, got[i])
		}
	}
	if !strings.Contains(got[4].Error, `answers as "n9"`) {
		t.Errorf("impostor: %q", got[4].Error)
	}
}
