package cluster

import (
	"testing"

	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
)

var _ transport.PeerBook = (*PeerBook)(nil)

func openPebble(t *testing.T, dir string) *storage.Pebble {
	t.Helper()
	s, err := storage.OpenPebble(dir, storage.PebbleOptions{Logger: quietPebble{}})
	if err != nil {
		t.Fatalf("open pebble: %v", err)
	}
	return s
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic("pebble fatal: " + format)
}

func TestPeerBookPersists(t *testing.T) {
	dir := t.TempDir()
	store := openPebble(t, dir)
	book, err := NewPeerBook(store)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := book.Incarnation("n2"); ok {
		t.Fatal("empty book knows n2")
	}
	for _, r := range []struct {
		name string
		inc  uint64
	}{{"n2", 7}, {"n3", 1 << 63}, {"n2", 9}, {"n2", 9}} {
		if err := book.Remember(r.name, r.inc); err != nil {
			t.Fatalf("Remember(%s, %d): %v", r.name, r.inc, err)
		}
	}
	if err := book.Remember("bad/name", 1); err == nil {
		t.Fatal("Remember took a name with '/'")
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store = openPebble(t, dir)
	defer store.Close()
	book, err = NewPeerBook(store)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		inc  uint64
		ok   bool
	}{
		{name: "n2", inc: 9, ok: true},
		{name: "n3", inc: 1 << 63, ok: true},
		{name: "n4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc, ok := book.Incarnation(tc.name)
			if inc != tc.inc || ok != tc.ok {
				t.Fatalf("Incarnation(%s) = %d, %v; want %d, %v", tc.name, inc, ok, tc.inc, tc.ok)
			}
		})
	}
}

func TestPeerBookSynced(t *testing.T) {
	store := storage.NewMem()
	defer store.Close()
	book, err := NewPeerBook(store)
	if err != nil {
		t.Fatal(err)
	}
	if err := book.Remember("n2", 42); err != nil {
		t.Fatal(err)
	}
	crashed := store.Crash()
	defer crashed.Close()
	again, err := NewPeerBook(crashed)
	if err != nil {
		t.Fatal(err)
	}
	if inc, ok := again.Incarnation("n2"); !ok || inc != 42 {
		t.Fatalf("after a crash Incarnation(n2) = %d, %v; want 42, true", inc, ok)
	}
}
