package storage

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// storeImpls are the Store implementations every contract test runs on.
var storeImpls = []struct {
	name string
	open func(t testing.TB) Store
}{
	{"mem", func(t testing.TB) Store { return NewMem() }},
	{"pebble", func(t testing.TB) Store {
		s, err := OpenPebble("db", PebbleOptions{FS: vfs.NewMem(), CacheSize: 1 << 20, MemTableSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

func forEachStore(t *testing.T, f func(t *testing.T, s Store)) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.open(t)
			defer func() {
				if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("close: %v", err)
				}
			}()
			f(t, s)
		})
	}
}

func commit(t testing.TB, s Store, sync bool, f func(b Batch)) {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	f(b)
	if err := b.Commit(sync); err != nil {
		t.Fatal(err)
	}
}

func mustSet(t testing.TB, b Batch, k, v string) {
	t.Helper()
	if err := b.Set([]byte(k), []byte(v)); err != nil {
		t.Fatal(err)
	}
}

func wantGet(t testing.TB, v View, k, want string) {
	t.Helper()
	got, err := v.Get([]byte(k))
	if want == "" {
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", k, got, err)
		}
		return
	}
	if err != nil || string(got) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q", k, got, err, want)
	}
}

// scan returns "k=v" for every key in [lower, upper), starting at seek if set.
func scan(t testing.TB, v View, lower, upper, seek string) []string {
	t.Helper()
	bound := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	it, err := v.NewIter(bound(lower), bound(upper))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	ok := it.First()
	if seek != "" {
		ok = it.SeekGE([]byte(seek))
	}
	for ; ok; ok = it.Next() {
		if !it.Valid() {
			t.Fatal("positioned but not Valid")
		}
		out = append(out, fmt.Sprintf("%s=%s", it.Key(), it.Value()))
	}
	if it.Valid() {
		t.Fatal("exhausted but Valid")
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantScan(t testing.TB, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("scan = %q, want %q", got, want)
	}
}

func TestStoreGetSetDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		wantGet(t, s, "a", "")
		commit(t, s, false, func(b Batch) {
			mustSet(t, b, "a", "1")
			mustSet(t, b, "b", "2")
			mustSet(t, b, "e", "")
		})
		wantGet(t, s, "a", "1")
		wantGet(t, s, "b", "2")
		if v, err := s.Get([]byte("e")); err != nil || len(v) != 0 {
			t.Fatalf("empty value: %q, %v", v, err)
		}
		// Get returns a copy.
		v, _ := s.Get([]byte("a"))
		v[0] = 'x'
		wantGet(t, s, "a", "1")
		commit(t, s, true, func(b Batch) {
			mustSet(t, b, "a", "3")
			if err := b.Delete([]byte("b")); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete([]byte("nope")); err != nil {
				t.Fatal(err)
			}
		})
		wantGet(t, s, "a", "3")
		wantGet(t, s, "b", "")
	})
}

func TestStoreDeleteRange(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, false, func(b Batch) {
			for _, k := range []string{"a", "b", "c", "d", "e"} {
				mustSet(t, b, k, k)
			}
		})
		commit(t, s, false, func(b Batch) {
			if err := b.DeleteRange([]byte("b"), []byte("d")); err != nil {
				t.Fatal(err)
			}
			if err := b.DeleteRange([]byte("z"), []byte("a")); err != nil { // empty
				t.Fatal(err)
			}
		})
		wantScan(t, scan(t, s, "", "", ""), "a=a", "d=d", "e=e")
		// In one batch: a range tombstone hides older batch writes, a
		// later write beats it.
		commit(t, s, false, func(b Batch) {
			mustSet(t, b, "b", "B")
			if err := b.DeleteRange([]byte("a"), []byte("e")); err != nil {
				t.Fatal(err)
			}
			mustSet(t, b, "c", "C")
			wantGet(t, b, "b", "")
			wantGet(t, b, "c", "C")
			wantGet(t, b, "d", "")
			wantScan(t, scan(t, b, "", "", ""), "c=C", "e=e")
		})
		wantScan(t, scan(t, s, "", "", ""), "c=C", "e=e")
	})
}

