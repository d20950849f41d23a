package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/apitest"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

type step struct {
	method, path string
	body         []byte
}

func put(path, body string) step { return step{http.MethodPut, path, []byte(body)} }

// The apitest Backend numbers entries from 11, so the first write's version is 11.
const firstVersion = 11

func TestRoutes(t *testing.T) {
	versionIs := func(want uint64) func(*testing.T, answer) {
		return func(t *testing.T, a answer) {
			t.Helper()
			var v struct{ Version *uint64 }
			a.json(t, &v)
			if v.Version == nil || *v.Version != want {
				t.Fatalf("version in %s, want %d", a.body, want)
			}
		}
	}
	cases := []struct {
		name     string
		before   []step
		req      step
		status   int
		code     string // the JSON error code; "" for a success
		check    func(*testing.T, answer)
		wantBody string
	}{
		{name: "get absent", req: step{"GET", "/v1/kv/a", nil}, status: 404, code: "not_found"},
		{name: "get present", before: []step{put("/v1/kv/a", "v1")}, req: step{"GET", "/v1/kv/a", nil}, status: 200, wantBody: "v1",
			check: func(t *testing.T, a answer) {
				if got := a.h.Get("Content-Type"); got != "application/octet-stream" {
					t.Errorf("Content-Type %q", got)
				}
				if got := a.h.Get(HeaderVersion); got != strconv.Itoa(firstVersion) {
					t.Errorf("%s %q, want %d", HeaderVersion, got, firstVersion)
				}
				if _, ok := a.h[HeaderTTL]; ok {
					t.Errorf("%s present on a key without a deadline", HeaderTTL)
				}
			}},
		{name: "get empty value", before: []step{put("/v1/kv/a", "")}, req: step{"GET", "/v1/kv/a", nil}, status: 200, wantBody: ""},
		{name: "get with ttl", before: []step{put("/v1/kv/a?ttl=10s", "v")}, req: step{"GET", "/v1/kv/a", nil}, status: 200, wantBody: "v",
			check: func(t *testing.T, a answer) {
				ms, err := strconv.ParseInt(a.h.Get(HeaderTTL), 10, 64)
				if err != nil || ms <= 0 || ms > 10000 {
					t.Errorf("%s %q, want 1..10000", HeaderTTL, a.h.Get(HeaderTTL))
				}
			}},
		{name: "get follower", before: []step{put("/v1/kv/a", "v")}, req: step{"GET", "/v1/kv/a?consistency=follower", nil}, status: 200, wantBody: "v"},
		{name: "get stale", before: []step{put("/v1/kv/a", "v")}, req: step{"GET", "/v1/kv/a?consistency=stale", nil}, status: 200, wantBody: "v"},
		{name: "get linearizable", before: []step{put("/v1/kv/a", "v")}, req: step{"GET", "/v1/kv/a?consistency=linearizable", nil}, status: 200, wantBody: "v"},
		{name: "head present", before: []step{put("/v1/kv/a", "value")}, req: step{"HEAD", "/v1/kv/a", nil}, status: 200, wantBody: "",
			check: func(t *testing.T, a answer) {
				if a.h.Get(HeaderVersion) == "" || a.h.Get("Content-Length") != "5" {
					t.Errorf("HEAD headers %v", a.h)
				}
			}},
		{name: "get after delete", before: []step{put("/v1/kv/a", "v"), {"DELETE", "/v1/kv/a", nil}}, req: step{"GET", "/v1/kv/a", nil}, status: 404, code: "not_found"},
		{name: "get empty key", req: step{"GET", "/v1/kv/", nil}, status: 400, code: "invalid_argument"},

		{name: "put creates", req: put("/v1/kv/a", "v"), status: 201, check: versionIs(firstVersion)},
		{name: "put replaces", before: []step{put("/v1/kv/a", "v")}, req: put("/v1/kv/a", "w"), status: 200, check: versionIs(firstVersion + 1)},
		{name: "put empty key", req: put("/v1/kv/", "v"), status: 400, code: "invalid_argument"},
		{name: "put if_absent on absent", req: put("/v1/kv/a?if_absent=true", "v"), status: 201, check: versionIs(firstVersion)},
		{name: "put if_absent on present", before: []step{put("/v1/kv/a", "v")}, req: put("/v1/kv/a?if_absent=true", "w"), status: 409, code: "condition_failed", check: versionIs(firstVersion)},
		{name: "put if_absent=false replaces", before: []step{put("/v1/kv/a", "v")}, req: put("/v1/kv/a?if_absent=false", "w"), status: 200},
		{name: "put if_version 0 on absent", req: put("/v1/kv/a?if_version=0", "v"), status: 201},
		{name: "put if_version 0 on present", before: []step{put("/v1/kv/a", "v")}, req: put("/v1/kv/a?if_version=0", "w"), status: 409, code: "condition_failed", check: versionIs(firstVersion)},
		{name: "put if_version matches", before: []step{put("/v1/kv/a", "v")}, req: put(fmt.Sprintf("/v1/kv/a?if_version=%d", firstVersion), "w"), status: 200, check: versionIs(firstVersion + 1)},
		{name: "put if_version differs", before: []step{put("/v1/kv/a", "v")}, req: put("/v1/kv/a?if_version=99", "w"), status: 409, code: "condition_failed", check: versionIs(firstVersion)},
		{name: "put if_value matches", before: []step{put("/v1/kv/a", "old")}, req: put("/v1/kv/a?if_value=old", "new"), status: 200},
		{name: "put if_value differs", before: []step{put("/v1/kv/a", "old")}, req: put("/v1/kv/a?if_value=other", "new"), status: 409, code: "condition_failed", check: versionIs(firstVersion)},
		{name: "put if_value on absent", req: put("/v1/kv/a?if_value=x", "new"), status: 409, code: "condition_failed", check: versionIs(0)},
		{name: "put with ttl", req: put("/v1/kv/a?ttl=1h", "v"), status: 201},

		{name: "delete present", before: []step{put("/v1/kv/a", "v")}, req: step{"DELETE", "/v1/kv/a", nil}, status: 204},
		{name: "delete absent", req: step{"DELETE", "/v1/kv/a", nil}, status: 404, code: "not_found"},
		{name: "delete if_version matches", before: []step{put("/v1/kv/a", "v")}, req: step{"DELETE", fmt.Sprintf("/v1/kv/a?if_version=%d", firstVersion), nil}, status: 204},
		{name: "delete if_version differs", before: []step{put("/v1/kv/a", "v")}, req: step{"DELETE", "/v1/kv/a?if_version=5", nil}, status: 409, code: "condition_failed", check: versionIs(firstVersion)},

		{name: "incr absent", req: step{"POST", "/v1/kv/n?op=incr", nil}, status: 200, wantBody: `{"value":1,"version":11}` + "\n"},
		{name: "incr by", before: []step{put("/v1/kv/n", "40")}, req: step{"POST", "/v1/kv/n?op=incr&by=2", nil}, status: 200, wantBody: `{"value":42,"version":12}` + "\n"},
		{name: "incr negative", req: step{"POST", "/v1/kv/n?op=incr&by=-5", nil}, status: 200, wantBody: `{"value":-5,"version":11}` + "\n"},
		{name: "incr to zero", before: []step{put("/v1/kv/n", "1")}, req: step{"POST", "/v1/kv/n?op=incr&by=-1", nil}, status: 200, wantBody: `{"value":0,"version":12}` + "\n"},
		{name: "incr not integer", before: []step{put("/v1/kv/n", "abc")}, req: step{"POST", "/v1/kv/n?op=incr", nil}, status: 400, code: "not_integer",
			check: func(t *testing.T, a answer) {
				if eb := a.errJSON(t); eb.Error != "ERR value is not an integer or out of range" {
					t.Errorf("error %q, want Redis's text", eb.Error)
				}
			}},
		{name: "incr overflow", before: []step{put("/v1/kv/n", "9223372036854775807")}, req: step{"POST", "/v1/kv/n?op=incr", nil}, status: 400, code: "overflow",
			check: func(t *testing.T, a answer) {
				if eb := a.errJSON(t); eb.Error != "ERR increment or decrement would overflow" {
					t.Errorf("error %q, want Redis's text", eb.Error)
				}
			}},

		{name: "list empty", req: step{"GET", "/v1/kv", nil}, status: 200, wantBody: `{"items":[],"next":""}` + "\n"},
		{name: "cluster", req: step{"GET", "/v1/cluster", nil}, status: 200},
		{name: "livez", req: step{"GET", "/livez", nil}, status: 200, wantBody: "ok"},
		{name: "healthz", req: step{"GET", "/healthz", nil}, status: 200, wantBody: "ok"},
		{name: "readyz", req: step{"GET", "/readyz", nil}, status: 200, wantBody: "ok"},
		{name: "metrics", req: step{"GET", "/metrics", nil}, status: 200},

		{name: "unknown route", req: step{"GET", "/v2/nothing", nil}, status: 404, code: "not_found"},
		{name: "kv without key path", req: step{"PUT", "/v1/kv", nil}, status: 405, code: "method_not_allowed",
			check: func(t *testing.T, a answer) {
				if allow := a.h.Get("Allow"); allow != "GET, HEAD" {
					t.Errorf("Allow %q", allow)
				}
			}},
		{name: "wrong method on key", req: step{"PATCH", "/v1/kv/a", nil}, status: 405, code: "method_not_allowed",
			check: func(t *testing.T, a answer) {
				if allow := a.h.Get("Allow"); !containsAll(allow, "GET", "HEAD", "PUT", "DELETE", "POST") {
					t.Errorf("Allow %q", allow)
				}
			}},
		{name: "wrong method on cluster", req: step{"DELETE", "/v1/cluster", nil}, status: 405, code: "method_not_allowed",
			check: func(t *testing.T, a answer) {
				if allow := a.h.Get("Allow"); !containsAll(allow, "GET", "HEAD") || strings.Contains(allow, "PUT") {
					t.Errorf("Allow %q", allow)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for _, s := range tc.before {
				if a := e.do(s.method, s.path, s.body); a.status >= 300 {
					t.Fatalf("setup %s %s: %d %s", s.method, s.path, a.status, a.body)
				}
			}
			a := e.do(tc.req.method, tc.req.path, tc.req.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", a.status, tc.status, a.body)
			}
			if tc.code != "" {
				if eb := a.errJSON(t); eb.Code != tc.code {
					t.Errorf("code %q, want %q (%s)", eb.Code, tc.code, eb.Error)
				}
			}
			if tc.wantBody != "" || tc.req.method == "HEAD" || tc.status == 204 {
				if string(a.body) != tc.wantBody {
					t.Errorf("body %q, want %q", a.body, tc.wantBody)
				}
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

func TestKeysAreTakenVerbatim(t *testing.T) {
	e := newEnv(t)
	keys := map[string]string{ // path after /v1/kv/ → key
		"a//b":         "a//b",
		"x/../y":       "x/../y",
		"./dot":        "./dot",
		"dir/":         "dir/",
		"sp%20ace":     "sp ace",
		"q%3Fmark":     "q?mark",
		"pct%25":       "pct%",
		"slash%2Fenc":  "slash/enc",
		"%7Btag%7D:1":  "{tag}:1",
		"caf%C3%A9":    "café",
		"bin%00%FF%FE": "bin\x00\xff\xfe",
	}
	for path, key := range keys {
		e.must(201, "PUT", "/v1/kv/"+path, []byte("v:"+key))
	}
	for path, key := range keys {
		if a := e.must(200, "GET", "/v1/kv/"+path, nil); string(a.body) != "v:"+key {
			t.Errorf("GET %s: %q, want %q", path, a.body, "v:"+key)
		}
	}
	got := listAll(t, e, "", 1000)
	if len(got) != len(keys) {
		t.Fatalf("listed %d keys, want %d: %q", len(got), len(keys), got)
	}
	for _, key := range keys {
		if got[key] != "v:"+key {
			t.Errorf("listing has %q = %q, want %q", key, got[key], "v:"+key)
		}
	}
}

func TestBinaryValue(t *testing.T) {
	e := newEnv(t)
	val := []byte{0, 1, 2, 0xff, 0xfe, '\n', 0x80}
	e.must(201, "PUT", "/v1/kv/bin", val)
	a := e.must(200, "GET", "/v1/kv/bin", nil)
	if !bytes.Equal(a.body, val) {
		t.Fatalf("GET %x, want %x", a.body, val)
	}
	var l listAnswer
	e.must(200, "GET", "/v1/kv?prefix=bin", nil).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].Encoding != "base64" || l.Items[0].Value != "AAEC//4KgA==" || l.Items[0].KeyEncoding != "" {
		t.Fatalf("listing %+v, want the value base64 and the key plain", l.Items)
	}
	// CAS on binary values goes through percent-encoding.
	e.must(200, "PUT", "/v1/kv/bin?if_value=%00%01%02%FF%FE%0A%80", []byte("text"))
	l = listAnswer{}
	e.must(200, "GET", "/v1/kv?prefix=bin", nil).json(t, &l)
	if l.Items[0].Encoding != "" || l.Items[0].Value != "text" {
		t.Fatalf("listing %+v, want a plain value", l.Items)
	}
}

func TestBadParams(t *testing.T) {
	cases := []struct {
		name, method, path, param string
	}{
		{"ttl not a duration", "PUT", "/v1/kv/a?ttl=abc", "ttl"},
		{"ttl without unit", "PUT", "/v1/kv/a?ttl=10", "ttl"},
		{"ttl zero", "PUT", "/v1/kv/a?ttl=0s", "ttl"},
		{"ttl negative", "PUT", "/v1/kv/a?ttl=-1s", "ttl"},
		{"ttl overflows", "PUT", "/v1/kv/a?ttl=2562047h", "ttl"},
		{"if_version negative", "PUT", "/v1/kv/a?if_version=-1", "if_version"},
		{"if_version text", "PUT", "/v1/kv/a?if_version=x", "if_version"},
		{"delete if_version negative", "DELETE", "/v1/kv/a?if_version=-1", "if_version"},
		{"if_absent not a bool", "PUT", "/v1/kv/a?if_absent=maybe", "if_absent"},
		{"unknown parameter", "PUT", "/v1/kv/a?if_verison=3", "if_verison"},
		{"repeated parameter", "PUT", "/v1/kv/a?ttl=1s&ttl=2s", "ttl"},
		{"consistency unknown", "GET", "/v1/kv/a?consistency=strong", "consistency"},
		{"get takes no ttl", "GET", "/v1/kv/a?ttl=1s", "ttl"},
		{"op missing", "POST", "/v1/kv/a", "op"},
		{"op unknown", "POST", "/v1/kv/a?op=decr", "op"},
		{"by not a number", "POST", "/v1/kv/a?op=incr&by=1.5", "by"},
		{"by overflows", "POST", "/v1/kv/a?op=incr&by=9223372036854775808", "by"},
		{"limit zero", "GET", "/v1/kv?limit=0", "limit"},
		{"limit over max", "GET", "/v1/kv?limit=5000", "limit"},
		{"limit text", "GET", "/v1/kv?limit=ten", "limit"},
		{"cursor garbage", "GET", "/v1/kv?cursor=!!!", "cursor"},
		{"cursor partition out of range", "GET", "/v1/kv?cursor=" + api.Cursor{Partition: 8}.String(), "cursor"},
		{"prefix with start", "GET", "/v1/kv?prefix=a&start=b", "start"},
		{"list unknown parameter", "GET", "/v1/kv?pefix=a", "pefix"},
		{"cluster takes none", "GET", "/v1/cluster?x=1", "x"},
	}
	e := newEnv(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(tc.method, tc.path, nil)
			if a.status != 400 {
				t.Fatalf("status %d, want 400; body %s", a.status, a.body)
			}
			if eb := a.errJSON(t); eb.Code != "invalid_argument" || !strings.Contains(eb.Error, `"`+tc.param+`"`) {
				t.Fatalf("error %+v does not name parameter %q", eb, tc.param)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t)
	e.b.Lim = api.Limits{MaxKeySize: 16, MaxValueSize: 32}
	long := strings.Repeat("k", 17)
	cases := []struct {
		name, method, path string
		body               []byte
		status             int
		names              string
	}{
		{"get key over limit", "GET", "/v1/kv/" + long, nil, 413, "--max-key-size 16"},
		{"put key over limit", "PUT", "/v1/kv/" + long, []byte("v"), 413, "--max-key-size 16"},
		{"delete key over limit", "DELETE", "/v1/kv/" + long, nil, 413, "--max-key-size 16"},
		{"incr key over limit", "POST", "/v1/kv/" + long + "?op=incr", nil, 413, "--max-key-size 16"},
		{"value over limit", "PUT", "/v1/kv/a", bytes.Repeat([]byte("v"), 33), 413, "--max-value-size 32"},
		{"if_value over limit", "PUT", "/v1/kv/a?if_value=" + strings.Repeat("v", 33), []byte("v"), 400, "--max-value-size 32"},
		{"prefix over limit", "GET", "/v1/kv?prefix=" + long, nil, 400, "--max-key-size 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(tc.method, tc.path, tc.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", a.status, tc.status, a.body)
			}
			if eb := a.errJSON(t); !strings.Contains(eb.Error, tc.names) {
				t.Fatalf("error %q does not name %q", eb.Error, tc.names)
			}
		})
	}
	t.Run("values at the limits", func(t *testing.T) {
		e.must(201, "PUT", "/v1/kv/"+long[:16], bytes.Repeat([]byte("v"), 32))
	})
	t.Run("chunked value over limit", func(t *testing.T) {
		// No Content-Length: the limit is found while reading.
		req, err := http.NewRequest("PUT", e.ts.URL+"/v1/kv/chunked", struct{ *strings.Reader }{strings.NewReader(strings.Repeat("v", 100))})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 || req.ContentLength != 0 {
			t.Fatalf("status %d (Content-Length %d), want 413", resp.StatusCode, req.ContentLength)
		}
	})
}

func TestNoSpace(t *testing.T) {
	e := newEnv(t)
	e.must(201, "PUT", "/v1/kv/a", []byte("v"))
	e.b.NoSpace.Store(true)
	for _, s := range []step{put("/v1/kv/a", "w"), put("/v1/kv/b", "w"), {"DELETE", "/v1/kv/a", nil}, {"POST", "/v1/kv/n?op=incr", nil}} {
		a := e.do(s.method, s.path, s.body)
		if a.status != 507 {
			t.Fatalf("%s %s: status %d, want 507; body %s", s.method, s.path, a.status, a.body)
		}
		if eb := a.errJSON(t); eb.Code != "no_space" || !strings.Contains(eb.Error, "--min-free-disk") {
			t.Fatalf("%s %s: error %+v", s.method, s.path, eb)
		}
	}
	if a := e.must(200, "GET", "/v1/kv/a", nil); string(a.body) != "v" {
		t.Fatalf("GET during NOSPACE: %q", a.body)
	}
	e.must(200, "GET", "/v1/kv", nil)
}

func TestBackendOutcomes(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{"not leader", &replica.ErrNotLeader{Group: 3, HintNode: "n2"}, 503, "not_applied", "1"},
		{"not applied", replica.ErrNotApplied, 503, "not_applied", "1"},
		{"membership change", replica.ErrMembershipChange, 503, "not_applied", "1"},
		{"indeterminate", replica.ErrIndeterminate, 504, "indeterminate", ""},
		{"deadline", context.DeadlineExceeded, 504, "indeterminate", ""},
		{"stopped", replica.ErrStopped, 504, "indeterminate", ""},
		{"too large", fmt.Errorf("%w: command over the message limit", api.ErrTooLarge), 413, "too_large", ""},
		{"invalid", fmt.Errorf("%w: nope", api.ErrInvalid), 400, "invalid_argument", ""},
		{"cross partition", api.ErrCrossPartition, 400, "invalid_argument", ""},
		{"no space", api.ErrNoSpace, 507, "no_space", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := apitest.New(8)
			f := &faulty{Backend: b, proposeErr: tc.err, readErr: tc.err}
			e := newEnvOver(t, b, f)
			for _, s := range []step{put("/v1/kv/a", "v"), {"DELETE", "/v1/kv/a", nil}, {"POST", "/v1/kv/a?op=incr", nil}, {"GET", "/v1/kv/a", nil}, {"GET", "/v1/kv", nil}} {
				if tc.code == "no_space" && s.method == "GET" {
					continue
				}
				a := e.do(s.method, s.path, s.body)
				if a.status != tc.status {
					t.Fatalf("%s %s: status %d, want %d; body %s", s.method, s.path, a.status, tc.status, a.body)
				}
				if eb := a.errJSON(t); eb.Code != tc.code {
					t.Errorf("%s %s: code %q, want %q", s.method, s.path, eb.Code, tc.code)
				}
				if got := a.h.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("%s %s: Retry-After %q, want %q", s.method, s.path, got, tc.retryAfter)
				}
			}
		})
	}
	t.Run("not leader names the leader", func(t *testing.T) {
		b := apitest.New(8)
		e := newEnvOver(t, b, &faulty{Backend: b, proposeErr: &replica.ErrNotLeader{Group: 3, Hint: 2, HintNode: "n2"}})
		if eb := e.must(503, "PUT", "/v1/kv/a", []byte("v")).errJSON(t); !strings.Contains(eb.Error, "n2") {
			t.Errorf("error %q does not name the leader", eb.Error)
		}
	})
}

