package storage

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// PebbleOptions configure OpenPebble. The zero value is a good default.
type PebbleOptions struct {
	// FS is the filesystem the store lives on. Default nil: the disk
	// (vfs.Default). Tests pass vfs.NewMem(), or vfs.NewCrashableMem() to
	// simulate a power loss with CrashClone (see OpenPebble).
	FS vfs.FS
	// CacheSize is the block cache size in bytes. Default 64 MiB: enough for
	// the index and filter blocks of a node's working set without crowding
	// out the OS page cache on a small machine.
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes. Default 64 MiB (as
	// CockroachDB): raft logs are written and soon deleted, and a large
	// memtable lets most of them die before they are ever flushed.
	MemTableSize uint64
	// Logger receives pebble's log lines. Default nil: pebble's default
	// logger (stderr).
	Logger pebble.Logger
}

const (
	defaultCacheSize    = 64 << 20
	defaultMemTableSize = 64 << 20
)

// Pebble is a Store on a pebble database.
//
// NB: pebble panics on any use of a closed DB, batch, snapshot or iterator.
// Pebble wraps every call so that use after Close returns ErrClosed instead:
// mu is held for reading by every operation and for writing by Close.
type Pebble struct {
	db *pebble.DB
	mu struct {
		sync.RWMutex
		closed bool
	}
}

var _ Store = (*Pebble)(nil)

// OpenPebble opens (creating if needed) the pebble database in dir.
//
// Crash testing: pebble v2's vfs.NewCrashableMem() returns a *vfs.MemFS
// whose CrashClone(vfs.CrashCloneCfg{}) returns a new *vfs.MemFS holding
// what a power loss at that moment leaves: everything synced, plus, if
// CrashCloneCfg.UnsyncedDataPercent > 0 (then RNG, a math/rand/v2 *rand.Rand,
// is required), a random part of what was not. The zero CrashCloneCfg keeps
// exactly the synced data. (NB: the doc comment of NewCrashableMem still
// shows an older field name, Probability; the field is UnsyncedDataPercent.)
// CrashClone panics on a FS made by vfs.NewMem. Take the clone while the
// store is open, Close the store (nothing it does after the clone reaches the
// clone), then OpenPebble on the clone with the same dir:
//
//	fs := vfs.NewCrashableMem()
//	s, _ := storage.OpenPebble("node1", storage.PebbleOptions{FS: fs})
//	... commit ...
//	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
//	s.Close()
//	s, _ = storage.OpenPebble("node1", storage.PebbleOptions{FS: crashed})
func OpenPebble(dir string, opts PebbleOptions) (*Pebble, error) {
	if opts.CacheSize == 0 {
		opts.CacheSize = defaultCacheSize
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = defaultMemTableSize
	}
	if opts.CacheSize < 0 {
		return nil, fmt.Errorf("storage: PebbleOptions.CacheSize %d is negative", opts.CacheSize)
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref() // the DB holds its own reference
	popts := &pebble.Options{
		FS:                 opts.FS,
		Cache:              cache,
		MemTableSize:       opts.MemTableSize,
		Logger:             opts.Logger,
		FormatMajorVersion: pebble.FormatNewest,
	}
	if popts.Logger != nil {
		popts.Logger = newQuietLogger(popts.Logger, time.Second)
	}
	// Opening replays the write-ahead log and flushes what it replayed,
	// which needs free space. Pebble retries a failed flush without end,
	// so with the disk full it would never return: the first ENOSPC of a
	// background write during the open ends it with ErrNoSpace instead.
	full := make(chan error, 1)
	popts.EventListener = &pebble.EventListener{BackgroundError: func(err error) {
		if errors.Is(err, syscall.ENOSPC) {
			select {
			case full <- err:
			default:
			}
		}
	}}
	type opened struct {
		db  *pebble.DB
		err error
	}
	done := make(chan opened, 1)
	go func() {
		db, err := pebble.Open(dir, popts)
		done <- opened{db, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return nil, fmt.Errorf("storage: open pebble in %q: %w", dir, o.err)
		}
		return &Pebble{db: o.db}, nil
	case err := <-full:
		// NB: the open goes on in the background, retrying; if space is
		// freed it finishes, and the store it opened is closed unused.
		// A node exits on this error, which ends it anyway.
		go func() {
			if o := <-done; o.err == nil {
				_ = o.db.Close()
			}
		}()
		return nil, fmt.Errorf("%w: opening %q replays its write-ahead log, which needs more free space than the disk has (%v); free some space and start again", ErrNoSpace, dir, err)
	}
}

// DB returns the pebble database, for the rare caller that needs pebble
// directly (ingestion, metrics, compaction). Don't use it after Close.
func (p *Pebble) DB() *pebble.DB { return p.db }

// rlock takes the read lock and reports ErrClosed; on nil the caller must
// RUnlock.
func (p *Pebble) rlock() error {
	p.mu.RLock()
	if p.mu.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// Get implements View.
func (p *Pebble) Get(key []byte) ([]byte, error) {
	if err := p.rlock(); err != nil {
		return nil, err
	}
	defer p.mu.RUnlock()
	return pebbleGet(p.db.Get(key))
}

func pebbleGet(v []byte, closer interface{ Close() error }, err error) ([]byte, error) {
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get: %w", err)
	}
	v = bytes.Clone(v)
	if v == nil {
		v = []byte{}
	}
	return v, closer.Close()
}

// NewIter implements View.
func (p *Pebble) NewIter(lower, upper []byte) (Iterator, error) {
	if err := p.rlock(); err != nil {
		return nil, err
	}
	defer p.mu.RUnlock()
	return newPebbleIter(p, p.db.NewIter, lower, upper)
}

// NewBatch implements Store. The batch is a pebble indexed batch.
func (p *Pebble) NewBatch() Batch {
	if err := p.rlock(); err != nil {
		return &pebbleBatch{p: p, closed: true}
	}
	defer p.mu.RUnlock()
	return &pebbleBatch{p: p, b: p.db.NewIndexedBatch()}
}

// NewSnapshot implements Store.
func (p *Pebble) NewSnapshot() Snapshot {
	if err := p.rlock(); err != nil {
		return &pebbleSnapshot{p: p, closed: true}
	}
	defer p.mu.RUnlock()
	return &pebbleSnapshot{p: p, s: p.db.NewSnapshot()}
}

// Sync implements Store.
//
// NB: pebble skips an empty batch entirely, even with pebble.Sync, so
// committing one syncs nothing. LogData writes a WAL-only record and, with
// pebble.Sync, returns once it and everything before it in the WAL is durable.
func (p *Pebble) Sync() error {
	if err := p.rlock(); err != nil {
		return err
	}
	defer p.mu.RUnlock()
	if err := p.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("storage: sync: %w", err)
	}
	return nil
}

// Close implements Store. Every batch, snapshot and iterator should be
// closed first; pebble reports leaked iterators and snapshots as an error.
func (p *Pebble) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return ErrClosed
	}
	p.mu.closed = true
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("storage: close pebble: %w", err)
	}
	return nil
}

