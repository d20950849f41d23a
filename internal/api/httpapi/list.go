package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/storage"
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

// cursor is where a listing resumes: in partition P, after key After (or
// from the range's start when !HasAfter). Opaque to clients: base64url of
//
//	0x01 partition:uvarint hasafter:u8 [after:bytes-to-end]
type cursor struct {
	P        int
	HasAfter bool
	After    []byte
}

const cursorVersion = 1

func (c cursor) encode() string {
	b := []byte{cursorVersion}
	b = binary.AppendUvarint(b, uint64(c.P))
	if c.HasAfter {
		b = append(b, 1)
		b = append(b, c.After...)
	} else {
		b = append(b, 0)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

var errCursor = errors.New("not a cursor from this server's listings (pass back \"next\" unchanged)")

// decodeCursor decodes s for a cluster of p partitions and keys of at most
// maxKey bytes.
func decodeCursor(s string, p, maxKey int) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 3 || b[0] != cursorVersion {
		return cursor{}, errCursor
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n >= uint64(p) || 1+w >= len(b) {
		return cursor{}, errCursor
	}
	c := cursor{P: int(n)}
	rest := b[1+w:]
	switch rest[0] {
	case 0:
		if len(rest) != 1 {
			return cursor{}, errCursor
		}
	case 1:
		c.HasAfter, c.After = true, rest[1:]
		if len(c.After) > maxKey {
			return cursor{}, errCursor
		}
	default:
		return cursor{}, errCursor
	}
	return c, nil
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
	P := s.b.Partitions()
	cur := cursor{}
	if v, ok := q["cursor"]; ok && v != "" {
		c, err := decodeCursor(v, P, lim.MaxKeySize)
		if err != nil {
			badParam(w, "cursor", "%v", err)
			return
		}
		cur = c
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	ans := listAnswer{Items: make([]listItem, 0, min(limit, 64))}
	for p := cur.P; p < P; p++ {
		from := start
		if p == cur.P && cur.HasAfter {
			// Resume just after the last key returned.
			if after := append(bytes.Clone(cur.After), 0); bytes.Compare(after, from) > 0 {
				from = after
			}
			if end != nil && bytes.Compare(from, end) >= 0 {
				continue
			}
		}
		want := limit - len(ans.Items)
		var items []kv.Item
		var more []byte
		err := s.b.Read(ctx, p, mode, func(v storage.View, group uint64) error {
			var err error
			items, more, err = kv.Scan(v, group, from, end, want)
			return err
		})
		if err != nil {
			s.backendError(w, r, err)
			return
		}
		for _, it := range items {
			li := listItem{Version: it.Version}
			li.Key, li.KeyEncoding = textOrBase64(it.Key)
			li.Value, li.Encoding = textOrBase64(it.Value)
			ans.Items = append(ans.Items, li)
		}
		if len(ans.Items) < limit {
			continue // partition p exhausted; the page has room for the next
		}
		switch {
		case more != nil:
			ans.Next = cursor{P: p, HasAfter: true, After: items[len(items)-1].Key}.encode()
		case p+1 < P:
			ans.Next = cursor{P: p + 1}.encode()
		}
		break
	}
	writeJSON(w, http.StatusOK, ans)
}
