package storage

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// A store whose write-ahead log cannot be replayed for want of space is
// not opened: OpenPebble returns ErrNoSpace promptly instead of retrying
// the flush for ever (it used to spin a core, logging hundreds of lines a
// second, and the node never answered a signal). Once space is freed the
// abandoned open finishes and is closed (goleak checks it ends).
func TestOpenRefusesFullDisk(t *testing.T) {
	mem := vfs.NewMem()
	// Written with a large memtable, reopened with a small one: the replay
	// must flush, as a full disk's node replaying a long log must.
	s, err := OpenPebble("db", PebbleOptions{FS: mem, MemTableSize: 8 << 20, Logger: testLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	for i := range 10000 {
		if err := b.Set([]byte(fmt.Sprintf("k%05d", i)), make([]byte, 200)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Every new table file fails as a full disk does.
	full := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpCreate && strings.HasSuffix(op.Path, ".sst") {
			return &errnoErr{op.Path}
		}
		return nil
	})}
	full.On()
	start := time.Now()
	_, err = OpenPebble("db", PebbleOptions{FS: errorfs.Wrap(mem, full), MemTableSize: 256 << 10, Logger: testLogger{t}})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("open on a full disk: %v, want ErrNoSpace", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("open on a full disk took %v to give up", d)
	}
	t.Logf("refused: %v", err)
	full.Off() // space freed: the abandoned open completes and is closed
}

type errnoErr struct{ path string }

func (e *errnoErr) Error() string { return "write " + e.path + ": no space left on device" }
func (e *errnoErr) Unwrap() error { return syscall.ENOSPC }

type testLogger struct{ t *testing.T }

func (l testLogger) Infof(string, ...any)      {}
func (l testLogger) Errorf(f string, a ...any) {}
func (l testLogger) Fatalf(f string, a ...any) { l.t.Errorf(f, a...) }

// Repeated error lines of one format are held back within the interval
// and counted on the next one logged.
func TestQuietLogger(t *testing.T) {
	rec := &recordLogger{}
	q := newQuietLogger(rec, time.Second)
	now := time.Unix(0, 0)
	q.now = func() time.Time { return now }
	for range 300 {
		q.Errorf("background error: %s", "ENOSPC")
	}
	q.Errorf("another: %d", 1)
	now = now.Add(1500 * time.Millisecond)
	q.Errorf("background error: %s", "ENOSPC")
	want := []string{"background error: ENOSPC", "another: 1", "background error: ENOSPC (299 more like it held back since the last one logged)"}
	if got := rec.lines(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("logged %q, want %q", got, want)
	}
}

type recordLogger struct {
	mu  sync.Mutex
	out []string
}

func (r *recordLogger) Infof(string, ...any) {}
func (r *recordLogger) Errorf(f string, a ...any) {
	r.mu.Lock()
	r.out = append(r.out, fmt.Sprintf(f, a...))
	r.mu.Unlock()
}
func (r *recordLogger) Fatalf(f string, a ...any) { r.Errorf(f, a...) }
func (r *recordLogger) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.out...)
}
