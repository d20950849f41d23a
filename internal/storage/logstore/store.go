package logstore

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configure a Store. The zero value is the default.
type Options struct {
	// FS is the file system; default vfs.Default. Tests pass
	// vfs.NewCrashableMem to cut power.
	FS vfs.FS
	// SegmentSize is the size at which the log moves to a new segment;
	// default 64 MiB, etcd's: large enough that rotation (two fsyncs) is
	// rare, small enough that a dropped segment frees space soon. A Write
	// larger than it gets a segment of its own.
	SegmentSize int64
	// CompactAfter is the number of segments beyond which the oldest one
	// is compacted (its live records rewritten at the head, compact.go)
	// when at most a quarter of it is live; default 4.
	CompactAfter int
	// ForceCompactAfter is the number of segments beyond which the oldest
	// one is compacted however much of it is live, as long as at least
	// half of the whole log is dead: it bounds the log at twice what the
	// groups need when one group keeps a long log; default 64.
	ForceCompactAfter int
}

func (o *Options) fill() error {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = 64 << 20
	}
	if o.CompactAfter == 0 {
		o.CompactAfter = 4
	}
	if o.ForceCompactAfter == 0 {
		o.ForceCompactAfter = 64
	}
	switch {
	case o.SegmentSize < segHeaderLen+frameHeaderLen || o.SegmentSize > 1<<30:
		return fmt.Errorf("logstore: SegmentSize %d: want between %d and 1 GiB", o.SegmentSize, segHeaderLen+frameHeaderLen)
	case o.CompactAfter < 1:
		return fmt.Errorf("logstore: CompactAfter %d: want at least 1", o.CompactAfter)
	case o.ForceCompactAfter < o.CompactAfter:
		return fmt.Errorf("logstore: ForceCompactAfter %d below CompactAfter %d", o.ForceCompactAfter, o.CompactAfter)
	}
	return nil
}

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("logstore: closed")

// ErrCompacted is returned (wrapped) by Entries for a range starting at or
// below the group's truncated point.
var ErrCompacted = errors.New("logstore: entries compacted")

// Store is one node's log: every group's entries, truncated point, hard
// state and tombstone, in one segmented append-only log. Reads may run
// concurrently with each other and with one writer; Write, Sync and Close
// are serialized.
type Store struct {
	opts Options
	dir  string
	fs   vfs.FS

	// writeMu serializes writers; held across a Write's fsync.
	writeMu sync.Mutex
	// Guarded by writeMu:
	err     error // sticky: after a failed write or sync the log is unusable
	closed  bool
	scratch struct {
		ops  []op
		ents []entPos
	}
	relocating *Batch
	lock       io.Closer

	// mu guards the index and the segment list: readers hold it shared,
	// a writer exclusively while it applies and writes a frame.
	mu struct {
		sync.RWMutex
		x    index
		segs segments

		dropped, compacted int // segments, since Open
	}
}

// Entry is one entry read back: its index and payload.
type Entry struct {
	Index uint64
	Data  []byte
}

// Write writes b as one frame and, with sync, returns once it and
// everything written before it are durable. The batch applies whole or
// (after a crash before it is durable) not at all. Reads see it as soon as
// Write returns, durable or not. Write resets b. An error other than one
// from b's own staging is fatal: the store refuses every later write
// (fail-stop, as a failed fsync leaves the file's state unknown).
func (s *Store) Write(b *Batch, sync bool) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	defer b.Reset()
	if err := s.usableLocked(); err != nil {
		return err
	}
	if b.err != nil {
		return b.err
	}
	if !b.Empty() {
		// A batch this store cannot take fails alone; a failed write
		// fails the store.
		if err := s.decodeLocked(b.buf); err != nil {
			return err
		}
		if err := s.writeFrameLocked(b.buf); err != nil {
			s.err = err
			return err
		}
	}
	if sync {
		return s.syncLocked()
	}
	return nil
}

// Sync makes everything written so far durable, then drops the segments
// no group needs and compacts the oldest one if the log has grown past
// CompactAfter segments.
func (s *Store) Sync() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	return s.syncLocked()
}

