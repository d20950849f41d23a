package cluster

import (
	"errors"
	"testing"

	"github.com/cairnkv/cairn/internal/storage"
)

func wantFormat(t *testing.T, store storage.View, want uint64) {
	t.Helper()
	if got, err := storage.CheckFormat(store); got != want || err != nil {
		t.Fatalf("stored format = %d, %v; want %d", got, err, want)
	}
}

func setRaw(t *testing.T, store storage.Store, key []byte, value []byte) {
	t.Helper()
	b := store.NewBatch()
	defer b.Close()
	var err error
	if value == nil {
		err = b.Delete(key)
	} else {
		err = b.Set(key, value)
	}
	if err == nil {
		err = b.Commit(true)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func joinOpts(name string) JoinOptions {
	return JoinOptions{Name: name, ClusterID: ClusterID(three, "tok"), Settings: Settings{}.WithDefaults(3), Members: three}
}

// A new node's store records its format with its first records.
func TestFormatWrittenAtCreation(t *testing.T) {
	founder := storage.NewMem()
	defer founder.Close()
	mustOpen(t, founder, newOpts("n1"))
	wantFormat(t, founder, storage.FormatVersion)

	joined := storage.NewMem()
	defer joined.Close()
	if _, err := CreateJoined(joined, joinOpts("n2")); err != nil {
		t.Fatal(err)
	}
	wantFormat(t, joined, storage.FormatVersion)
}

// A data directory from before the format was recorded (identity and
// cluster records, no /n/format) is format 1: it opens as it did, and the
// format is recorded, synced.
func TestOpenDirectoryFromBeforeFormat(t *testing.T) {
	store := storage.NewMem()
	defer store.Close()
	first := mustOpen(t, store, newOpts("n1"))
	setRaw(t, store, storage.FormatKey, nil)
	wantFormat(t, store, 0)

	// A refused restart writes nothing.
	if _, err := Open(store, newOpts("n2")); !errors.Is(err, ErrWrongName) {
		t.Fatalf("restart as n2: %v, want ErrWrongName", err)
	}
	wantFormat(t, store, 0)

	if has, err := HasIdentity(store); !has || err != nil {
		t.Fatalf("HasIdentity = %v, %v", has, err)
	}
	again := mustOpen(t, store, newOpts("n1"))
	if again.Incarnation != first.Incarnation || again.ClusterID != first.ClusterID {
		t.Fatalf("reopened as %+v, was %+v", again, first)
	}
	crashed := store.Crash()
	defer crashed.Close()
	wantFormat(t, crashed, storage.FormatVersion)
	mustOpen(t, crashed, newOpts("n1"))
}

// A data directory in a newer format is refused before anything in it is
// read, by every way in, with what to do; nothing is written.
func TestNewerFormatRefused(t *testing.T) {
	const msg = "storage: data directory format 3, this binary reads format 1; use a newer cairn"
	future := []byte(`{"format":3}`)
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrFormatTooNew) || err.Error() != msg {
			t.Fatalf("%s: %v; want %q", what, err, msg)
		}
	}

	store := storage.NewMem()
	defer store.Close()
	mustOpen(t, store, newOpts("n1"))
	setRaw(t, store, storage.FormatKey, future)
	_, err := Open(store, newOpts("n1"))
	refused("Open", err)
	_, err = HasIdentity(store)
	refused("HasIdentity", err)

	// Records this binary could not decode are not even looked at.
	setRaw(t, store, storage.IdentityKey, []byte("a record of format 3"))
	_, err = Open(store, newOpts("n1"))
	refused("Open over undecodable records", err)
	if raw, err := store.Get(storage.FormatKey); err != nil || string(raw) != string(future) {
		t.Fatalf("format after refusals = %q, %v", raw, err)
	}

	empty := storage.NewMem()
	defer empty.Close()
	setRaw(t, empty, storage.FormatKey, future)
	_, err = CreateJoined(empty, joinOpts("n2"))
	refused("CreateJoined", err)
	_, err = Open(empty, newOpts("n1"))
	refused("Open of a store holding only the format", err)
}
