package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/apitest"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is one door over an apitest Backend with 8 partitions.
type env struct {
	t   *testing.T
	b   *apitest.Backend
	srv *Server
	ts  *httptest.Server
	reg *prometheus.Registry
}

type envOpt func(*Config)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	b := apitest.New(8)
	return newEnvOver(t, b, b, opts...)
}

// newEnvOver serves backend (which may wrap b).
func newEnvOver(t *testing.T, b *apitest.Backend, backend api.Backend, opts ...envOpt) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{Backend: backend, Registry: reg, Gatherer: reg}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{t: t, b: b, srv: srv, ts: ts, reg: reg}
}

// answer is a response read whole.
type answer struct {
	status int
	h      http.Header
	body   []byte
}

// do sends method path (with its query) and body; path is sent as given.
func (e *env) do(method, path string, body []byte) answer {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return answer{status: resp.StatusCode, h: resp.Header, body: b}
}

// must sends a request and fails the test unless it answers status.
func (e *env) must(status int, method, path string, body []byte) answer {
	e.t.Helper()
	a := e.do(method, path, body)
	if a.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, a.status, status, a.body)
	}
	return a
}

// errJSON decodes an error body, failing the test if it is not one.
func (a answer) errJSON(t *testing.T) errorBody {
	t.Helper()
	var eb errorBody
	if ct := a.h.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q, want application/json; body %s", ct, a.body)
	}
	if err := json.Unmarshal(a.body, &eb); err != nil || eb.Error == "" || eb.Code == "" {
		t.Fatalf("not an error body (%v): %s", err, a.body)
	}
	return eb
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decoding %s: %v", a.body, err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// faulty is a Backend whose Propose and Read fail with err when set, and
// whose Cluster and Ready answers can be replaced.
type faulty struct {
	*apitest.Backend
	proposeErr, readErr error
	cluster             *api.ClusterView
	ready               []api.Check
}

func (f *faulty) Propose(ctx context.Context, p int, cmd kv.Command) (kv.Reply, error) {
	if f.proposeErr != nil {
		return kv.Reply{}, f.proposeErr
	}
	return f.Backend.Propose(ctx, p, cmd)
}

func (f *faulty) Read(ctx context.Context, p int, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	if f.readErr != nil {
		return kv.Reply{}, f.readErr
	}
	return f.Backend.Read(ctx, p, mode, q)
}

func (f *faulty) Cluster() api.ClusterView {
	if f.cluster != nil {
		return *f.cluster
	}
	return f.Backend.Cluster()
}

func (f *faulty) Ready() []api.Check {
	if f.ready != nil {
		return f.ready
	}
	return f.Backend.Ready()
}

// recordingBackend remembers the read modes it was asked for.
type recordingBackend struct {
	*apitest.Backend
	modes chan replica.ReadMode
}

func (r *recordingBackend) Read(ctx context.Context, p int, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	select {
	case r.modes <- mode:
	default:
	}
	return r.Backend.Read(ctx, p, mode, q)
}
