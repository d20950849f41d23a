package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/buildinfo"
)

func (s *Server) cluster(w http.ResponseWriter, r *http.Request) {
	writePretty(w, r, func() any { return normalize(s.b.Cluster()) })
}

// version answers which build this node runs (internal/buildinfo), the
// same as "cairn version -o json" and the cairn_build_info metric.
func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writePretty(w, r, func() any { return buildinfo.Get() })
}

// writePretty answers a GET whose only parameter is ?pretty with v's JSON,
// indented when asked.
func writePretty(w http.ResponseWriter, r *http.Request, v func() any) {
	q, ok := query(w, r, "pretty")
	if !ok {
		return
	}
	pretty, ok := flagParam(w, q, "pretty")
	if !ok {
		return
	}
	writeJSONIndent(w, http.StatusOK, v(), pretty)
}

// flagParam reads a boolean query parameter that may be given bare
// (?pretty), or as ?pretty=true / ?pretty=false.
func flagParam(w http.ResponseWriter, q map[string]string, name string) (bool, bool) {
	v, ok := q[name]
	if !ok {
		return false, true
	}
	if v == "" {
		return true, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		badParam(w, name, "want true or false, or the bare name")
		return false, false
	}
	return b, true
}

// normalize makes every list of v a JSON array, never null, and the time UTC.
func normalize(v api.ClusterView) api.ClusterView {
	v.Time = v.Time.UTC()
	v.Nodes = orEmpty(v.Nodes)
	v.Partitions = orEmpty(v.Partitions)
	for i := range v.Partitions {
		normalizePartition(&v.Partitions[i])
	}
	if v.Meta != nil {
		m := *v.Meta
		normalizePartition(&m)
		v.Meta = &m
	}
	return v
}

func normalizePartition(p *api.PartitionView) {
	p.Replicas = orEmpty(p.Replicas)
	p.ReplicaIDs = orEmpty(p.ReplicaIDs)
	p.Voters = orEmpty(p.Voters)
	p.Learners = orEmpty(p.Learners)
	p.VotersOutgoing = orEmpty(p.VotersOutgoing)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeText(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// livez answers 200 while the process can serve HTTP at all: it never
// fails on a lost quorum or a lagging replica (that is /readyz), so a
// liveness probe never restarts a node that is merely cut off.
func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

// readyz answers 200 "ok" when every check passes, else 503 with the
// failing checks. ?verbose lists every check in Kubernetes' form;
// ?exclude=name (repeatable) skips a check, as Kubernetes' does.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	_, verbose := q["verbose"]
	excluded := map[string]bool{}
	for _, e := range q["exclude"] {
		excluded[e] = true
	}
	checks := append([]api.Check{}, s.b.Ready()...)
	shutdown := api.Check{Name: "shutdown", OK: true}
	if s.draining() {
		shutdown = api.Check{Name: "shutdown", OK: false, Reason: "draining: the node is shutting down"}
	}
	checks = append(checks, shutdown)

	var b strings.Builder
	failed := false
	for _, c := range checks {
		if excluded[c.Name] {
			if verbose {
				b.WriteString("[+]" + c.Name + " excluded: ok\n")
			}
			continue
		}
		if c.OK {
			if verbose {
				b.WriteString("[+]" + c.Name + " ok\n")
			}
			continue
		}
		failed = true
		reason := c.Reason
		if reason == "" {
			reason = "no reason given"
		}
		b.WriteString("[-]" + c.Name + " failed: " + reason + "\n")
	}
	switch {
	case failed:
		b.WriteString("readyz check failed\n")
		writeText(w, http.StatusServiceUnavailable, b.String())
	case verbose:
		b.WriteString("readyz check passed\n")
		writeText(w, http.StatusOK, b.String())
	default:
		writeText(w, http.StatusOK, "ok")
	}
}
