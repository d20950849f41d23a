package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/storage"
)

// QueryKind is what a Query reads.
type QueryKind uint8

const (
	// QueryGet reads Keys: one Response each, CodeOK with the value,
	// version and deadline, or CodeNotFound.
	QueryGet QueryKind = iota + 1
	// QueryScan reads one page of the keys in [Start, End) in order: Items,
	// and Next when the page stopped before the end of the range.
	QueryScan
	// QueryCount reads the group's key count from the stats (no scan): one
	// Response whose Int is the count (Redis DBSIZE).
	QueryCount
	// QueryCountExpiring counts the group's keys that have a deadline: one
	// Response whose Int is the count (INFO keyspace's expires). NB: it
	// walks the expiry index (no count of it is kept in the replicated
	// stats), so it costs one step per such key; INFO is not a hot path.
	QueryCountExpiring
	queryKindLimit
)

func (k QueryKind) String() string {
	switch k {
	case QueryGet:
		return "GET"
	case QueryScan:
		return "SCAN"
	case QueryCount:
		return "COUNT"
	case QueryCountExpiring:
		return "COUNT-EXPIRING"
	}
	return fmt.Sprintf("QueryKind(%d)", uint8(k))
}

// Limits of a Query; a decoded query beyond them is malformed.
const (
	// MaxQueryKeys bounds a get's keys (RESP MGET of many keys, split per
	// partition, stays far below it).
	MaxQueryKeys = 1 << 16
	// MaxScanLimit bounds the keys one scan page examines.
	MaxScanLimit = 1 << 20
)

// Query is a read of a group's replicated state, evaluated against a view
// by Eval, here or on the node that holds a replica (it has an encoding, so
// a gateway sends the query and gets the Reply back, never the view). Byte
// fields of a decoded Query alias the encoded input.
type Query struct {
	Kind QueryKind
	// Keys are a get's keys.
	Keys [][]byte
	// Start and End bound a scan: keys k with Start <= k < End; a nil End
	// means no upper bound.
	Start, End []byte
	// Limit is how many keys a scan page examines at most (1 to
	// MaxScanLimit). Keys that Match rejects count: Redis's SCAN COUNT.
	Limit int
	// MaxBytes, if positive, bounds the keys and values of a scan page's
	// items: the page stops before the item that would cross it, except
	// that its first item is always returned.
	MaxBytes int
	// Match, if not nil, is a Redis glob pattern (Match): a scan page
	// returns only the keys it matches.
	Match []byte
	// KeysOnly: a scan page's items carry no values (RESP SCAN, KEYS).
	KeysOnly bool
}

// GetQuery reads keys.
func GetQuery(keys ...[]byte) Query { return Query{Kind: QueryGet, Keys: keys} }

// ScanQuery reads a page of at most limit keys of [start, end).
func ScanQuery(start, end []byte, limit int) Query {
	return Query{Kind: QueryScan, Start: start, End: end, Limit: limit}
}

// CountQuery reads the group's key count.
func CountQuery() Query { return Query{Kind: QueryCount} }

// CountExpiringQuery counts the group's keys that have a deadline.
func CountExpiringQuery() Query { return Query{Kind: QueryCountExpiring} }

// queryVersion is the first byte of every encoded Query.
const queryVersion = 1

const (
	queryHasEnd = 1 << iota
	queryHasMatch
	queryKeysOnly
)

// AppendEncode appends q's encoding to dst:
//
//	query = 0x01 kind:u8 flags:u8 body
//	get   = n:uvarint key:bytes*n
//	scan  = start:bytes [end:bytes] limit:uvarint maxbytes:uvarint [match:bytes]
//	count = (nothing)              (count-expiring too)
//
// flags has a bit for end present, match present and keys only.
func (q *Query) AppendEncode(dst []byte) []byte {
	var f byte
	if q.End != nil {
		f |= queryHasEnd
	}
	if q.Match != nil {
		f |= queryHasMatch
	}
	if q.KeysOnly {
		f |= queryKeysOnly
	}
	dst = append(dst, queryVersion, byte(q.Kind), f)
	switch q.Kind {
	case QueryGet:
		dst = binary.AppendUvarint(dst, uint64(len(q.Keys)))
		for _, k := range q.Keys {
			dst = appendBytes(dst, k)
		}
	case QueryScan:
		dst = appendBytes(dst, q.Start)
		if q.End != nil {
			dst = appendBytes(dst, q.End)
		}
		dst = binary.AppendUvarint(dst, uint64(max(q.Limit, 0)))
		dst = binary.AppendUvarint(dst, uint64(max(q.MaxBytes, 0)))
		if q.Match != nil {
			dst = appendBytes(dst, q.Match)
		}
	}
	return dst
}

