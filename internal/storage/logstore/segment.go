package logstore

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// segment is one file of the log.
type segment struct {
	id   uint64
	f    vfs.File
	size int64 // bytes written (the valid end, for an old segment)
	// synced is the offset up to which the segment is known durable.
	// Guarded by writeMu.
	synced int64
	refs   int   // index items (entries and state records) held here
	live   int64 // their bytes, approximately
}

// segments is the log's files, oldest first, with consecutive IDs: the
// last is the active one, written to.
type segments struct {
	list []*segment
}

func (ss *segments) active() *segment { return ss.list[len(ss.list)-1] }

func (ss *segments) get(id uint64) *segment {
	i := id - ss.list[0].id
	if id < ss.list[0].id || i >= uint64(len(ss.list)) {
		panic(fmt.Sprintf("logstore: segment %d referenced, the log holds %d to %d", id, ss.list[0].id, ss.active().id))
	}
	return ss.list[i]
}

// createSegment creates segment id, its header naming prevEnd, and makes
// it and its directory entry durable.
func (s *Store) createSegment(id uint64, prevEnd int64) (*segment, error) {
	name := s.fs.PathJoin(s.dir, segName(id))
	f, err := s.fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("logstore: create %s: %w", name, err)
	}
	if _, err := f.Write(encodeSegHeader(id, uint64(prevEnd))); err != nil {
		f.Close()
		return nil, fmt.Errorf("logstore: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("logstore: sync %s: %w", name, err)
	}
	if err := s.syncDir(); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{id: id, f: f, size: segHeaderLen, synced: segHeaderLen}, nil
}

func (s *Store) syncDir() error { return syncDir(s.fs, s.dir) }

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("logstore: open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("logstore: sync directory %s: %w", dir, err)
	}
	return nil
}

// rotateLocked makes the active segment durable whole and starts the next.
// Called with writeMu and mu held.
func (s *Store) rotateLocked() error {
	a := s.mu.segs.active()
	if a.synced < a.size {
		if err := a.f.SyncData(); err != nil {
			return fmt.Errorf("logstore: sync %s: %w", segName(a.id), err)
		}
		a.synced = a.size
	}
	n, err := s.createSegment(a.id+1, a.size)
	if err != nil {
		return err
	}
	s.mu.segs.list = append(s.mu.segs.list, n)
	return nil
}

// dropDeadLocked removes the oldest segments while no index item refers to
// them, oldest first, syncing the directory after each removal so that a
// crash never leaves a gap: replay of a log with an older segment but not
// a newer one could resurrect entries the newer one dropped. Called with
// writeMu held once everything written is durable.
func (s *Store) dropDeadLocked() error {
	for {
		s.mu.Lock()
		list := s.mu.segs.list
		if len(list) < 2 || list[0].refs != 0 {
			s.mu.Unlock()
			return nil
		}
		old := list[0]
		s.mu.segs.list = list[1:]
		s.mu.dropped++
		s.mu.Unlock()
		if err := old.f.Close(); err != nil {
			return fmt.Errorf("logstore: close %s: %w", segName(old.id), err)
		}
		if err := s.fs.Remove(s.fs.PathJoin(s.dir, segName(old.id))); err != nil {
			return fmt.Errorf("logstore: remove %s: %w", segName(old.id), err)
		}
		if err := s.syncDir(); err != nil {
			return err
		}
	}
}