func (s *Store) usableLocked() error {
	if s.closed {
		return ErrClosed
	}
	return s.err
}

// decodeLocked checks frame (header space and body) and decodes its body
// into s.scratch for writeFrameLocked.
func (s *Store) decodeLocked(frame []byte) error {
	body := frame[frameHeaderLen:]
	if len(body) > maxBody {
		return fmt.Errorf("logstore: a write of %d bytes, over the limit of %d", len(body), maxBody)
	}
	var err error
	s.scratch.ops, s.scratch.ents, err = decodeBody(body, s.scratch.ops, s.scratch.ents)
	if err != nil {
		return fmt.Errorf("logstore: a batch that does not decode: %w", err) // a bug in Batch
	}
	return nil
}

// writeFrameLocked writes frame, decoded by decodeLocked, to the active
// segment, rotating first if it would outgrow SegmentSize, and applies it
// to the index. NB: the index is updated before the bytes are written,
// under mu held exclusively across both, because vfs.File.Write may
// scribble on the buffer it is given (pebble's MemFS does under -race).
func (s *Store) writeFrameLocked(frame []byte) error {
	body := frame[frameHeaderLen:]
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mu.segs.active()
	if a.size > segHeaderLen && a.size+int64(len(frame)) > s.opts.SegmentSize {
		if err := s.rotateLocked(); err != nil {
			return err
		}
		a = s.mu.segs.active()
	}
	sealFrame(a.id, frame, uint32(a.synced))
	s.mu.x.apply(a.id, uint32(a.size+frameHeaderLen), body, s.scratch.ops, s.scratch.ents)
	if _, err := a.f.Write(frame); err != nil {
		return fmt.Errorf("logstore: write %s: %w", segName(a.id), err)
	}
	a.size += int64(len(frame))
	return nil
}

// syncLocked fsyncs the active segment and then, everything written being
// durable, drops and compacts segments.
func (s *Store) syncLocked() error {
	a := s.activeShared()
	if a.synced < a.size {
		if err := a.f.SyncData(); err != nil {
			s.err = fmt.Errorf("logstore: sync %s: %w", segName(a.id), err)
			return s.err
		}
		a.synced = a.size // a is only written under writeMu, which we hold
	}
	if err := s.maintainLocked(); err != nil {
		s.err = err
		return err
	}
	return nil
}

func (s *Store) activeShared() *segment {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.segs.active()
}

// Close syncs and closes the store.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var err error
	if s.err == nil {
		err = s.syncLocked()
	}
	s.closed = true
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sg := range s.mu.segs.list {
		if cerr := sg.f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if cerr := s.lock.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// FirstIndex is the index after group g's truncated point: the first
// entry the log can hold (Paxos may have a hole there).
func (s *Store) FirstIndex(g uint64) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if gs := s.mu.x.groups[g]; gs != nil {
		return gs.truncated.Index + 1
	}
	return 1
}

// LastIndex is the index of group g's last entry, or its truncated point's
// when it has none.
func (s *Store) LastIndex(g uint64) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if gs := s.mu.x.groups[g]; gs != nil {
		return gs.lastIndex()
	}
	return 0
}

// Truncated is group g's truncated point (zero if it never truncated).
func (s *Store) Truncated(g uint64) storage.LogPoint {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if gs := s.mu.x.groups[g]; gs != nil {
		return gs.truncated
	}
	return storage.LogPoint{}
}

// HardState returns a copy of group g's hard state, or false if it has
// none.
func (s *Store) HardState(g uint64) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if gs := s.mu.x.groups[g]; gs != nil && gs.hardState != nil {
		return append([]byte(nil), gs.hardState...), true
	}
	return nil, false
}

// Tombstone is the highest replica ID of group g destroyed on this node,
// or 0.
func (s *Store) Tombstone(g uint64) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if gs := s.mu.x.groups[g]; gs != nil {
		return gs.tombstone
	}
	return 0
}

// Groups lists the groups the log holds any state for, in no order.
func (s *Store) Groups() []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]uint64, 0, len(s.mu.x.groups))
	for g := range s.mu.x.groups {
		out = append(out, g)
	}
	return out
}

