package kv

import (
	"bytes"
	"slices"
	"sort"

	"github.com/cairnkv/cairn/internal/storage"
)

// memStore is a tiny sorted-map store for tests: a map plus a sorted slice of
// its keys. memBatch is an indexed batch over it (reads see its own writes).
// Iterators copy their range when created, so writes never disturb them.
type memStore struct {
	m    map[string][]byte
	keys []string // sorted
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) Get(key []byte) ([]byte, error) {
	v, ok := s.m[string(key)]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// rangeKeys returns the sorted keys in [lower, upper) (nil upper: unbounded).
func (s *memStore) rangeKeys(lower, upper []byte) []string {
	i := sort.SearchStrings(s.keys, string(lower))
	j := len(s.keys)
	if upper != nil {
		j = sort.SearchStrings(s.keys, string(upper))
	}
	if j < i {
		j = i
	}
	return s.keys[i:j]
}

func (s *memStore) NewIter(lower, upper []byte) (storage.Iterator, error) {
	var it sliceIter
	for _, k := range s.rangeKeys(lower, upper) {
		it.kvs = append(it.kvs, kvPair{k, s.m[k]})
	}
	it.i = -1
	return &it, nil
}

func (s *memStore) set(k string, v []byte) {
	if _, ok := s.m[k]; !ok {
		i := sort.SearchStrings(s.keys, k)
		s.keys = slices.Insert(s.keys, i, k)
	}
	s.m[k] = v
}

func (s *memStore) del(k string) {
	if _, ok := s.m[k]; !ok {
		return
	}
	delete(s.m, k)
	i := sort.SearchStrings(s.keys, k)
	s.keys = slices.Delete(s.keys, i, i+1)
}

func (s *memStore) NewBatch() *memBatch {
	return &memBatch{s: s, over: map[string][]byte{}}
}

// memBatch's overlay maps a key to its new value, or to nil for a delete.
type memBatch struct {
	s    *memStore
	over map[string][]byte
	ops  int
}

var _ storage.Batch = (*memBatch)(nil)

func (b *memBatch) Get(key []byte) ([]byte, error) {
	if v, ok := b.over[string(key)]; ok {
		if v == nil {
			return nil, storage.ErrNotFound
		}
		return bytes.Clone(v), nil
	}
	return b.s.Get(key)
}

func (b *memBatch) NewIter(lower, upper []byte) (storage.Iterator, error) {
	var keys []string
	for _, k := range b.s.rangeKeys(lower, upper) {
		if _, ok := b.over[k]; !ok {
			keys = append(keys, k)
		}
	}
	for k, v := range b.over {
		if v != nil && k >= string(lower) && (upper == nil || k < string(upper)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	it := &sliceIter{i: -1}
	for _, k := range keys {
		v, ok := b.over[k]
		if !ok {
			v = b.s.m[k]
		}
		it.kvs = append(it.kvs, kvPair{k, v})
	}
	return it, nil
}

func (b *memBatch) Set(key, value []byte) error {
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	b.over[string(key)] = v
	b.ops++
	return nil
}

func (b *memBatch) Delete(key []byte) error {
	b.over[string(key)] = nil
	b.ops++
	return nil
}

func (b *memBatch) DeleteRange(start, end []byte) error {
	it, _ := b.NewIter(start, end)
	for ok := it.First(); ok; ok = it.Next() {
		b.over[string(it.Key())] = nil
	}
	b.ops++
	return nil
}

func (b *memBatch) Empty() bool { return b.ops == 0 }
func (b *memBatch) Len() int    { return b.ops }

func (b *memBatch) Commit(bool) error {
	keys := make([]string, 0, len(b.over))
	for k := range b.over {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v := b.over[k]; v == nil {
			b.s.del(k)
		} else {
			b.s.set(k, v)
		}
	}
	b.over = map[string][]byte{}
	return nil
}

func (b *memBatch) CommitAsync() (func() error, error) {
	return func() error { return nil }, b.Commit(false)
}

func (b *memBatch) Close() error { return nil }

type kvPair struct {
	k string
	v []byte
}

type sliceIter struct {
	kvs []kvPair
	i   int
}

func (it *sliceIter) First() bool { it.i = 0; return it.Valid() }
func (it *sliceIter) SeekGE(key []byte) bool {
	it.i = sort.Search(len(it.kvs), func(i int) bool { return it.kvs[i].k >= string(key) })
	return it.Valid()
}
func (it *sliceIter) Next() bool    { it.i++; return it.Valid() }
func (it *sliceIter) Valid() bool   { return it.i >= 0 && it.i < len(it.kvs) }
func (it *sliceIter) Key() []byte   { return []byte(it.kvs[it.i].k) }
func (it *sliceIter) Value() []byte { return it.kvs[it.i].v }
func (it *sliceIter) Error() error  { return nil }
func (it *sliceIter) Close() error  { return nil }
