package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/kv"
)

// Listing limits.
const (
	DefaultListLimit = 100  // items per page without ?limit=
	MaxListLimit     = 1000 // the largest ?limit=: a page is read in one go, so it bounds memory
)

// listItem is one key of a listing. Key and Value are strings when valid
// UTF-8, otherwise standard base64 with KeyEncoding/Encoding "base64".
type listItem struct {
	Key         string `json:"key"`
	KeyEncoding string `json:"key_encoding,omitempty"`
	Value       string `json:"value"`
	Encoding    string `json:"encoding,omitempty"`
	Version     uint64 `json:"version"`
}

// listAnswer is GET /v1/kv's body. Next is "" when the listing is done.
type listAnswer struct {
	Items []listItem `json:"items"`
	Next  string     `json:"next"`
}

func textOrBase64(b []byte) (s, encoding string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q, ok := query(w, r, "prefix", "start", "end", "limit", "cursor", "consistency")
	if !ok {
		return
	}
	mode, ok := readMode(w, q)
	if !ok {
		return
	}
	lim := s.b.Limits()
	var start, end []byte
	prefix, hasPrefix := q["prefix"]
	for _, name := range []string{"prefix", "start", "end"} {
		if v, ok := q[name]; ok && len(v) > lim.MaxKeySize {
			badParam(w, name, "%d bytes, over --max-key-size %d", len(v), lim.MaxKeySize)
			return
		}
	}
	if hasPrefix {
		if _, ok := q["start"]; ok {
			badParam(w, "start", "give either prefix or a start/end range, not both")
			return
		}
		if _, ok := q["end"]; ok {
			badParam(w, "end", "give either prefix or a start/end range, not both")
			return
		}
		start, end = []byte(prefix), kv.PrefixEnd([]byte(prefix))
	} else {
		if v, ok := q["start"]; ok {
			start = []byte(v)
		}
		if v, ok := q["end"]; ok {
			end = []byte(v)
			if len(end) == 0 {
				end = nil // an empty end: no upper bound
			}
		}
	}
	if end != nil && bytes.Compare(start, end) >= 0 {
		writeJSON(w, http.StatusOK, listAnswer{Items: []listItem{}})
		return
	}
	limit := DefaultListLimit
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			badParam(w, "limit", "%q is not a number from 1 to %d", v, MaxListLimit)
			return
		}
		limit = n
	}
	from := api.Cursor{}
	if v, ok := q["cursor"]; ok && v != "" {
		c, err := api.ParseCursor(v, s.b.Partitions(), lim.MaxKeySize)
		if err != nil {
			badParam(w, "cursor", "%v", err)
			return
		}
		from = c
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	page, err := api.ScanPage(ctx, s.b, api.Scan{Start: start, End: end, Limit: limit, Mode: mode}, from)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	ans := listAnswer{Items: make([]listItem, 0, len(page.Items))}
	for _, it := range page.Items {
		li := listItem{Version: it.Version}
		li.Key, li.KeyEncoding = textOrBase64(it.Key)
		li.Value, li.Encoding = textOrBase64(it.Value)
		ans.Items = append(ans.Items, li)
	}
	if !page.Done {
		ans.Next = page.Next.String()
	}
	writeJSON(w, http.StatusOK, ans)
}
