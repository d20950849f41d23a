package grpcapi

import (
	"context"
	"fmt"

	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/kv"
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
	// value). NB: protobuf's framing, about 24 bytes an item, adds at most
	// 240 KB at MaxScanLimit items.
	maxPageBytes = 3 << 20
)

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
	from := api.Cursor{}
	if req.Cursor != "" {
		c, err := api.ParseCursor(req.Cursor, s.b.Partitions(), lim.MaxKeySize)
		if err != nil {
			return nil, invalidf("cursor: %v", err)
		}
		from = c
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	page, err := api.ScanPage(ctx, s.b, api.Scan{Start: start, End: end, Limit: limit, PageBytes: maxPageBytes, Mode: mode}, from)
	if err != nil {
		return nil, s.readStatus(err)
	}
	out := &pb.ScanResponse{Items: make([]*pb.KeyValue, len(page.Items))}
	for i := range page.Items {
		it := &page.Items[i]
		out.Items[i] = &pb.KeyValue{Key: it.Key, Value: it.Value, Version: it.Version, DeadlineUnixNanos: it.Deadline}
	}
	if !page.Done {
		out.NextCursor = page.Next.String()
	}
	return out, nil
}
