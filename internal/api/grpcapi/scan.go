package grpcapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/storage"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

const (
	// DefaultScanLimit is a page's size when a ScanRequest names none.
	DefaultScanLimit = 100
	// MaxScanLimit caps a page's size; a larger limit is lowered to it.
	MaxScanLimit = 10000
	// maxPageBytes keeps a page well under gRPC's default 4 MiB message
	// limit: a page stops before the item that would cross it (a page
	// always holds at least one item, and one item fits: 8 KiB key + 1 MiB
	// value).
	maxPageBytes = 3 << 20
	// scanChunk is how many items one kv.Scan reads, so a page of large
	// values stops reading soon after its byte budget is spent.
	scanChunk = 64
	// itemOverhead approximates an item's protobuf framing.
	itemOverhead = 24
)

// cursorVersion is the first byte of every encoded cursor.
const cursorVersion = 1

// cursor is where a scan resumes: at Key (inclusive) in Partition.
type cursor struct {
	Partition int
	Key       []byte
}

// maxCursorPartition bounds a decoded partition (cluster.MaxPartitions is
// far below it); the server checks it against P.
const maxCursorPartition = 1 << 24

var errCursor = errors.New("malformed scan cursor")

// encodeCursor returns c as an opaque, URL-safe string:
// base64url(0x01 partition:uvarint key...).
func encodeCursor(c cursor) string {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(c.Key))
	buf = append(buf, cursorVersion)
	buf = binary.AppendUvarint(buf, uint64(c.Partition))
	buf = append(buf, c.Key...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// decodeCursor decodes a string made by encodeCursor. It never panics.
func decodeCursor(s string) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: %v", errCursor, err)
	}
	if len(raw) == 0 || raw[0] != cursorVersion {
		return cursor{}, fmt.Errorf("%w: unknown version", errCursor)
	}
	p, n := binary.Uvarint(raw[1:])
	if n <= 0 || p >= maxCursorPartition {
		return cursor{}, fmt.Errorf("%w: bad partition", errCursor)
	}
	return cursor{Partition: int(p), Key: raw[1+n:]}, nil
}

// scan answers one page: partitions in order from the cursor's, keys in
// order within each, until the limit or the byte budget is reached.
func (s *Server) scan(ctx context.Context, req *pb.ScanRequest) (*pb.ScanResponse, *status.Status) {
	lim := s.b.Limits()
	for _, f := range [...]struct {
		name string
		b    []byte
	}{{"prefix", req.Prefix}, {"start", req.Start}, {"end", req.End}} {
		if len(f.b) > lim.MaxKeySize {
			return nil, invalidStatus(fmt.Errorf("%w: %s is %d bytes, over --max-key-size %d", api.ErrTooLarge, f.name, len(f.b), lim.MaxKeySize))
		}
	}
	if len(req.Prefix) > 0 && (len(req.Start) > 0 || len(req.End) > 0) {
		return nil, invalidf("prefix with start or end: give one or the other")
	}
	mode, st := readMode(req.Consistency)
	if st != nil {
		return nil, st
	}
	start, end := req.Start, req.End
	if len(req.Prefix) > 0 {
		start, end = req.Prefix, kv.PrefixEnd(req.Prefix)
	}
	if len(end) == 0 {
		end = nil // no upper bound
	}
	if start == nil {
		start = []byte{}
	}
	limit := int(req.Limit)
	switch {
	case limit == 0:
		limit = DefaultScanLimit
	case limit > MaxScanLimit:
		limit = MaxScanLimit
	}
	parts := s.b.Partitions()
	p, from := 0, start
	if req.Cursor != "" {
		c, err := decodeCursor(req.Cursor)
		if err != nil {
			return nil, invalidf("cursor: %v", err)
		}
		if c.Partition >= parts {
			return nil, invalidf("cursor: partition %d of %d", c.Partition, parts)
		}
		if len(c.Key) > lim.MaxKeySize {
			return nil, invalidf("cursor: key over --max-key-size")
		}
		p = c.Partition
		if bytes.Compare(c.Key, start) > 0 {
			from = c.Key
		}
	}
	out := &pb.ScanResponse{}
	if end != nil && bytes.Compare(start, end) >= 0 {
		return out, nil // an empty range
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	size := 0
	for ; p < parts; p, from = p+1, start {
		if end != nil && bytes.Compare(from, end) >= 0 {
			continue
		}
		var next []byte
		n0, size0 := len(out.Items), size
		err := s.b.Read(ctx, p, mode, func(v storage.View, group uint64) error {
			out.Items, size, next = out.Items[:n0], size0, nil // should Read run fn twice
			cur := from
			for {
				items, more, err := kv.Scan(v, group, cur, end, min(limit-len(out.Items), scanChunk))
				if err != nil {
					return &readError{err}
				}
				for i := range items {
					it := &items[i]
					sz := len(it.Key) + len(it.Value) + itemOverhead
					if len(out.Items) > 0 && size+sz > maxPageBytes {
						next = it.Key
						return nil
					}
					size += sz
					out.Items = append(out.Items, &pb.KeyValue{Key: it.Key, Value: it.Value, Version: it.Version, DeadlineUnixNanos: it.Deadline})
				}
				if more == nil {
					return nil // the partition's range is exhausted
				}
				if len(out.Items) >= limit {
					next = more
					return nil
				}
				cur = more
			}
		})
		if err != nil {
			return nil, s.readStatus(err)
		}
		if next != nil {
			out.NextCursor = encodeCursor(cursor{Partition: p, Key: next})
			return out, nil
		}
		if len(out.Items) >= limit {
			if p+1 < parts {
				out.NextCursor = encodeCursor(cursor{Partition: p + 1, Key: start})
			}
			return out, nil
		}
	}
	return out, nil
}
