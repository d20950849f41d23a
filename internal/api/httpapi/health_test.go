package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/apitest"
	"github.com/cairnkv/cairn/internal/buildinfo"
	"github.com/prometheus/client_golang/prometheus"
)

func TestReadyz(t *testing.T) {
	lagging := []api.Check{
		{Name: "storage", OK: true},
		{Name: "caught-up", OK: false, Reason: "group 12 is 900 entries behind"},
		{Name: "clock", OK: true},
	}
	cases := []struct {
		name     string
		ready    []api.Check
		draining bool
		path     string
		status   int
		body     string
	}{
		{name: "ready", path: "/readyz", status: 200, body: "ok"},
		{name: "ready verbose", path: "/readyz?verbose", status: 200,
			body: "[+]storage ok\n[+]caught-up ok\n[+]clock ok\n[+]shutdown ok\nreadyz check passed\n"},
		{name: "ready verbose=1", path: "/readyz?verbose=1", status: 200,
			body: "[+]storage ok\n[+]caught-up ok\n[+]clock ok\n[+]shutdown ok\nreadyz check passed\n"},
		{name: "lagging", ready: lagging, path: "/readyz", status: 503,
			body: "[-]caught-up failed: group 12 is 900 entries behind\nreadyz check failed\n"},
		{name: "lagging verbose", ready: lagging, path: "/readyz?verbose", status: 503,
			body: "[+]storage ok\n[-]caught-up failed: group 12 is 900 entries behind\n[+]clock ok\n[+]shutdown ok\nreadyz check failed\n"},
		{name: "lagging excluded", ready: lagging, path: "/readyz?exclude=caught-up", status: 200, body: "ok"},
		{name: "lagging excluded verbose", ready: lagging, path: "/readyz?verbose&exclude=caught-up", status: 200,
			body: "[+]storage ok\n[+]caught-up excluded: ok\n[+]clock ok\n[+]shutdown ok\nreadyz check passed\n"},
		{name: "draining", draining: true, path: "/readyz", status: 503,
			body: "[-]shutdown failed: draining: the node is shutting down\nreadyz check failed\n"},
		{name: "draining verbose", draining: true, path: "/readyz?verbose", status: 503,
			body: "[+]storage ok\n[+]caught-up ok\n[+]clock ok\n[-]shutdown failed: draining: the node is shutting down\nreadyz check failed\n"},
		{name: "livez while draining", draining: true, path: "/livez", status: 200, body: "ok"},
		{name: "livez while lagging", ready: lagging, path: "/livez", status: 200, body: "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := apitest.New(8)
			var draining atomic.Bool
			draining.Store(tc.draining)
			e := newEnvOver(t, b, &faulty{Backend: b, ready: tc.ready}, func(c *Config) { c.Draining = draining.Load })
			a := e.do("GET", tc.path, nil)
			if a.status != tc.status || string(a.body) != tc.body {
				t.Fatalf("%d %q, want %d %q", a.status, a.body, tc.status, tc.body)
			}
			if ct := a.h.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	t.Run("drain flips readiness", func(t *testing.T) {
		var draining atomic.Bool
		e := newEnv(t, func(c *Config) { c.Draining = draining.Load })
		e.must(200, "GET", "/readyz", nil)
		draining.Store(true)
		e.must(503, "GET", "/readyz", nil)
		e.must(200, "GET", "/livez", nil)
		e.must(404, "GET", "/v1/kv/a", nil) // requests in flight are still served
	})
}

func TestClusterJSON(t *testing.T) {
	e := newEnv(t)
	var m map[string]any
	e.must(200, "GET", "/v1/cluster", nil).json(t, &m)
	wantKeys(t, "cluster", m, "cluster_id", "node", "time", "settings", "nodes", "partitions", "epoch")
	wantKeys(t, "settings", m["settings"].(map[string]any), "partitions", "replicas", "engine", "hash", "vnodes", "load_factor")
	nodes := m["nodes"].([]any)
	if len(nodes) != 1 {
		t.Fatalf("nodes %v", nodes)
	}
	wantKeys(t, "node", nodes[0].(map[string]any), "name", "state", "grpc", "http", "redis", "zone", "capacity")
	parts := m["partitions"].([]any)
	if len(parts) != 8 {
		t.Fatalf("%d partitions, want 8", len(parts))
	}
	p0 := parts[0].(map[string]any)
	wantKeys(t, "partition", p0, "partition", "group", "membership_version", "term", "leader",
		"replicas", "voters", "learners", "voters_outgoing", "local", "replica_ids", "next_replica_id")
	wantKeys(t, "local", p0["local"].(map[string]any), "role", "applied", "commit")
	if ts, err := time.Parse(time.RFC3339Nano, m["time"].(string)); err != nil || ts.Location() != time.UTC {
		t.Errorf("time %v: %v", m["time"], err)
	}

	t.Run("lists never null, local absent", func(t *testing.T) {
		b := apitest.New(8)
		view := api.ClusterView{ClusterID: "c", Node: "n1",
			Partitions: []api.PartitionView{{Partition: 0, Group: 1}}}
		e := newEnvOver(t, b, &faulty{Backend: b, cluster: &view})
		a := e.must(200, "GET", "/v1/cluster", nil)
		body := string(a.body)
		if strings.Contains(body, "null") {
			t.Errorf("null in %s", body)
		}
		if !containsAll(body, `"nodes":[]`, `"replicas":[]`, `"voters":[]`, `"learners":[]`, `"voters_outgoing":[]`, `"replica_ids":[]`, `"leader":""`) || strings.Contains(body, `"local"`) {
			t.Errorf("cluster JSON %s", body)
		}
	})
}

func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s has no field %q: %v", what, k, m)
		}
	}
	if len(m) != len(keys) {
		t.Errorf("%s has %d fields, want %d (%v): %v", what, len(m), len(keys), keys, m)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.must(201, "PUT", "/v1/kv/secret-key", []byte("v"))
	e.must(200, "GET", "/v1/kv/secret-key", nil)
	e.must(404, "GET", "/v1/kv/other-secret", nil)
	e.must(404, "GET", "/nowhere", nil)
	e.do("FROB", "/v1/kv/x", nil)
	a := e.must(200, "GET", "/metrics", nil)
	body := string(a.body)
	for _, want := range []string{
		`cairn_http_requests_total{code="201",method="PUT",route="/v1/kv/{key...}"} 1`,
		`cairn_http_requests_total{code="200",method="GET",route="/v1/kv/{key...}"} 1`,
		`cairn_http_requests_total{code="404",method="GET",route="/v1/kv/{key...}"} 1`,
		`cairn_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`cairn_http_requests_total{code="405",method="other",route="unmatched"} 1`,
		`cairn_http_request_seconds_bucket{method="PUT",route="/v1/kv/{key...}",le="+Inf"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "secret") {
		t.Errorf("a key leaked into the metrics")
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "Backend") {
		t.Errorf("New without a Backend: %v", err)
	}
	b := apitest.New(1)
	if _, err := New(Config{Backend: b, RequestTimeout: -time.Second}); err == nil || !strings.Contains(err.Error(), "--request-timeout") {
		t.Errorf("New with a negative timeout: %v", err)
	}
	reg := prometheus.NewRegistry()
	for i := range 2 {
		if _, err := New(Config{Backend: b, Registry: reg}); err != nil {
			t.Fatalf("New #%d on one registry: %v", i, err)
		}
	}
	s, err := New(Config{Backend: b})
	if err != nil || s.timeout != DefaultRequestTimeout || s.Handler() != s {
		t.Fatalf("defaults: %v, timeout %v", err, s.timeout)
	}
}

func TestClusterPretty(t *testing.T) {
	e := newEnv(t)
	compact := e.must(200, "GET", "/v1/cluster", nil).body
	for _, path := range []string{"/v1/cluster?pretty", "/v1/cluster?pretty=true"} {
		pretty := e.must(200, "GET", path, nil).body
		if !bytes.Contains(pretty, []byte("\n  \"cluster_id\": ")) {
			t.Errorf("%s is not indented: %.80s", path, pretty)
		}
		var a, b map[string]any
		if err := json.Unmarshal(compact, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(pretty, &b); err != nil {
			t.Fatal(err)
		}
		delete(a, "time")
		delete(b, "time")
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s says something else than /v1/cluster:\n%v\n%v", path, b, a)
		}
	}
	if body := e.must(200, "GET", "/v1/cluster?pretty=false", nil).body; bytes.Contains(body, []byte("\n ")) {
		t.Errorf("?pretty=false is indented: %.80s", body)
	}
	e.must(400, "GET", "/v1/cluster?pretty=maybe", nil)
	e.must(400, "GET", "/v1/cluster?ugly", nil)
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	var got buildinfo.Info
	e.must(200, "GET", "/version", nil).json(t, &got)
	if got != buildinfo.Get() || got.Version == "" || got.GoVersion == "" {
		t.Fatalf("/version = %+v, want %+v", got, buildinfo.Get())
	}
	e.must(405, "DELETE", "/version", nil)
}
