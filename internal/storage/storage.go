package storage

import "errors"

// ErrNotFound is returned by Get when a key is absent.
var ErrNotFound = errors.New("storage: not found")

// ErrClosed is returned by any call on a closed store, batch, snapshot or iterator.
var ErrClosed = errors.New("storage: closed")

// View reads a consistent state: a store, an indexed batch over a store (its
// own writes visible), or a snapshot.
type View interface {
	// Get returns a copy of the value stored at key, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// NewIter returns an iterator over [lower, upper) in key order; a nil
	// upper means no upper bound. The caller must Close it.
	NewIter(lower, upper []byte) (Iterator, error)
}

// Iterator walks keys in ascending order. Key and Value are valid only until
// the next positioning call; copy them to keep them.
type Iterator interface {
	First() bool
	SeekGE(key []byte) bool
	Next() bool
	Valid() bool
	Key() []byte
	Value() []byte
	// Error reports an error hit while iterating (Valid is then false).
	Error() error
	Close() error
}

// Batch is an indexed write batch: reads through it see the store with the
// batch's own writes applied on top, so a later entry of an apply round sees
// an earlier one's writes before anything is committed.
type Batch interface {
	View
	Set(key, value []byte) error
	Delete(key []byte) error
	// DeleteRange deletes every key in [start, end).
	DeleteRange(start, end []byte) error
	// Empty reports whether the batch holds no writes.
	Empty() bool
	// Len is the size of the batch's writes in bytes (an estimate).
	Len() int
	// Commit applies the batch atomically. With sync it returns only after
	// the batch and everything committed before it are durable.
	Commit(sync bool) error
	// CommitAsync applies the batch atomically (visible to reads when it
	// returns) and starts making it durable; wait returns once the batch
	// and everything committed before it are durable. A batch committed
	// after CommitAsync returns lands after this one in the log, so work
	// can overlap the fsync without reordering what a crash keeps. Close
	// the batch only after wait has returned.
	CommitAsync() (wait func() error, err error)
	// Close releases the batch; it must be called whether or not Commit was.
	Close() error
}

// Snapshot is a consistent, read-only point-in-time view of a store.
type Snapshot interface {
	View
	Close() error
}

// Store is one node's storage: every group's logs, hard states and
// replicated state in one keyspace (see keys.go for the layout).
type Store interface {
	View
	NewBatch() Batch
	NewSnapshot() Snapshot
	// Sync makes everything committed so far durable.
	Sync() error
	Close() error
}
