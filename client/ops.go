package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// ReadMode says how fresh a read must be (DESIGN.md, Reads).
type ReadMode int

const (
	// Linearizable reads at the partition's leader (Raft ReadIndex): it
	// sees every write acknowledged before it began. The default.
	Linearizable ReadMode = iota
	// Follower reads at a replica the balancing policy chooses, after the
	// leader has confirmed the read index: still linearizable, and it
	// spreads reads over the replicas.
	Follower
	// Stale reads a replica's state as it is, without asking the leader:
	// fastest, and possibly behind by the replication lag.
	Stale
)

// String is the mode as flags spell it.
func (m ReadMode) String() string {
	switch m {
	case Linearizable:
		return "linearizable"
	case Follower:
		return "follower"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("ReadMode(%d)", int(m))
}

// ParseReadMode parses "linearizable", "follower" or "stale".
func ParseReadMode(s string) (ReadMode, error) {
	for _, m := range []ReadMode{Linearizable, Follower, Stale} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("client: read mode %q: want linearizable, follower or stale", s)
}

func (m ReadMode) consistency() (pb.Consistency, error) {
	switch m {
	case Linearizable:
		return pb.Consistency_CONSISTENCY_LINEARIZABLE, nil
	case Follower:
		return pb.Consistency_CONSISTENCY_FOLLOWER, nil
	case Stale:
		return pb.Consistency_CONSISTENCY_STALE, nil
	}
	return 0, fmt.Errorf("%w: unknown %v", ErrInvalid, m)
}

// ReadOption changes a read (Get, Scan).
type ReadOption func(*readOptions)

type readOptions struct {
	mode     ReadMode
	pageSize int
}

// WithReadMode sets how fresh a read must be; default Linearizable.
func WithReadMode(m ReadMode) ReadOption { return func(o *readOptions) { o.mode = m } }

// maxPageSize is the server's cap on a Scan page.
const maxPageSize = 10000

// WithPageSize sets how many items a Scan asks for at a time (the server
// caps it at 10000); default 0: the server's, 100. Get ignores it.
func WithPageSize(n int) ReadOption { return func(o *readOptions) { o.pageSize = n } }

// WriteOption changes a write (Put, Delete). Each says which it applies
// to; given to the other, it makes the call fail with ErrInvalid.
type WriteOption func(*writeOptions)

type writeOptions struct {
	ttl        time.Duration
	ttlSet     bool
	keepTTL    bool
	ifAbsent   bool
	ifExists   bool
	ifVersion  *uint64
	ifValue    []byte
	returnPrev bool
	putOnly    string // the first Put-only option given, for Delete's error
}

func (o *writeOptions) putOnlyOption(name string) {
	if o.putOnly == "" {
		o.putOnly = name
	}
}

// WithTTL makes a Put's key expire d after it applies (by the partition's
// group time, to the millisecond, rounded up). Put only.
func WithTTL(d time.Duration) WriteOption {
	return func(o *writeOptions) { o.ttl, o.ttlSet = d, true; o.putOnlyOption("WithTTL") }
}

// KeepTTL makes a Put keep the key's deadline (Redis SET KEEPTTL); not with
// WithTTL. Put only.
func KeepTTL() WriteOption {
	return func(o *writeOptions) { o.keepTTL = true; o.putOnlyOption("KeepTTL") }
}

// IfAbsent makes a Put apply only if the key is absent (Redis NX). Put
// only.
func IfAbsent() WriteOption {
	return func(o *writeOptions) { o.ifAbsent = true; o.putOnlyOption("IfAbsent") }
}

// IfExists makes a Put apply only if the key exists (Redis XX). Put only.
func IfExists() WriteOption {
	return func(o *writeOptions) { o.ifExists = true; o.putOnlyOption("IfExists") }
}

// IfVersion makes a write apply only if the key's version is v (0: the key
// is absent): compare-and-set on the version a read returned.
func IfVersion(v uint64) WriteOption { return func(o *writeOptions) { o.ifVersion = &v } }

// IfValue makes a write apply only if the key holds exactly value.
func IfValue(value []byte) WriteOption {
	return func(o *writeOptions) {
		if value == nil {
			value = []byte{} // "holds the empty value", not "no condition"
		}
		o.ifValue = value
	}
}

// ReturnPrev makes a write return the key's previous value (Redis SET GET,
// GETDEL).
func ReturnPrev() WriteOption { return func(o *writeOptions) { o.returnPrev = true } }

// Item is a key's value as a read found it.
type Item struct {
	Value []byte
	// Version is the index of the log entry that last wrote the key: it
	// grows with every write, and IfVersion compares with it.
	Version uint64
	// Deadline is when the key expires, by the partition's group time;
	// zero when it has none.
	Deadline time.Time
	// TTL is Deadline minus the answering node's clock, at least 0; zero
	// when the key has no deadline.
	TTL time.Duration
}

// PutResult is what a Put did.
type PutResult struct {
	Version uint64 // the key's new version
	// Prev is the previous value, with ReturnPrev, when the key existed
	// (non-nil then, even if empty); nil otherwise.
	Prev []byte
}

// DeleteResult is what a Delete did.
type DeleteResult struct {
	Deleted bool // false: the key did not exist (not an error)
	// Prev is the deleted value, with ReturnPrev, when the key existed.
	Prev []byte
}

// KeyValue is one item of a Scan.
type KeyValue struct {
	Key, Value []byte
	Version    uint64
	Deadline   time.Time // zero: none
}

// Range is what a Scan lists: the keys with Prefix, or else the keys in
// [Start, End) (an empty End: no upper bound; all empty: every key).
type Range struct {
	Prefix     []byte
	Start, End []byte
}

// errWrongAnswer is an answer of another kind than the request's.
var errWrongAnswer = status.Error(codes.Internal, "client: the node answered with the wrong kind of response")

// Get reads key. found is false when the key does not exist (then item is
// zero and err nil).
func (c *Client) Get(ctx context.Context, key []byte, opts ...ReadOption) (item Item, found bool, err error) {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	cons, err := o.mode.consistency()
	if err != nil {
		return Item{}, false, err
	}
	var resp *pb.GetResponse
	err = c.do(ctx, &request{p: c.partition(key), mode: o.mode, send: func(ctx context.Context, nc *nodeConn, _ *pb.Session) (bool, error) {
		breq := &pb.BatchRequest{Request: &pb.BatchRequest_Get{Get: &pb.GetRequest{Key: key, Consistency: cons}}}
		br, sent, err := nc.call(ctx, breq)
		if err == nil {
			if resp = br.GetGet(); resp == nil {
				err = errWrongAnswer
			}
		}
		return sent, err
	}})
	if err != nil || !resp.Found {
		return Item{}, false, err
	}
	item = Item{Value: resp.Value, Version: resp.Version}
	if resp.DeadlineUnixNanos != 0 {
		item.Deadline = time.Unix(0, resp.DeadlineUnixNanos)
	}
	if resp.TtlMs != nil {
		item.TTL = time.Duration(*resp.TtlMs) * time.Millisecond
	}
	return item, true, nil
}

// Put writes value under key. The write carries a session, so the retries
// the client makes apply it at most once; an *IndeterminateError says it
// may or may not have applied.
func (c *Client) Put(ctx context.Context, key, value []byte, opts ...WriteOption) (PutResult, error) {
	var o writeOptions
	for _, f := range opts {
		f(&o)
	}
	if o.ttlSet && o.ttl <= 0 {
		return PutResult{}, fmt.Errorf("%w: WithTTL(%v): want > 0", ErrInvalid, o.ttl)
	}
	var ttlMs int64
	if o.ttl > 0 {
		ttlMs = int64((o.ttl + time.Millisecond - 1) / time.Millisecond)
	}
	var resp *pb.PutResponse
	err := c.do(ctx, &request{p: c.partition(key), write: true, send: func(ctx context.Context, nc *nodeConn, sess *pb.Session) (bool, error) {
		// NB: a new message per attempt: gRPC may read a sent one lazily.
		req := &pb.PutRequest{Key: key, Value: value, TtlMs: ttlMs, KeepTtl: o.keepTTL, IfAbsent: o.ifAbsent, IfExists: o.ifExists,
			IfVersion: o.ifVersion, IfValue: o.ifValue, ReturnPrev: o.returnPrev, Session: sess}
		br, sent, err := nc.call(ctx, &pb.BatchRequest{Request: &pb.BatchRequest_Put{Put: req}})
		if err == nil {
			if resp = br.GetPut(); resp == nil {
				err = errWrongAnswer
			}
		}
		return sent, err
	}})
	if err != nil {
		return PutResult{}, err
	}
	return PutResult{Version: resp.Version, Prev: resp.Prev}, nil
}

// Delete deletes key; deleting a key that does not exist is not an error.
// Of the WriteOptions it takes IfVersion, IfValue and ReturnPrev.
func (c *Client) Delete(ctx context.Context, key []byte, opts ...WriteOption) (DeleteResult, error) {
	var o writeOptions
	for _, f := range opts {
		f(&o)
	}
	if o.putOnly != "" {
		return DeleteResult{}, fmt.Errorf("%w: %s applies to Put, not Delete", ErrInvalid, o.putOnly)
	}
	var resp *pb.DeleteResponse
	err := c.do(ctx, &request{p: c.partition(key), write: true, send: func(ctx context.Context, nc *nodeConn, sess *pb.Session) (bool, error) {
		req := &pb.DeleteRequest{Key: key, IfVersion: o.ifVersion, IfValue: o.ifValue, ReturnPrev: o.returnPrev, Session: sess}
		br, sent, err := nc.call(ctx, &pb.BatchRequest{Request: &pb.BatchRequest_Delete{Delete: req}})
		if err == nil {
			if resp = br.GetDelete(); resp == nil {
				err = errWrongAnswer
			}
		}
		return sent, err
	}})
	if err != nil {
		return DeleteResult{}, err
	}
	return DeleteResult{Deleted: resp.Deleted, Prev: resp.Prev}, nil
}

// Incr adds delta to the integer in key (an absent key counts as 0) and
// returns the new value. Like every write it applies at most once however
// often the client retries it.
func (c *Client) Incr(ctx context.Context, key []byte, delta int64) (int64, error) {
	var resp *pb.IncrResponse
	err := c.do(ctx, &request{p: c.partition(key), write: true, send: func(ctx context.Context, nc *nodeConn, sess *pb.Session) (bool, error) {
		req := &pb.IncrRequest{Key: key, Delta: delta, Session: sess}
		br, sent, err := nc.call(ctx, &pb.BatchRequest{Request: &pb.BatchRequest_Incr{Incr: req}})
		if err == nil {
			if resp = br.GetIncr(); resp == nil {
				err = errWrongAnswer
			}
		}
		return sent, err
	}})
	if err != nil {
		return 0, err
	}
	return resp.Value, nil
}

// Scan calls fn for every key in r, in key order within each partition and
// the partitions in order, page by page, until the range is exhausted or fn
// returns an error (which Scan returns). Each page is read at the read mode
// and retried like any read; the whole scan is not a snapshot: a key
// present for the whole scan is listed exactly once (Redis's SCAN promise).
// A context without a deadline gets Options.RequestTimeout per page.
func (c *Client) Scan(ctx context.Context, r Range, fn func(KeyValue) error, opts ...ReadOption) error {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	cons, err := o.mode.consistency()
	if err != nil {
		return err
	}
	if o.pageSize < 0 {
		return fmt.Errorf("%w: WithPageSize(%d): want 0 (the server's default) or more", ErrInvalid, o.pageSize)
	}
	limit := uint32(min(o.pageSize, maxPageSize))
	cursor := ""
	for {
		var page *pb.ScanResponse
		// NB: the cursor is opaque, so a page goes to an entry node (any
		// node reads its replicas locally, linearizably by ReadIndex) and
		// follows a not-applied answer to a node that holds the partition.
		err := c.do(ctx, &request{p: -1, mode: o.mode, send: func(ctx context.Context, nc *nodeConn, _ *pb.Session) (bool, error) {
			var err error
			page, err = nc.scan(ctx, &pb.ScanRequest{Prefix: r.Prefix, Start: r.Start, End: r.End,
				Limit: limit, Cursor: cursor, Consistency: cons})
			return true, err
		}})
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			kv := KeyValue{Key: it.Key, Value: it.Value, Version: it.Version}
			if it.DeadlineUnixNanos != 0 {
				kv.Deadline = time.Unix(0, it.DeadlineUnixNanos)
			}
			if err := fn(kv); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}
