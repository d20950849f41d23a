package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/apitest"
)

var fuzzMethods = []string{"GET", "PUT", "DELETE", "POST", "HEAD", "PATCH", "OPTIONS"}

// FuzzKeyAndParams sends arbitrary paths, query strings and bodies: the
// door never panics, never answers 5xx (the apitest Backend never fails),
// and every JSON error body decodes.
func FuzzKeyAndParams(f *testing.F) {
	for _, s := range []struct {
		m       uint8
		path, q string
		body    []byte
	}{
		{0, "/v1/kv/a", "", nil},
		{1, "/v1/kv/a", "ttl=10s&if_version=0", []byte("v")},
		{1, "/v1/kv/a//b/../c", "if_value=%00%ff&if_absent=true", []byte{0, 0xff}},
		{2, "/v1/kv/a", "if_version=-1", nil},
		{3, "/v1/kv/n", "op=incr&by=-9223372036854775808", nil},
		{0, "/v1/kv", "prefix=k&limit=3&cursor=AQAB", nil},
		{0, "/v1/kv", "start=a&end=b&limit=1000", nil},
		{0, "/v1/kv/%7Btag%7D", "consistency=stale", nil},
		{0, "/readyz", "verbose&exclude=storage", nil},
		{0, "/v1/cluster", "", nil},
		{5, "/livez", "", nil},
		{0, "/v1/kv/", "ttl=1s;x=2", nil},
		{1, "/v1/kv/" + strings.Repeat("k", 40), "", bytes.Repeat([]byte("v"), 70)},
	} {
		f.Add(s.m, s.path, s.q, s.body)
	}
	b := apitest.New(8)
	b.Lim = api.Limits{MaxKeySize: 32, MaxValueSize: 64}
	srv, err := New(Config{Backend: b})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, m uint8, path, q string, body []byte) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u := path
		if q != "" {
			u += "?" + q
		}
		req, err := http.NewRequest(method, "http://cairn.test"+u, bytes.NewReader(body))
		if err != nil || req.URL.Host != "cairn.test" || req.URL.Path == "" {
			return // not a request a server would parse either
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, u, w.Code, w.Body.Bytes())
		}
		if w.Header().Get("Content-Type") == "application/json" && method != "HEAD" {
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s %q: invalid JSON %q", method, u, w.Body.Bytes())
			}
			if w.Code >= 400 {
				var eb errorBody
				if json.Unmarshal(w.Body.Bytes(), &eb) != nil || eb.Error == "" || eb.Code == "" {
					t.Fatalf("%s %q: %d without an error body: %s", method, u, w.Code, w.Body.Bytes())
				}
			}
		}
	})
}
