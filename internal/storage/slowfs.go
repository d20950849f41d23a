package storage

import (
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// SlowSyncFS wraps a pebble vfs.FS so that every sync of a file it creates
// or reopens for writing first waits SyncDelay: the slow-disk fault of
// cairn check (DESIGN.md, Testing). With no delay set it adds nothing but
// an atomic load per sync.
type SlowSyncFS struct {
	vfs.FS
	delay atomic.Int64 // nanoseconds
}

// NewSlowSyncFS wraps fs (vfs.Default when nil).
func NewSlowSyncFS(fs vfs.FS) *SlowSyncFS {
	if fs == nil {
		fs = vfs.Default
	}
	return &SlowSyncFS{FS: fs}
}

// SetSyncDelay sets how long each sync waits before it starts; 0 for none.
func (s *SlowSyncFS) SetSyncDelay(d time.Duration) { s.delay.Store(int64(max(d, 0))) }

// SyncDelay reports the current delay.
func (s *SlowSyncFS) SyncDelay() time.Duration { return time.Duration(s.delay.Load()) }

func (s *SlowSyncFS) wait() {
	if d := s.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
}

func (s *SlowSyncFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &slowSyncFile{File: f, fs: s}, nil
}

// Create implements vfs.FS.
func (s *SlowSyncFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return s.wrap(s.FS.Create(name, category))
}

// OpenReadWrite implements vfs.FS.
func (s *SlowSyncFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return s.wrap(s.FS.OpenReadWrite(name, category, opts...))
}

// ReuseForWrite implements vfs.FS (pebble recycles WAL files with it).
func (s *SlowSyncFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return s.wrap(s.FS.ReuseForWrite(oldname, newname, category))
}

type slowSyncFile struct {
	vfs.File
	fs *SlowSyncFS
}

func (f *slowSyncFile) Sync() error {
	f.fs.wait()
	return f.File.Sync()
}

func (f *slowSyncFile) SyncData() error {
	f.fs.wait()
	return f.File.SyncData()
}

func (f *slowSyncFile) SyncTo(length int64) (bool, error) {
	f.fs.wait()
	return f.File.SyncTo(length)
}
