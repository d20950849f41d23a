package storage

import (
	"testing"
	"time"

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

// TestCommitAsync: a batch committed with CommitAsync is visible at once,
// and after its wait a power loss keeps it and everything before it, on
// both stores; an empty batch's wait syncs what came before it.
func TestCommitAsync(t *testing.T) {
	for _, empty := range []bool{false, true} {
		fs := vfs.NewCrashableMem()
		p, err := OpenPebble("db", PebbleOptions{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		m := NewMem()
		for _, s := range []Store{p, m} {
			commit(t, s, false, func(b Batch) { mustSet(t, b, "a", "before") })
			b := s.NewBatch()
			if !empty {
				mustSet(t, b, "b", "async")
			}
			wait, err := b.CommitAsync()
			if err != nil {
				t.Fatal(err)
			}
			if !empty {
				wantGet(t, s, "b", "async")
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.CommitAsync(); err == nil {
				t.Fatal("CommitAsync on a closed batch succeeded")
			}
		}
		crashedMem := m.Crash()
		crashedFS := fs.CrashClone(vfs.CrashCloneCfg{})
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := OpenPebble("db", PebbleOptions{FS: crashedFS})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []Store{r, crashedMem} {
			wantGet(t, s, "a", "before")
			if !empty {
				wantGet(t, s, "b", "async")
			}
		}
		r.Close()
	}
}

// TestMemCommitAsyncPrefix: the wait of an async commit makes durable the
// prefix that ends with it, not a later unsynced commit.
func TestMemCommitAsyncPrefix(t *testing.T) {
	m := NewMem()
	b := m.NewBatch()
	mustSet(t, b, "a", "async")
	wait, err := b.CommitAsync()
	if err != nil {
		t.Fatal(err)
	}
	commit(t, m, false, func(b Batch) { mustSet(t, b, "b", "later, unsynced") })
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	c := m.Crash()
	wantGet(t, c, "a", "async")
	wantGet(t, c, "b", "")
	// An older wait never takes back a newer sync.
	commit(t, m, true, func(b Batch) { mustSet(t, b, "c", "synced") })
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	wantGet(t, m.Crash(), "c", "synced")
}

// TestSlowSyncFS: with a sync delay, a synced commit takes at least that
// long; without, the store works as usual.
func TestSlowSyncFS(t *testing.T) {
	fs := NewSlowSyncFS(vfs.NewMem())
	s, err := OpenPebble("db", PebbleOptions{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	commit(t, s, true, func(b Batch) { mustSet(t, b, "a", "1") })
	fs.SetSyncDelay(100 * time.Millisecond)
	start := time.Now()
	commit(t, s, true, func(b Batch) { mustSet(t, b, "b", "2") })
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("a synced commit with a 100ms sync delay took %v", d)
	}
	fs.SetSyncDelay(0)
	wantGet(t, s, "b", "2")
}