func TestStoreIterBounds(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, false, func(b Batch) {
			for _, k := range []string{"a", "b", "c", "d", "e"} {
				mustSet(t, b, k, k)
			}
		})
		for _, tc := range []struct {
			name, lower, upper, seek string
			want                     []string
		}{
			{"all", "", "", "", []string{"a=a", "b=b", "c=c", "d=d", "e=e"}},
			{"lower", "b", "", "", []string{"b=b", "c=c", "d=d", "e=e"}},
			{"upper exclusive", "", "c", "", []string{"a=a", "b=b"}},
			{"both", "b", "d", "", []string{"b=b", "c=c"}},
			{"between keys", "bb", "dd", "", []string{"c=c", "d=d"}},
			{"empty", "c", "c", "", nil},
			{"seek", "", "", "c", []string{"c=c", "d=d", "e=e"}},
			{"seek between", "", "", "cc", []string{"d=d", "e=e"}},
			{"seek past end", "", "", "f", nil},
			{"seek below lower", "c", "", "a", []string{"c=c", "d=d", "e=e"}},
			{"seek at upper", "", "c", "c", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantScan(t, scan(t, s, tc.lower, tc.upper, tc.seek), tc.want...)
			})
		}
	})
}

func TestStoreBatchReadYourWrites(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, false, func(b Batch) {
			mustSet(t, b, "a", "1")
			mustSet(t, b, "c", "3")
		})
		b := s.NewBatch()
		defer b.Close()
		if !b.Empty() {
			t.Fatal("new batch not Empty")
		}
		mustSet(t, b, "b", "2")
		mustSet(t, b, "a", "10")
		if err := b.Delete([]byte("c")); err != nil {
			t.Fatal(err)
		}
		if b.Empty() || b.Len() == 0 {
			t.Fatalf("Empty %v Len %d after writes", b.Empty(), b.Len())
		}
		// The batch sees its writes; the store does not, until Commit.
		wantGet(t, b, "a", "10")
		wantGet(t, b, "b", "2")
		wantGet(t, b, "c", "")
		wantScan(t, scan(t, b, "", "", ""), "a=10", "b=2")
		wantGet(t, s, "a", "1")
		wantGet(t, s, "b", "")
		wantScan(t, scan(t, s, "", "", ""), "a=1", "c=3")
		// Writes committed to the store meanwhile show through the batch
		// where the batch did not write.
		commit(t, s, false, func(o Batch) { mustSet(t, o, "d", "4") })
		wantGet(t, b, "d", "4")
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
		wantScan(t, scan(t, s, "", "", ""), "a=10", "b=2", "d=4")
		if err := b.Set([]byte("x"), nil); !errors.Is(err, ErrCommitted) {
			t.Fatalf("Set after Commit: %v, want ErrCommitted", err)
		}
		if err := b.Commit(false); !errors.Is(err, ErrCommitted) {
			t.Fatalf("second Commit: %v, want ErrCommitted", err)
		}
	})
}

func TestStoreBatchKeepsArguments(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		k, v := []byte("k"), []byte("v")
		commit(t, s, false, func(b Batch) {
			if err := b.Set(k, v); err != nil {
				t.Fatal(err)
			}
			k[0], v[0] = 'x', 'x' // the caller may reuse its buffers
		})
		wantGet(t, s, "k", "v")
	})
}

func TestStoreSnapshotIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, false, func(b Batch) {
			mustSet(t, b, "a", "1")
			mustSet(t, b, "b", "2")
		})
		snap := s.NewSnapshot()
		commit(t, s, false, func(b Batch) {
			mustSet(t, b, "a", "10")
			mustSet(t, b, "c", "3")
			if err := b.Delete([]byte("b")); err != nil {
				t.Fatal(err)
			}
		})
		wantGet(t, snap, "a", "1")
		wantGet(t, snap, "b", "2")
		wantGet(t, snap, "c", "")
		wantScan(t, scan(t, snap, "", "", ""), "a=1", "b=2")
		wantScan(t, scan(t, s, "", "", ""), "a=10", "c=3")
		if err := snap.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := snap.Get([]byte("a")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Get on closed snapshot: %v", err)
		}
		if err := snap.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestStoreClosed(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		commit(t, s, true, func(b Batch) { mustSet(t, b, "a", "1") })
		it, err := s.NewIter(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if it.First() || it.Valid() || !errors.Is(it.Error(), ErrClosed) || !errors.Is(it.Close(), ErrClosed) {
			t.Fatal("closed iterator still usable")
		}
		pending := s.NewBatch()
		mustSet(t, pending, "b", "2")
		done := s.NewBatch()
		if err := done.Close(); err != nil {
			t.Fatal(err)
		}
		if err := done.Set([]byte("x"), nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Set on closed batch: %v", err)
		}
		if _, err := done.Get([]byte("a")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Get on closed batch: %v", err)
		}
		if err := done.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("second batch Close: %v", err)
		}

		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get([]byte("a")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Get: %v", err)
		}
		if _, err := s.NewIter(nil, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("NewIter: %v", err)
		}
		if err := s.Sync(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Sync: %v", err)
		}
		if err := pending.Commit(true); !errors.Is(err, ErrClosed) {
			t.Fatalf("Commit of a batch after store Close: %v", err)
		}
		if _, err := pending.Get([]byte("a")); !errors.Is(err, ErrClosed) {
			t.Fatalf("batch Get after store Close: %v", err)
		}
		pending.Close()
		b := s.NewBatch()
		if err := b.Commit(false); !errors.Is(err, ErrClosed) {
			t.Fatalf("Commit of batch made after Close: %v", err)
		}
		b.Close()
		snap := s.NewSnapshot()
		if _, err := snap.Get([]byte("a")); !errors.Is(err, ErrClosed) {
			t.Fatalf("snapshot Get after Close: %v", err)
		}
		snap.Close()
		if err := s.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// TestStoreManyKeys checks order and deletes against a sorted model.
func TestStoreManyKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		model := map[string]string{}
		for round := range 20 {
			commit(t, s, round%5 == 0, func(b Batch) {
				for i := range 500 {
					k := fmt.Sprintf("k%05d", (i*7919+round*31)%5000)
					if i%7 == 3 {
						if err := b.Delete([]byte(k)); err != nil {
							t.Fatal(err)
						}
						delete(model, k)
						continue
					}
					v := fmt.Sprint(round, i)
					mustSet(t, b, k, v)
					model[k] = v
				}
				lo, hi := fmt.Sprintf("k%05d", round*200), fmt.Sprintf("k%05d", round*200+50)
				if err := b.DeleteRange([]byte(lo), []byte(hi)); err != nil {
					t.Fatal(err)
				}
				for k := range model {
					if k >= lo && k < hi {
						delete(model, k)
					}
				}
			})
		}
		var want []string
		for k, v := range model {
			want = append(want, k+"="+v)
		}
		slices.Sort(want)
		wantScan(t, scan(t, s, "", "", ""), want...)
	})
}

// TestMemConcurrent runs writers, readers and snapshots at once (for -race).
func TestMemConcurrent(t *testing.T) {
	m := NewMem()
	defer m.Close()
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				b := m.NewBatch()
				mustSet(t, b, fmt.Sprintf("w%d-%03d", w, i), "v")
				if _, err := b.Get([]byte("w0-000")); err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
				if err := b.Commit(i%10 == 0); err != nil {
					t.Error(err)
				}
				b.Close()
				snap := m.NewSnapshot()
				n := len(scan(t, snap, fmt.Sprintf("w%d-", w), fmt.Sprintf("w%d.", w), ""))
				snap.Close()
				if n != i+1 {
					t.Errorf("writer %d sees %d of its keys, want %d", w, n, i+1)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if n := len(scan(t, m, "", "", "")); n != 800 {
		t.Fatalf("%d keys, want 800", n)
	}
}
