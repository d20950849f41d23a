package logstore

import "fmt"

// maintainLocked runs after a sync, everything written being durable:
// it drops the dead oldest segments, then, past CompactAfter segments,
// compacts the oldest one (at most one per call, to bound the pause).
func (s *Store) maintainLocked() error {
	if err := s.dropDeadLocked(); err != nil {
		return err
	}
	s.mu.RLock()
	n := len(s.mu.segs.list)
	oldest := s.mu.segs.list[0]
	var size, live int64
	for _, sg := range s.mu.segs.list {
		size += sg.size
		live += sg.live
	}
	s.mu.RUnlock()
	if n-1 <= s.opts.CompactAfter { // the active segment does not count
		return nil
	}
	mostlyDead := oldest.live*4 <= oldest.size
	// Forced, past ForceCompactAfter, only while at least half the log is
	// dead: a log that is mostly live would be copied round and round.
	forced := n-1 > s.opts.ForceCompactAfter && live*2 < size
	if !mostlyDead && !forced {
		return nil // its groups need it; Stats.Pinning names them
	}
	return s.compactLocked(oldest)
}

// compactLocked rewrites at the head of the log every record of old that
// the index still refers to, syncs, and drops old. Relocation is per
// record, not per group: an entry is rewritten as a Set of the same slot,
// a group's truncated point, hard state and tombstone as one opState
// record that sets them as they are. Replayed after the later records
// that the index does not refer to, this gives the same state, because no
// operation's effect depends on which entries a group holds, only on
// indexes, the truncated point and the tombstone, which opState restores.
func (s *Store) compactLocked(old *segment) error {
	if s.relocating == nil {
		s.relocating = NewBatch()
	}
	b := s.relocating
	b.Reset()
	s.mu.RLock()
	var buf []byte
	for g, gs := range s.mu.x.groups {
		if gs.truncSeg == old.id || gs.hsSeg == old.id || gs.tombSeg == old.id {
			b.setState(g, gs)
		}
		for _, l := range gs.entries {
			if l.seg != old.id {
				continue
			}
			if cap(buf) < int(l.len) {
				buf = make([]byte, l.len)
			}
			buf = buf[:l.len]
			if err := readAt(old.f, buf, int64(l.off)); err != nil {
				s.mu.RUnlock()
				return fmt.Errorf("logstore: compact %s: read group %d entry %d: %w", segName(old.id), g, l.index, err)
			}
			b.Set(g, l.index, buf)
		}
	}
	s.mu.RUnlock()
	if !b.Empty() {
		if err := s.decodeLocked(b.buf); err != nil {
			return err
		}
		if err := s.writeFrameLocked(b.buf); err != nil {
			return err
		}
		a := s.activeShared()
		if err := a.f.SyncData(); err != nil {
			return fmt.Errorf("logstore: sync %s: %w", segName(a.id), err)
		}
		a.synced = a.size
	}
	b.Reset()
	s.mu.Lock()
	s.mu.compacted++
	s.mu.Unlock()
	return s.dropDeadLocked()
}
