package logstore

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// lockName is the lock file that keeps two processes out of one log.
const lockName = "LOCK"

// Open opens the log in dir, creating it if needed, and rebuilds the index
// by replaying every segment in order (doc.go, Recovery). It refuses a
// directory holding anything but this format's segments (*FormatError) and
// a log damaged before its last synced write (*CorruptError); it drops a
// torn tail after it. It then starts a new segment, so that nothing is
// ever appended after bytes that recovery skipped.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	s := &Store{opts: opts, dir: dir, fs: opts.FS}
	s.mu.x = index{groups: map[uint64]*group{}, segs: &s.mu.segs}
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("logstore: create %s: %w", dir, err)
	}
	// The directory's own entry must be durable too, or a power cut can
	// lose the whole log (it may have just been created).
	if err := syncDir(s.fs, s.fs.PathDir(dir)); err != nil {
		return nil, err
	}
	lock, err := s.fs.Lock(s.fs.PathJoin(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("logstore: lock %s (is another cairn using it?): %w", dir, err)
	}
	s.lock = lock
	if err := s.recover(); err != nil {
		for _, sg := range s.mu.segs.list {
			sg.f.Close()
		}
		lock.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) recover() error {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return fmt.Errorf("logstore: list %s: %w", s.dir, err)
	}
	slices.Sort(names)
	var ids []uint64
	for _, name := range names {
		if name == lockName {
			continue
		}
		id, ok := parseSegName(name)
		if !ok {
			return &FormatError{File: s.fs.PathJoin(s.dir, name), Found: "a file that is not a log segment"}
		}
		if n := len(ids); n > 0 && id != ids[n-1]+1 {
			return &CorruptError{File: s.fs.PathJoin(s.dir, segName(ids[n-1]+1)), Reason: fmt.Sprintf("missing: the log has segments %d and %d but none between", ids[n-1], id)}
		}
		ids = append(ids, id)
	}
	next := uint64(1)
	var data []byte
	for i, id := range ids {
		name := s.fs.PathJoin(s.dir, segName(id))
		last := i == len(ids)-1
		f, err := s.fs.Open(name)
		if err != nil {
			return fmt.Errorf("logstore: open %s: %w", name, err)
		}
		if data, err = readAll(f, data); err != nil {
			f.Close()
			return fmt.Errorf("logstore: read %s: %w", name, err)
		}
		if _, err := decodeSegHeader(name, id, data); err != nil {
			if !(last && errors.Is(err, errTornHeader)) {
				f.Close()
				if errors.Is(err, errTornHeader) {
					return &CorruptError{File: name, Reason: "zero or missing header in a segment followed by others"}
				}
				return err
			}
			// Created but never made durable: the crash came during a
			// rotation, before any frame went to it.
			f.Close()
			if err := s.fs.Remove(name); err != nil {
				return fmt.Errorf("logstore: remove torn %s: %w", name, err)
			}
			if err := s.syncDir(); err != nil {
				return err
			}
			next = id
			break
		}
		end := int64(len(data))
		if !last {
			// The next segment's header says where this one ends.
			hdr := make([]byte, segHeaderLen)
			nf, err := s.fs.Open(s.fs.PathJoin(s.dir, segName(id+1)))
			if err != nil {
				f.Close()
				return fmt.Errorf("logstore: open %s: %w", segName(id+1), err)
			}
			_, rerr := nf.ReadAt(hdr, 0)
			nf.Close()
			prevEnd, herr := decodeSegHeader(segName(id+1), id+1, hdr)
			switch {
			case rerr == nil && herr == nil:
				if prevEnd < segHeaderLen || prevEnd > uint64(len(data)) {
					f.Close()
					return &CorruptError{File: name, Offset: int64(len(data)), Reason: fmt.Sprintf("the next segment says this one ends at %d", prevEnd)}
				}
				end = int64(prevEnd)
			case i+1 == len(ids)-1 && (errors.Is(herr, errTornHeader) || errors.Is(rerr, io.EOF)):
				last = true // the next one is a torn header, removed below
			case errors.Is(herr, errTornHeader) || errors.Is(rerr, io.EOF):
				f.Close()
				return &CorruptError{File: s.fs.PathJoin(s.dir, segName(id+1)), Reason: "zero or missing header in a segment followed by others"}
			case rerr != nil:
				f.Close()
				return fmt.Errorf("logstore: read %s: %w", segName(id+1), rerr)
			default:
				f.Close()
				return herr
			}
		}
		sg := &segment{id: id, f: f}
		s.mu.segs.list = append(s.mu.segs.list, sg)
		validEnd, err := s.replay(name, sg, data[:end], last)
		if err != nil {
			return err
		}
		sg.size, sg.synced = validEnd, validEnd
		next = id + 1
		if last {
			// Make what replay kept durable before anything relies on it:
			// the next segment's header will say this one ends here.
			if err := f.Sync(); err != nil {
				return fmt.Errorf("logstore: sync %s: %w", name, err)
			}
		}
	}
	var prevEnd int64
	if n := len(s.mu.segs.list); n > 0 {
		prevEnd = s.mu.segs.list[n-1].size
	}
	a, err := s.createSegment(next, prevEnd)
	if err != nil {
		return err
	}
	s.mu.segs.list = append(s.mu.segs.list, a)
	return s.dropDeadLocked()
}

// replay applies the frames of segment sg, whose bytes are data, to the
// index and returns where its valid frames end. In a segment followed by
// others every byte up to the end must be valid. In the last one an
// invalid frame ends the log if it lies at or after the last synced
// offset that an earlier valid frame recorded and looks torn (tornAt);
// otherwise it is damage to synced data, and an error.
func (s *Store) replay(name string, sg *segment, data []byte, last bool) (int64, error) {
	off, synced := segHeaderLen, 0
	for off < len(data) {
		body, claim, end, reason := frameAt(sg.id, data, off)
		if reason != "" {
			switch {
			case !last:
				return 0, &CorruptError{File: name, Offset: int64(off), Reason: reason + " in a segment followed by others"}
			case off < synced:
				return 0, &CorruptError{File: name, Offset: int64(off), Reason: fmt.Sprintf("%s before the last synced offset %d", reason, synced)}
			case !tornAt(data, off):
				return 0, &CorruptError{File: name, Offset: int64(off), Reason: reason + " in a frame written whole (no sector of it is blank): damage, not a torn write"}
			}
			return int64(off), nil // a torn tail: never acknowledged as durable
		}
		if int(claim) > off {
			return 0, &CorruptError{File: name, Offset: int64(off), Reason: fmt.Sprintf("frame claims offset %d synced, past itself", claim)}
		}
		synced = max(synced, int(claim))
		var err error
		s.scratch.ops, s.scratch.ents, err = decodeBody(body, s.scratch.ops, s.scratch.ents)
		if err != nil {
			return 0, &CorruptError{File: name, Offset: int64(off), Reason: err.Error()}
		}
		s.mu.x.apply(sg.id, uint32(off+frameHeaderLen), body, s.scratch.ops, s.scratch.ents)
		off = end
	}
	return int64(off), nil
}

// readAll reads f whole into buf's memory.
func readAll(f vfs.File, buf []byte) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := int(st.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if n == 0 {
		return buf, nil
	}
	if _, err := f.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF)) {
		return nil, err
	}
	return buf, nil
}