type pebbleSnapshot struct {
	p      *Pebble
	s      *pebble.Snapshot
	closed bool
}

func (s *pebbleSnapshot) Get(key []byte) ([]byte, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if err := s.p.rlock(); err != nil {
		return nil, err
	}
	defer s.p.mu.RUnlock()
	return pebbleGet(s.s.Get(key))
}

func (s *pebbleSnapshot) NewIter(lower, upper []byte) (Iterator, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if err := s.p.rlock(); err != nil {
		return nil, err
	}
	defer s.p.mu.RUnlock()
	return newPebbleIter(s.p, s.s.NewIter, lower, upper)
}

func (s *pebbleSnapshot) Close() error {
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	if err := s.p.rlock(); err != nil {
		return nil // the DB is gone, and the snapshot with it
	}
	defer s.p.mu.RUnlock()
	return s.s.Close()
}

type pebbleBatch struct {
	p         *Pebble
	b         *pebble.Batch
	committed bool
	closed    bool
}

func (b *pebbleBatch) checkWrite() error {
	switch {
	case b.closed:
		return ErrClosed
	case b.committed:
		return ErrCommitted
	}
	return nil
}

func (b *pebbleBatch) Get(key []byte) ([]byte, error) {
	if b.closed {
		return nil, ErrClosed
	}
	if err := b.p.rlock(); err != nil {
		return nil, err
	}
	defer b.p.mu.RUnlock()
	return pebbleGet(b.b.Get(key))
}

