package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/storage"
)

// setStoredFormat rewrites, in a stopped node's data directory, the key
// that records its storage format (nil deletes it).
func setStoredFormat(t *testing.T, dir string, value []byte) {
	t.Helper()
	s, err := storage.OpenPebble(dir, storage.PebbleOptions{Logger: pebbleLogger{testLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.NewBatch()
	defer b.Close()
	if value == nil {
		err = b.Delete(storage.FormatKey)
	} else {
		err = b.Set(storage.FormatKey, value)
	}
	if err == nil {
		err = b.Commit(true)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A data directory from before the storage format was recorded starts and
// serves what it held, and records format 1; one in a newer format is
// refused at start, naming both formats.
func TestDataDirectoryFormat(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Name: "solo", DataDir: dir, GRPCAddr: "127.0.0.1:0", Settings: cluster.Settings{Partitions: 2},
		TickInterval: 20 * time.Millisecond, Logger: testLogger()}
	ctx := context.Background()
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, n.Partition([]byte("k")), kv.NewCommand(kv.Put([]byte("k"), []byte("k")))); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	setStoredFormat(t, dir, nil) // as every data directory made before
	n, err = Start(cfg)
	if err != nil {
		t.Fatalf("start on a data directory from before the format: %v", err)
	}
	if err := readBack(n, "k"); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := storage.OpenPebble(dir, storage.PebbleOptions{Logger: pebbleLogger{testLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	found, err := storage.CheckFormat(s)
	s.Close()
	if found != storage.FormatVersion || err != nil {
		t.Fatalf("format after the restart = %d, %v; want %d", found, err, storage.FormatVersion)
	}

	setStoredFormat(t, dir, []byte(`{"format":3}`))
	const msg = "storage: data directory format 3, this binary reads format 1; use a newer cairn"
	if n, err := Start(cfg); !errors.Is(err, storage.ErrFormatTooNew) || err.Error() != msg {
		if err == nil {
			n.Stop(ctx)
		}
		t.Fatalf("start on format 3: %v; want %q", err, msg)
	}
}
