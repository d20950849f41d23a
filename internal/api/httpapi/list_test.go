package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"testing"
)

// listAll follows a listing to its end with ?limit=limit and the extra
// query q, failing on a key listed twice or a short page before the last.
func listAll(t *testing.T, e *env, q string, limit int) map[string]string {
	t.Helper()
	got := map[string]string{}
	next := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("listing %q did not end after %d pages", q, pages)
		}
		path := fmt.Sprintf("/v1/kv?limit=%d%s", limit, q)
		if next != "" {
			path += "&cursor=" + url.QueryEscape(next)
		}
		var l listAnswer
		e.must(200, "GET", path, nil).json(t, &l)
		if len(l.Items) > limit || l.Next != "" && len(l.Items) < limit {
			t.Fatalf("page %d of %q: %d items with limit %d and next %q", pages, q, len(l.Items), limit, l.Next)
		}
		for _, it := range l.Items {
			k, v := decodeItem(t, it)
			if _, dup := got[k]; dup {
				t.Fatalf("key %q listed twice (limit %d, %q)", k, limit, q)
			}
			got[k] = v
		}
		if l.Next == "" {
			return got
		}
		next = l.Next
	}
}

func decodeItem(t *testing.T, it listItem) (key, value string) {
	t.Helper()
	dec := func(s, enc string) string {
		switch enc {
		case "":
			return s
		case "base64":
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				t.Fatalf("item %+v: %v", it, err)
			}
			return string(b)
		}
		t.Fatalf("item %+v: unknown encoding %q", it, enc)
		return ""
	}
	return dec(it.Key, it.KeyEncoding), dec(it.Value, it.Encoding)
}

func TestListPagination(t *testing.T) {
	e := newEnv(t)
	const n = 120
	want := map[string]string{}
	partitions := map[int]bool{}
	for i := range n {
		k := fmt.Sprintf("k%03d", i)
		want[k] = fmt.Sprint("v", i)
		partitions[e.b.Partition([]byte(k))] = true
		e.must(201, "PUT", "/v1/kv/"+k, []byte(want[k]))
	}
	for i := range 30 {
		e.must(201, "PUT", fmt.Sprintf("/v1/kv/other%d", i), []byte("x"))
	}
	if len(partitions) != 8 {
		t.Fatalf("the keys fall in %d partitions, want all 8", len(partitions))
	}
	for _, limit := range []int{1, 2, 3, 7, 15, 16, 100, 1000} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			got := listAll(t, e, "&prefix=k", limit)
			if len(got) != n {
				t.Fatalf("listed %d keys, want %d", len(got), n)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("key %q = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	t.Run("no prefix", func(t *testing.T) {
		if got := listAll(t, e, "", 9); len(got) != n+30 {
			t.Fatalf("listed %d keys, want %d", len(got), n+30)
		}
	})
	t.Run("range", func(t *testing.T) {
		got := listAll(t, e, "&start=k010&end=k020", 4)
		if len(got) != 10 {
			t.Fatalf("listed %q, want k010..k019", got)
		}
		for k := range got {
			if k < "k010" || k >= "k020" {
				t.Fatalf("listed %q outside [k010, k020)", k)
			}
		}
	})
	t.Run("open range", func(t *testing.T) {
		if got := listAll(t, e, "&start=other", 50); len(got) != 30 {
			t.Fatalf("listed %d keys from other, want 30", len(got))
		}
	})
	t.Run("empty range", func(t *testing.T) {
		if got := listAll(t, e, "&start=z&end=a", 5); len(got) != 0 {
			t.Fatalf("listed %q", got)
		}
	})
	t.Run("default limit", func(t *testing.T) {
		var l listAnswer
		e.must(200, "GET", "/v1/kv", nil).json(t, &l)
		if len(l.Items) != DefaultListLimit || l.Next == "" {
			t.Fatalf("first page of %d items, next %q; want %d and a cursor", len(l.Items), l.Next, DefaultListLimit)
		}
	})
	t.Run("keys deleted between pages", func(t *testing.T) {
		// A key present for the whole listing is listed; one deleted at the
		// cursor does not break the resume.
		var l listAnswer
		e.must(200, "GET", "/v1/kv?prefix=k&limit=5", nil).json(t, &l)
		last, _ := decodeItem(t, l.Items[4])
		e.must(204, "DELETE", "/v1/kv/"+last, nil)
		seen := map[string]bool{}
		for _, it := range l.Items {
			seen[it.Key] = true
		}
		for next := l.Next; next != ""; {
			var p listAnswer
			e.must(200, "GET", "/v1/kv?prefix=k&limit=5&cursor="+url.QueryEscape(next), nil).json(t, &p)
			for _, it := range p.Items {
				if seen[it.Key] {
					t.Fatalf("key %q listed twice", it.Key)
				}
				seen[it.Key] = true
			}
			next = p.Next
		}
		if len(seen) != n {
			t.Fatalf("saw %d keys, want %d (the deleted one was listed before it went)", len(seen), n)
		}
	})
}

func TestListEncodings(t *testing.T) {
	e := newEnv(t)
	e.must(201, "PUT", "/v1/kv/bin%FF%00", []byte("text"))
	e.must(201, "PUT", "/v1/kv/caf%C3%A9", []byte("caf\xc3\xa9 \"quoted\"\n"))
	var l listAnswer
	e.must(200, "GET", "/v1/kv", nil).json(t, &l)
	byKey := map[string]listItem{}
	for _, it := range l.Items {
		k, _ := decodeItem(t, it)
		byKey[k] = it
	}
	if it := byKey["bin\xff\x00"]; it.KeyEncoding != "base64" || it.Key != base64.StdEncoding.EncodeToString([]byte("bin\xff\x00")) || it.Encoding != "" || it.Value != "text" {
		t.Errorf("binary key item %+v", it)
	}
	if it := byKey["café"]; it.KeyEncoding != "" || it.Encoding != "" || it.Value != "café \"quoted\"\n" {
		t.Errorf("UTF-8 item %+v", it)
	}
	// The raw JSON spells the fields as DESIGN.md does.
	a := e.must(200, "GET", "/v1/kv?prefix=bin", nil)
	if !containsAll(string(a.body), `"items":[{"key":`, `"key_encoding":"base64"`, `"value":"text"`, `"version":`, `"next":""`) {
		t.Errorf("listing JSON %s", a.body)
	}
}