func (b *pebbleBatch) NewIter(lower, upper []byte) (Iterator, error) {
	if b.closed {
		return nil, ErrClosed
	}
	if err := b.p.rlock(); err != nil {
		return nil, err
	}
	defer b.p.mu.RUnlock()
	return newPebbleIter(b.p, b.b.NewIter, lower, upper)
}

func (b *pebbleBatch) Set(key, value []byte) error {
	if err := b.checkWrite(); err != nil {
		return err
	}
	return b.b.Set(key, value, nil)
}

func (b *pebbleBatch) Delete(key []byte) error {
	if err := b.checkWrite(); err != nil {
		return err
	}
	return b.b.Delete(key, nil)
}

func (b *pebbleBatch) DeleteRange(start, end []byte) error {
	if err := b.checkWrite(); err != nil {
		return err
	}
	if bytes.Compare(start, end) >= 0 {
		return nil // empty; pebble's fragmenter would reject start > end later
	}
	return b.b.DeleteRange(start, end, nil)
}

func (b *pebbleBatch) Empty() bool { return b.b == nil || b.b.Empty() }

func (b *pebbleBatch) Len() int {
	if b.b == nil {
		return 0
	}
	return b.b.Len()
}

func (b *pebbleBatch) Commit(sync bool) error {
	if err := b.checkWrite(); err != nil {
		return err
	}
	if err := b.p.rlock(); err != nil {
		return err
	}
	defer b.p.mu.RUnlock()
	b.committed = true
	var err error
	switch {
	case !b.b.Empty():
		opts := pebble.NoSync
		if sync {
			opts = pebble.Sync
		}
		err = b.b.Commit(opts)
	case sync:
		// NB: pebble skips an empty batch, sync or not; see Sync.
		err = b.p.db.LogData(nil, pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	return nil
}

// CommitAsync implements Batch with pebble's ApplyNoSyncWait: the batch is
// in the WAL and the memtable when it returns; wait is its SyncWait.
func (b *pebbleBatch) CommitAsync() (func() error, error) {
	if err := b.checkWrite(); err != nil {
		return nil, err
	}
	if b.b.Empty() {
		b.committed = true
		return b.p.Sync, nil // pebble skips an empty batch; see Sync
	}
	if err := b.p.rlock(); err != nil {
		return nil, err
	}
	defer b.p.mu.RUnlock()
	b.committed = true
	if err := b.p.db.ApplyNoSyncWait(b.b, pebble.Sync); err != nil {
		return nil, fmt.Errorf("storage: commit: %w", err)
	}
	return func() error {
		if err := b.b.SyncWait(); err != nil {
			return fmt.Errorf("storage: commit: %w", err)
		}
		return nil
	}, nil
}

func (b *pebbleBatch) Close() error {
	if b.closed {
		return ErrClosed
	}
	b.closed = true
	if b.b == nil {
		return nil
	}
	return b.b.Close()
}

type pebbleIter struct {
	p      *Pebble
	it     *pebble.Iterator
	closed bool
}

func newPebbleIter(p *Pebble, newIter func(*pebble.IterOptions) (*pebble.Iterator, error), lower, upper []byte) (Iterator, error) {
	it, err := newIter(&pebble.IterOptions{LowerBound: bytes.Clone(lower), UpperBound: bytes.Clone(upper)})
	if err != nil {
		return nil, fmt.Errorf("storage: new iterator: %w", err)
	}
	return &pebbleIter{p: p, it: it}, nil
}

func (i *pebbleIter) First() bool {
	if i.closed {
		return false
	}
	return i.it.First()
}

func (i *pebbleIter) SeekGE(key []byte) bool {
	if i.closed {
		return false
	}
	return i.it.SeekGE(key)
}

func (i *pebbleIter) Next() bool {
	if i.closed {
		return false
	}
	return i.it.Next()
}

func (i *pebbleIter) Valid() bool { return !i.closed && i.it.Valid() }

func (i *pebbleIter) Key() []byte {
	if !i.Valid() {
		return nil
	}
	return i.it.Key()
}

func (i *pebbleIter) Value() []byte {
	if !i.Valid() {
		return nil
	}
	return i.it.Value()
}

func (i *pebbleIter) Error() error {
	if i.closed {
		return ErrClosed
	}
	return i.it.Error()
}

func (i *pebbleIter) Close() error {
	if i.closed {
		return ErrClosed
	}
	i.closed = true
	return i.it.Close()
}
