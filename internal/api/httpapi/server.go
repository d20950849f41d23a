package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultRequestTimeout is DESIGN.md's --request-timeout: below common
// client timeouts (go-redis's 3 s), so a server answers 504 before the
// client gives up on its own.
const DefaultRequestTimeout = 2 * time.Second

// Config configures a Server.
type Config struct {
	// Backend is the node behind the door. Required.
	Backend api.Backend
	// Gatherer is what /metrics serves (the node's own registry). Nil: the
	// Registry when it is also a Gatherer (a *prometheus.Registry is),
	// otherwise an empty registry. Never the global default registry, so
	// several nodes can run in one test process.
	Gatherer prometheus.Gatherer
	// Registry receives this door's metrics (cairn_http_requests_total and
	// cairn_http_request_seconds). Nil: the metrics are kept but registered
	// nowhere. Registering into a registry that already holds them (a
	// second Server on the same node) reuses the existing collectors.
	Registry prometheus.Registerer
	// Logger receives errors worth an operator's attention; never one line
	// per request at info level. Nil: discard.
	Logger *slog.Logger
	// RequestTimeout bounds each request's work at the Backend
	// (--request-timeout). 0: DefaultRequestTimeout (2 s).
	RequestTimeout time.Duration
	// Draining reports a graceful shutdown in progress: /readyz fails its
	// "shutdown" check while it returns true, so load balancers stop
	// sending new requests before the listeners close. Nil: never.
	Draining func() bool
}

// Validate rejects a Config New cannot serve with, naming the setting.
func (c *Config) Validate() error {
	if c.Backend == nil {
		return errors.New("httpapi: Config.Backend is required")
	}
	if c.RequestTimeout < 0 {
		return fmt.Errorf("httpapi: --request-timeout %v must not be negative", c.RequestTimeout)
	}
	return nil
}

// Server is the HTTP front door. It is an http.Handler; mount it at the
// root of the node's HTTP listener.
type Server struct {
	b        api.Backend
	log      *slog.Logger
	timeout  time.Duration
	draining func() bool
	mux      *http.ServeMux
	metrics  *metrics
}

// New returns the HTTP front door over cfg.Backend.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		b:        cfg.Backend,
		log:      cfg.Logger,
		timeout:  cfg.RequestTimeout,
		draining: cfg.Draining,
		mux:      http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout == 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.draining == nil {
		s.draining = func() bool { return false }
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	g := cfg.Gatherer
	if g == nil {
		if rg, ok := cfg.Registry.(prometheus.Gatherer); ok {
			g = rg
		} else {
			g = prometheus.NewRegistry()
		}
	}

	s.mux.HandleFunc("GET "+keyRoute, s.getKey)
	s.mux.HandleFunc("PUT "+keyRoute, s.putKey)
	s.mux.HandleFunc("DELETE "+keyRoute, s.deleteKey)
	s.mux.HandleFunc("POST "+keyRoute, s.postKey)
	s.mux.HandleFunc("GET /v1/kv", s.list)
	// NB: without this the mux redirects PUT /v1/kv to PUT /v1/kv/ (the
	// empty key) instead of answering 405.
	s.mux.HandleFunc("/v1/kv", func(w http.ResponseWriter, r *http.Request) {
		methodNotAllowed(w, r.Method, r.URL.Path, "GET, HEAD")
	})
	s.mux.HandleFunc("GET /v1/cluster", s.cluster)
	s.mux.HandleFunc("GET /livez", s.livez)
	s.mux.HandleFunc("GET /healthz", s.livez)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /version", s.version)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: promLogger{s.log}}))
	return s, nil
}

// Handler returns s as an http.Handler.
func (s *Server) Handler() http.Handler { return s }

const (
	keyPrefix = "/v1/kv/"
	keyRoute  = keyPrefix + "{key...}"
	// keyPlaceholder replaces the key in the path the mux sees (see ServeHTTP).
	keyPlaceholder = keyPrefix + "k"
)

type keyCtx struct{}

// ServeHTTP routes r, answers unknown routes and methods with JSON errors
// and counts every request in the metrics.
//
// NB: a key is everything after /v1/kv/, percent-decoded, taken before the
// mux sees the path, because the mux cleans paths (a key "a//b" or "x/../y"
// would be redirected to another key). The mux then routes a placeholder
// path, so it still answers 405 with Allow for a wrong method.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	path := r.URL.Path // before the key is taken out of it
	if key, ok := strings.CutPrefix(r.URL.Path, keyPrefix); ok && r.Method != http.MethodConnect {
		r2 := r.WithContext(context.WithValue(r.Context(), keyCtx{}, key))
		u := *r.URL
		u.Path, u.RawPath = keyPlaceholder, ""
		r2.URL = &u
		r = r2
	}
	rec := &recorder{ResponseWriter: w}
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		// Not found or method not allowed: the mux's own answers are text;
		// ours are JSON, with the mux's Allow header kept.
		c := &capture{h: http.Header{}}
		h.ServeHTTP(c, r)
		switch c.code {
		case http.StatusMethodNotAllowed:
			methodNotAllowed(rec, r.Method, path, c.h.Get("Allow"))
		default:
			writeError(rec, http.StatusNotFound, "not_found",
				fmt.Sprintf("no route %s %s: the routes are /v1/kv/{key}, /v1/kv, /v1/cluster, /metrics, /livez, /readyz", r.Method, path))
		}
	} else {
		s.mux.ServeHTTP(rec, r)
	}
	s.metrics.observe(routeLabel(pattern), methodLabel(r.Method), rec.status(), time.Since(start))
}

