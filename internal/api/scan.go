package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

// Cursor is where a scan goes on: in partition Partition, at key Key
// (inclusive; empty: at the start of the scan's range). Every door's scan
// (RESP SCAN and KEYS, HTTP listings, gRPC Scan) resumes through it.
type Cursor struct {
	Partition int
	Key       []byte
}

// cursorVersion is the first byte of every encoded cursor.
const cursorVersion = 1

// ErrCursor says a cursor does not decode, or names a partition or a key
// this cluster cannot have: pass back the one the last page returned.
var ErrCursor = fmt.Errorf("%w: not a scan cursor of this cluster (pass back the cursor the last page returned, unchanged)", ErrInvalid)

// String encodes c as an opaque, URL-safe string:
// base64url(0x01 partition:uvarint key...).
func (c Cursor) String() string {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(c.Key))
	buf = append(buf, cursorVersion)
	buf = binary.AppendUvarint(buf, uint64(c.Partition))
	buf = append(buf, c.Key...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// ParseCursor decodes a cursor made by Cursor.String for a cluster of
// partitions partitions and keys of at most maxKey bytes. It never panics;
// every failure wraps ErrCursor (and so ErrInvalid). Key aliases nothing
// of s.
func ParseCursor(s string, partitions, maxKey int) (Cursor, error) {
	if base64.RawURLEncoding.DecodedLen(len(s)) > 1+binary.MaxVarintLen64+maxKey {
		return Cursor{}, fmt.Errorf("%w: %d characters, too long", ErrCursor, len(s))
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, fmt.Errorf("%w: %v", ErrCursor, err)
	}
	if len(raw) == 0 || raw[0] != cursorVersion {
		return Cursor{}, fmt.Errorf("%w: unknown version", ErrCursor)
	}
	p, n := binary.Uvarint(raw[1:])
	switch {
	case n <= 0:
		return Cursor{}, fmt.Errorf("%w: bad partition", ErrCursor)
	case p >= uint64(partitions):
		return Cursor{}, fmt.Errorf("%w: partition %d of %d", ErrCursor, p, partitions)
	case len(raw)-1-n > maxKey:
		return Cursor{}, fmt.Errorf("%w: key over --max-key-size", ErrCursor)
	}
	return Cursor{Partition: int(p), Key: raw[1+n:]}, nil
}

// Scan is what a scan reads: the keys of [Start, End) (End nil: no upper
// bound), partition after partition in order, key order within each.
type Scan struct {
	Start, End []byte
	// Limit is how many keys a page examines (1 to kv.MaxScanLimit): its
	// items, and the keys Match rejected (Redis's SCAN COUNT).
	Limit int
	// PageBytes, if positive, bounds a page's keys and values: it stops
	// before the item that would cross it, but always holds one item.
	PageBytes int
	// Match, if not nil, is a glob pattern (kv.Match) the keys must match.
	Match []byte
	// KeysOnly: items carry no values.
	KeysOnly bool
	// Mode is each partition's read mode.
	Mode replica.ReadMode
	// ReadTimeout, if positive, bounds each Backend.Read of the page.
	ReadTimeout time.Duration
}

// Page is one page of a scan. Done says the scan is complete; otherwise
// Next is where the next page starts.
type Page struct {
	Items []kv.Item
	Next  Cursor
	Done  bool
}

// readBytes bounds the items one Backend.Read answers, so that a read
// served by another node fits in a node-to-node message (8 MiB) whatever
// the page size; a key and a value at the default limits fit in it.
const readBytes = 4 << 20

// ScanPage reads the page of s that starts at from: one Backend.Read per
// partition in the usual case (more when a partition's part of the page
// holds more than readBytes), so each partition's part is read in s.Mode;
// the whole page is not a snapshot, and a key present for the whole scan
// is returned exactly once. It is the one scan loop of every door.
func ScanPage(ctx context.Context, b Backend, s Scan, from Cursor) (Page, error) {
	parts := b.Partitions()
	if from.Partition < 0 || from.Partition >= parts {
		return Page{}, fmt.Errorf("%w: partition %d of %d", ErrCursor, from.Partition, parts)
	}
	if s.Limit < 1 || s.Limit > kv.MaxScanLimit {
		return Page{}, fmt.Errorf("%w: scan limit %d, want 1 to %d", ErrInvalid, s.Limit, kv.MaxScanLimit)
	}
	var page Page
	if s.End != nil && bytes.Compare(s.Start, s.End) >= 0 {
		page.Done = true
		return page, nil
	}
	left, size := s.Limit, 0
	p, at := from.Partition, from.Key
	for p < parts && left > 0 {
		if s.PageBytes > 0 && size >= s.PageBytes {
			page.Next = Cursor{Partition: p, Key: bytes.Clone(at)}
			return page, nil
		}
		start := s.Start
		if bytes.Compare(at, start) > 0 {
			start = at
		}
		if start == nil {
			start = []byte{}
		}
		if s.End != nil && bytes.Compare(start, s.End) >= 0 {
			p, at = p+1, nil
			continue
		}
		q := kv.Query{Kind: kv.QueryScan, Start: start, End: s.End, Limit: left, MaxBytes: readBytes,
			Match: s.Match, KeysOnly: s.KeysOnly}
		chunkBound := true // the read's budget, not the page's, is the tighter
		if s.PageBytes > 0 && s.PageBytes-size <= readBytes {
			q.MaxBytes, chunkBound = max(s.PageBytes-size, 1), false
		}
		rep, err := read(ctx, b, p, s, q)
		if err != nil {
			return Page{}, err
		}
		for _, it := range rep.Items {
			sz := len(it.Key) + len(it.Value)
			if s.PageBytes > 0 && len(page.Items) > 0 && size+sz > s.PageBytes {
				page.Next = Cursor{Partition: p, Key: bytes.Clone(it.Key)}
				return page, nil
			}
			size += sz
			page.Items = append(page.Items, it)
		}
		left -= max(rep.Examined, len(rep.Items))
		if rep.Next == nil {
			p, at = p+1, nil // partition p is done
			continue
		}
		if left > 0 && chunkBound {
			at = rep.Next // cut by the read's budget: go on in p
			continue
		}
		// NB: a copy: rep.Next may alias a whole reply, and a RESP cursor
		// keeps it for minutes.
		page.Next = Cursor{Partition: p, Key: bytes.Clone(rep.Next)}
		return page, nil
	}
	if p >= parts {
		page.Done = true
	} else {
		page.Next = Cursor{Partition: p}
	}
	return page, nil
}

func read(ctx context.Context, b Backend, p int, s Scan, q kv.Query) (kv.Reply, error) {
	if s.ReadTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.ReadTimeout)
		defer cancel()
	}
	return b.Read(ctx, p, s.Mode, q)
}
