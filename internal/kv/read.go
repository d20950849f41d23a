package kv

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/cairnkv/cairn/internal/storage"
)

// Item is one key as a read sees it.
type Item struct {
	Key, Value []byte
	// Version is the index of the entry that last wrote the key's value or
	// deadline.
	Version uint64
	// Deadline is when the key expires, Unix nanoseconds by group time; 0:
	// never. Until the leader's EXPIRE-IF-DUE applies, a key past its
	// deadline still exists (existence is judged by the replicated state).
	Deadline int64
}

// Get reads key of group from view. found is false when it is absent.
func Get(view storage.View, group uint64, key []byte) (item Item, found bool, err error) {
	raw, err := view.Get(storage.DataKey(group, key))
	if errors.Is(err, storage.ErrNotFound) {
		return Item{}, false, nil
	}
	if err != nil {
		return Item{}, false, err
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return Item{}, false, err
	}
	return Item{Key: bytes.Clone(key), Value: rec.Value, Version: rec.Version, Deadline: rec.Deadline}, true, nil
}

// Scan reads the keys of group in [start, end) in order, at most limit of
// them (limit <= 0: no limit); a nil end means no upper bound. next is the
// key to resume from (as the next start) when the limit cut the scan short,
// nil when the range is exhausted. Use PrefixEnd for a prefix scan.
func Scan(view storage.View, group uint64, start, end []byte, limit int) (items []Item, next []byte, err error) {
	lower := storage.DataKey(group, start)
	var upper []byte
	if end != nil {
		upper = storage.DataKey(group, end)
	} else {
		_, upper = storage.DataSpan(group)
	}
	prefix := len(storage.DataPrefix(group))
	it, err := view.NewIter(lower, upper)
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		key := it.Key()[prefix:]
		if limit > 0 && len(items) == limit {
			return items, bytes.Clone(key), nil
		}
		rec, err := decodeRecord(it.Value())
		if err != nil {
			return nil, nil, err
		}
		items = append(items, Item{
			Key:      bytes.Clone(key),
			Value:    bytes.Clone(rec.Value),
			Version:  rec.Version,
			Deadline: rec.Deadline,
		})
	}
	if err := it.Error(); err != nil {
		return nil, nil, err
	}
	return items, nil, nil
}

// PrefixEnd returns the first key after every key that starts with prefix,
// nil if there is none (prefix is empty or all 0xff): Scan(v, g, p,
// PrefixEnd(p), n) lists the keys with prefix p.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Count returns the number of keys of group, from the stats (no scan).
func Count(view storage.View, group uint64) (uint64, error) {
	s, err := readStats(view, group)
	return s.Keys, err
}

// CountExpiring returns the number of keys of group that have a deadline,
// by walking the expiry index (one entry per such key).
func CountExpiring(view storage.View, group uint64) (uint64, error) {
	start, end := storage.ExpirySpan(group)
	it, err := view.NewIter(start, end)
	if err != nil {
		return 0, err
	}
	var n uint64
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, errors.Join(it.Error(), it.Close())
}

// ReadApplied returns the applied state of group (zero before the first
// entry): the last applied index and term, and the group time.
func ReadApplied(view storage.View, group uint64) (storage.AppliedState, error) {
	raw, err := view.Get(storage.AppliedKey(group))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.AppliedState{}, nil
	}
	if err != nil {
		return storage.AppliedState{}, err
	}
	s, err := storage.DecodeAppliedState(raw)
	if err != nil {
		return storage.AppliedState{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return s, nil
}

func readStats(view storage.View, group uint64) (stats, error) {
	raw, err := view.Get(storage.StatsKey(group))
	if errors.Is(err, storage.ErrNotFound) {
		return stats{}, nil
	}
	if err != nil {
		return stats{}, err
	}
	return decodeStats(raw)
}

// parseInt parses b as Redis's string2ll does: an optional '-', then digits
// without a leading zero (except "0" itself), no sign on zero, no spaces,
// within int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) == 0 || d[0] < '1' || d[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v *= 10
		if v > 1<<64-1-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true // -(1<<63) wraps to MinInt64, as wanted
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