func methodNotAllowed(w http.ResponseWriter, method, path, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
		fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", method, path, allow))
}

// routeLabel is a mux pattern without its method: never a key.
func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, p, ok := strings.Cut(pattern, " "); ok {
		return p
	}
	return pattern
}

// methodLabel bounds the method label's values.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete,
		http.MethodPatch, http.MethodOptions:
		return m
	}
	return "other"
}

// recorder remembers the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// capture swallows what the mux's built-in 404/405 handlers write.
type capture struct {
	h    http.Header
	code int
}

func (c *capture) Header() http.Header         { return c.h }
func (c *capture) Write(b []byte) (int, error) { return len(b), nil }
func (c *capture) WriteHeader(code int)        { c.code = code }

// errorBody is every error answer's JSON.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Version is the key's current version on a failed condition (0: absent).
	Version *uint64 `json:"version,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONIndent(w, status, v, false)
}

// writeJSONIndent is writeJSON, indented for a person when pretty is set
// (?pretty, as Elasticsearch and Consul take it).
func writeJSONIndent(w http.ResponseWriter, status int, v any, pretty bool) {
	var b []byte
	var err error
	if pretty {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil { // only a bug: every body here marshals
		status = http.StatusInternalServerError
		b = []byte(`{"error":"httpapi: cannot encode the answer","code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// badParam answers 400 naming the query parameter.
func badParam(w http.ResponseWriter, name, format string, args ...any) {
	writeError(w, http.StatusBadRequest, "invalid_argument",
		fmt.Sprintf("query parameter %q: %s", name, fmt.Sprintf(format, args...)))
}

// backendError answers err from the Backend by DESIGN.md's error table.
func (s *Server) backendError(w http.ResponseWriter, r *http.Request, err error) {
	switch api.OutcomeOf(err) {
	case api.NotApplied:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "not_applied",
			"certainly not applied, retry is safe: "+err.Error())
	case api.Invalid:
		status, code := http.StatusBadRequest, "invalid_argument"
		if errors.Is(err, api.ErrTooLarge) {
			status, code = http.StatusRequestEntityTooLarge, "too_large"
		}
		writeError(w, status, code, err.Error())
	case api.NoSpace:
		writeError(w, http.StatusInsufficientStorage, "no_space", err.Error())
	default:
		s.log.Debug("httpapi: outcome unknown", "method", r.Method, "pattern", r.Pattern, "err", err)
		writeError(w, http.StatusGatewayTimeout, "indeterminate",
			"outcome unknown (the request may or may not have applied; read before retrying a write): "+err.Error())
	}
}

// query parses r's query string, rejecting parameters not in allowed and
// repeated ones: a typo such as if_verison must not turn a conditional
// write into an unconditional one.
func query(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]string, bool) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", "malformed query string: "+err.Error())
		return nil, false
	}
	out := make(map[string]string, len(vals))
	for name, vs := range vals {
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			if len(allowed) == 0 {
				badParam(w, name, "unknown parameter (this route takes none)")
			} else {
				badParam(w, name, "unknown parameter (known: %s)", strings.Join(allowed, ", "))
			}
			return nil, false
		}
		if len(vs) > 1 {
			badParam(w, name, "given %d times; give it once", len(vs))
			return nil, false
		}
		out[name] = vs[0]
	}
	return out, true
}

// promLogger sends promhttp's errors to slog.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) { p.l.Warn("httpapi: /metrics", "err", fmt.Sprint(v...)) }

// metrics are the door's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_http_requests_total",
			Help: "HTTP requests answered, by route pattern (never a key), method and status code.",
		}, []string{"route", "method", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cairn_http_request_seconds",
			Help: "Time to answer an HTTP request, by route pattern and method.",
			// 0.25 ms to about 4 s: a local read up to past --request-timeout.
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 15),
		}, []string{"route", "method"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.seconds, err = register(reg, m.seconds); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old, nil
			}
		}
		return c, fmt.Errorf("httpapi: registering metrics: %w", err)
	}
	return c, nil
}

func (m *metrics) observe(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.seconds.WithLabelValues(route, method).Observe(d.Seconds())
}