func TestRequestTimeout(t *testing.T) {
	b := apitest.New(8)
	sb := &stuckBackend{Backend: b}
	e := newEnvOver(t, b, sb, func(c *Config) { c.RequestTimeout = 20 * time.Millisecond })
	a := e.must(504, "PUT", "/v1/kv/a", []byte("v"))
	if eb := a.errJSON(t); eb.Code != "indeterminate" {
		t.Fatalf("code %q", eb.Code)
	}
}

// stuckBackend's proposals never finish before their deadline, as an
// engine that lost its quorum.
type stuckBackend struct{ *apitest.Backend }

func (s *stuckBackend) Propose(ctx context.Context, p int, cmd kv.Command) (kv.Reply, error) {
	<-ctx.Done()
	return kv.Reply{}, errors.Join(replica.ErrIndeterminate, ctx.Err())
}

func TestReadModes(t *testing.T) {
	b := apitest.New(8)
	rb := &recordingBackend{Backend: b, modes: make(chan replica.ReadMode, 1)}
	e := newEnvOver(t, b, rb)
	for q, want := range map[string]replica.ReadMode{
		"": replica.Linearizable, "?consistency=linearizable": replica.Linearizable,
		"?consistency=follower": replica.Follower, "?consistency=stale": replica.Stale,
	} {
		e.must(404, "GET", "/v1/kv/a"+q, nil)
		if got := <-rb.modes; got != want {
			t.Errorf("GET %q read in mode %v, want %v", q, got, want)
		}
	}
}

func TestConcurrentIncr(t *testing.T) {
	e := newEnv(t)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				req, _ := http.NewRequest("POST", e.ts.URL+"/v1/kv/counter?op=incr", nil)
				resp, err := e.ts.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if a := e.must(200, "GET", "/v1/kv/counter", nil); string(a.body) != strconv.Itoa(workers*each) {
		t.Fatalf("counter %s, want %d", a.body, workers*each)
	}
}