// Entries appends to dst the entries of group g with indexes in [lo, hi),
// in index order, skipping holes, and stops once their payloads pass
// maxBytes (the first entry is returned whatever its size). Payloads share
// one new buffer; entries adjacent in a segment are read with one read. A
// range starting at or below the truncated point gives an error wrapping
// ErrCompacted.
func (s *Store) Entries(g, lo, hi, maxBytes uint64, dst []Entry) ([]Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	gs := s.mu.x.groups[g]
	if gs == nil || lo >= hi {
		return dst, nil
	}
	if lo <= gs.truncated.Index {
		return dst, fmt.Errorf("%w: group %d: entries from %d, truncated through %d", ErrCompacted, g, lo, gs.truncated.Index)
	}
	k := gs.search(lo)
	end, total := k, uint64(0)
	for end < len(gs.entries) && gs.entries[end].index < hi {
		l := uint64(gs.entries[end].len)
		if end > k && total+l > maxBytes {
			break
		}
		total += l
		end++
	}
	locs := gs.entries[k:end]
	if len(locs) == 0 {
		return dst, nil
	}
	// One buffer for all payloads and what lies between adjacent ones.
	size := 0
	for i := 0; i < len(locs); {
		j := runEnd(locs, i)
		size += int(locs[j-1].off + locs[j-1].len - locs[i].off)
		i = j
	}
	buf := make([]byte, size)
	for i := 0; i < len(locs); {
		j := runEnd(locs, i)
		first, last := locs[i], locs[j-1]
		span := buf[:last.off+last.len-first.off]
		buf = buf[len(span):]
		sg := s.mu.segs.get(first.seg)
		if err := readAt(sg.f, span, int64(first.off)); err != nil {
			return dst, fmt.Errorf("logstore: group %d: read entries %d-%d from %s at %d: %w", g, first.index, last.index, segName(sg.id), first.off, err)
		}
		for _, l := range locs[i:j] {
			at := l.off - first.off
			dst = append(dst, Entry{Index: l.index, Data: span[at : at+l.len : at+l.len]})
		}
		i = j
	}
	return dst, nil
}

// maxGap is the most bytes between two payloads that one read spans: an
// Append's 4-byte length prefix, or a few bytes of operation header.
const maxGap = 32

// runEnd is the end of the run of locs starting at i that one read covers.
func runEnd(locs []loc, i int) int {
	j := i + 1
	for j < len(locs) && locs[j].seg == locs[i].seg && locs[j].off >= locs[j-1].off+locs[j-1].len && locs[j].off-(locs[j-1].off+locs[j-1].len) <= maxGap {
		j++
	}
	return j
}

// Stats describes the log's segments.
type Stats struct {
	Segments  int   // segment files
	Bytes     int64 // their total size
	LiveBytes int64 // what the index still refers to, approximately
	// Dropped and Compacted count the segments removed since Open, and
	// those of them whose live records were first rewritten at the head.
	Dropped, Compacted int
	// Pinning is the groups holding records in the oldest segment, which
	// keeps it (and every later one) until they truncate or it is compacted.
	Pinning []uint64
}

// Stats reports the segments' sizes and the groups pinning the oldest.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Segments: len(s.mu.segs.list), Dropped: s.mu.dropped, Compacted: s.mu.compacted}
	for _, sg := range s.mu.segs.list {
		st.Bytes += sg.size
		st.LiveBytes += sg.live
	}
	oldest := s.mu.segs.list[0].id
	for g, gs := range s.mu.x.groups {
		if groupUses(gs, oldest) {
			st.Pinning = append(st.Pinning, g)
		}
	}
	return st
}

func groupUses(gs *group, seg uint64) bool {
	if gs.truncSeg == seg || gs.hsSeg == seg || gs.tombSeg == seg {
		return true
	}
	for _, l := range gs.entries {
		if l.seg == seg {
			return true
		}
	}
	return false
}

// readAt fills p from f at off; reaching the end of the file exactly is
// not an error (io.ReaderAt may say io.EOF then).
func readAt(f vfs.File, p []byte, off int64) error {
	if len(p) == 0 {
		return nil
	}
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
