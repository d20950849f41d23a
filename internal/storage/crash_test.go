package storage

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestPebbleCrashClone: with vfs.NewCrashableMem and a zero
// vfs.CrashCloneCfg, a power loss keeps exactly the synced writes.
func TestPebbleCrashClone(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := OpenPebble("db", PebbleOptions{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, true, func(b Batch) { mustSet(t, b, "a", "synced") })
	commit(t, s, false, func(b Batch) { mustSet(t, b, "b", "unsynced") })
	crashed := fs.CrashClone(vfs.CrashCloneCfg{}) // UnsyncedDataPercent 0: only synced data
	commit(t, s, true, func(b Batch) { mustSet(t, b, "c", "after the crash") })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenPebble("db", PebbleOptions{FS: crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wantGet(t, r, "a", "synced")
	wantGet(t, r, "b", "") // lost: with UnsyncedDataPercent 0 nothing unsynced survives
	wantGet(t, r, "c", "")
}

// TestPebbleSyncEmpty: Sync and an empty batch committed with sync make
// earlier unsynced commits durable (pebble itself skips empty batches).
func TestPebbleSyncEmpty(t *testing.T) {
	for _, viaBatch := range []bool{false, true} {
		fs := vfs.NewCrashableMem()
		s, err := OpenPebble("db", PebbleOptions{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		commit(t, s, false, func(b Batch) { mustSet(t, b, "a", "1") })
		if viaBatch {
			commit(t, s, true, func(Batch) {})
		} else if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := OpenPebble("db", PebbleOptions{FS: crashed})
		if err != nil {
			t.Fatal(err)
		}
		wantGet(t, r, "a", "1")
		r.Close()
	}
}

func TestMemCrash(t *testing.T) {
	m := NewMem()
	commit(t, m, true, func(b Batch) { mustSet(t, b, "a", "synced") })
	commit(t, m, false, func(b Batch) { mustSet(t, b, "b", "unsynced") })
	commit(t, m, false, func(b Batch) {
		if err := b.Delete([]byte("a")); err != nil {
			t.Fatal(err)
		}
	})
	wantGet(t, m, "b", "unsynced") // visible before it is durable
	c := m.Crash()
	wantGet(t, c, "a", "synced")
	wantGet(t, c, "b", "")

	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	c = m.Crash()
	wantGet(t, c, "a", "")
	wantGet(t, c, "b", "unsynced")

	// A synced commit makes earlier unsynced ones durable: one WAL.
	commit(t, m, false, func(b Batch) { mustSet(t, b, "x", "1") })
	commit(t, m, true, func(b Batch) { mustSet(t, b, "y", "2") })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	c = m.Crash() // works on a closed store too
	wantGet(t, c, "x", "1")
	wantGet(t, c, "y", "2")
	// The crashed store is independent of the original.
	commit(t, c, false, func(b Batch) { mustSet(t, b, "z", "3") })
	wantGet(t, c.Crash(), "z", "")
	c.Close()
}