// DecodeQuery decodes b and checks the query (Check). Byte fields of the
// result alias b. It never panics and allocates only for the keys of a get,
// at most one slice header per two bytes of input.
func DecodeQuery(b []byte) (Query, error) {
	var q Query
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != queryVersion {
		r.fail(errVersion)
	}
	q.Kind = QueryKind(r.byte())
	f := r.byte()
	if r.err == nil && f&^(queryHasEnd|queryHasMatch|queryKeysOnly) != 0 {
		r.fail(errors.New("unknown query flags"))
	}
	q.KeysOnly = f&queryKeysOnly != 0
	switch q.Kind {
	case QueryGet:
		n := r.count(1)
		if r.err == nil && n > 0 {
			q.Keys = make([][]byte, n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			q.Keys[i] = r.bytes()
		}
	case QueryScan:
		q.Start = r.bytes()
		if f&queryHasEnd != 0 {
			q.End = r.bytes()
		}
		q.Limit = int(min(r.uvarint(), MaxScanLimit+1))
		q.MaxBytes = int(min(r.uvarint(), 1<<40))
		if f&queryHasMatch != 0 {
			q.Match = r.bytes()
		}
	}
	if err := r.done(); err != nil {
		return Query{}, fmt.Errorf("%w: query: %v", ErrMalformed, err)
	}
	if err := q.Check(); err != nil {
		return Query{}, err
	}
	return q, nil
}

// Check reports a query Eval refuses: an unknown kind, a get of no keys or
// of more than MaxQueryKeys, a scan limit out of 1..MaxScanLimit, or fields
// its kind does not take. The error wraps ErrMalformed.
func (q *Query) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %v query: %s", ErrMalformed, q.Kind, fmt.Sprintf(format, args...))
	}
	scanFields := q.Start != nil || q.End != nil || q.Limit != 0 || q.MaxBytes != 0 || q.Match != nil || q.KeysOnly
	switch q.Kind {
	case QueryGet:
		if len(q.Keys) == 0 || len(q.Keys) > MaxQueryKeys {
			return bad("%d keys, want 1 to %d", len(q.Keys), MaxQueryKeys)
		}
		if scanFields {
			return bad("scan fields set")
		}
	case QueryScan:
		if q.Limit < 1 || q.Limit > MaxScanLimit {
			return bad("limit %d, want 1 to %d", q.Limit, MaxScanLimit)
		}
		if q.MaxBytes < 0 {
			return bad("negative byte budget")
		}
		if q.Keys != nil {
			return bad("keys set")
		}
	case QueryCount, QueryCountExpiring:
		if q.Keys != nil || scanFields {
			return bad("fields set")
		}
	default:
		return fmt.Errorf("%w: unknown query kind %d", ErrMalformed, q.Kind)
	}
	return nil
}

// Eval evaluates q against group's replicated state in view. It reads no
// clock and depends only on the view, so every replica that applied the
// same entries answers the same Reply. The Reply's bytes are its own (none
// alias the view). An error wrapping ErrMalformed is q's fault (Check);
// any other is a storage failure or corrupt state.
func Eval(view storage.View, group uint64, q Query) (Reply, error) {
	applied, err := ReadApplied(view, group)
	if err != nil {
		return Reply{}, err
	}
	return EvalAt(view, group, q, applied.GroupTime)
}

// EvalAt is Eval with the group time given (Machine.GroupTime) instead of
// read from the view: one point lookup fewer per read, which a gets-only
// load's profile showed costing about as much as the get itself.
func EvalAt(view storage.View, group uint64, q Query, groupTime int64) (Reply, error) {
	if err := q.Check(); err != nil {
		return Reply{}, err
	}
	rep := Reply{Code: CodeOK, GroupTime: groupTime}
	switch q.Kind {
	case QueryGet:
		rep.Responses = make([]Response, len(q.Keys))
		for i, k := range q.Keys {
			raw, err := view.Get(storage.DataKey(group, k))
			if errors.Is(err, storage.ErrNotFound) {
				rep.Responses[i] = Response{Code: CodeNotFound}
				continue
			}
			if err != nil {
				return Reply{}, err
			}
			rec, err := decodeRecord(raw)
			if err != nil {
				return Reply{}, err
			}
			// NB: no copy: View.Get returns one, which the record aliases.
			rep.Responses[i] = Response{Code: CodeOK, Value: rec.Value, HasValue: true,
				Version: rec.Version, Deadline: rec.Deadline}
		}
	case QueryCount:
		n, err := Count(view, group)
		if err != nil {
			return Reply{}, err
		}
		rep.Responses = []Response{{Code: CodeOK, Int: int64(n)}}
	case QueryCountExpiring:
		n, err := CountExpiring(view, group)
		if err != nil {
			return Reply{}, err
		}
		rep.Responses = []Response{{Code: CodeOK, Int: int64(n)}}
	case QueryScan:
		if err := scanPage(view, group, &q, &rep); err != nil {
			return Reply{}, err
		}
	}
	return rep, nil
}

// scanPage fills rep.Items and rep.Next for a scan query.
func scanPage(view storage.View, group uint64, q *Query, rep *Reply) error {
	if q.End != nil && bytes.Compare(q.Start, q.End) >= 0 {
		return nil
	}
	lower := storage.DataKey(group, q.Start)
	var upper []byte
	if q.End != nil {
		upper = storage.DataKey(group, q.End)
	} else {
		_, upper = storage.DataSpan(group)
	}
	prefix := len(storage.DataPrefix(group))
	it, err := view.NewIter(lower, upper)
	if err != nil {
		return err
	}
	defer it.Close()
	examined, size := 0, 0
	for ok := it.First(); ok; ok = it.Next() {
		key := it.Key()[prefix:]
		if examined == q.Limit {
			rep.Next = bytes.Clone(key)
			return nil
		}
		if q.Match != nil && !Match(q.Match, key) {
			examined++
			rep.Examined = examined
			continue
		}
		rec, err := decodeRecord(it.Value())
		if err != nil {
			return err
		}
		item := Item{Key: bytes.Clone(key), Version: rec.Version, Deadline: rec.Deadline}
		if !q.KeysOnly {
			item.Value = bytes.Clone(rec.Value)
		}
		sz := len(item.Key) + len(item.Value)
		if q.MaxBytes > 0 && len(rep.Items) > 0 && size+sz > q.MaxBytes {
			rep.Next = item.Key
			return nil
		}
		examined++
		rep.Examined = examined
		size += sz
		rep.Items = append(rep.Items, item)
	}
	return it.Error()
}
