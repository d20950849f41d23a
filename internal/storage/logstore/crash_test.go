package logstore

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"pgregory.net/rapid"
)

// hookFS is a vfs.FS that calls at before and after every write, sync,
// create and remove of the store's files: the points where a power cut
// can strike inside a Write (between a frame and its fsync, inside a
// rotation, between a compaction's frame and the removal of the segment
// it emptied).
type hookFS struct {
	vfs.FS
	at func(what string)
}

func (h *hookFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	h.at("create " + name)
	f, err := h.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	h.at("created " + name)
	return &hookFile{File: f, h: h}, nil
}

func (h *hookFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := h.FS.Open(name, opts...)
	if err != nil {
		return nil, err
	}
	return &hookFile{File: f, h: h}, nil
}

func (h *hookFS) OpenDir(name string) (vfs.File, error) {
	f, err := h.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &hookFile{File: f, h: h}, nil
}

func (h *hookFS) Remove(name string) error {
	h.at("remove " + name)
	err := h.FS.Remove(name)
	h.at("removed " + name)
	return err
}

type hookFile struct {
	vfs.File
	h *hookFS
}

func (f *hookFile) Write(p []byte) (int, error) {
	f.h.at("write")
	n, err := f.File.Write(p)
	f.h.at("wrote")
	return n, err
}

func (f *hookFile) Sync() error {
	f.h.at("sync")
	err := f.File.Sync()
	f.h.at("synced")
	return err
}

func (f *hookFile) SyncData() error { return f.Sync() }

// TestCrashAnywhere: random writes in small segments; at every write,
// sync, create and remove of a file, power is cut three ways — keeping
// none, a random half or all of the unsynced data (pebble's crashable
// MemFS, in 4 KiB blocks) — and the log reopened from what is left must
// hold exactly the state after some prefix of the writes: every write
// whose Write(sync) returned, and nothing that was not written. Keeping
// all unsynced data must keep every write that returned. Recovery itself
// is cut too, at each of its steps, and must recover the same state.
func TestCrashAnywhere(t *testing.T) {
	var cuts [3]int
	rapid.Check(t, func(t *rapid.T) {
		mem := vfs.NewCrashableMem()
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 2))
		h := newHistory()
		var pending []string // the state of a Write in progress
		returned := h.texts[0]
		opts := Options{SegmentSize: rapid.SampledFrom([]int64{256, 2048, 32 << 10}).Draw(t, "segment"), CompactAfter: 2, ForceCompactAfter: 3}
		inside := false
		fs := &hookFS{FS: mem}
		fs.at = func(what string) {
			if inside {
				return
			}
			inside = true
			defer func() { inside = false }()
			allowed := append(slices.Clone(h.texts), pending...)
			for i, pct := range []int{0, 50, 100} {
				clone := crashClone(t, mem, pct, rng)
				o := opts
				o.FS = clone
				// With half the unsynced data kept (torn tails most likely),
				// power is cut again at every step of the recovery itself:
				// each of those must recover what this recovery does (at one
				// cut in ten, to keep the test's time bounded).
				var again []string
				if pct == 50 && rng.IntN(10) == 0 {
					o.FS = &hookFS{FS: clone, at: func(string) {
						o2 := opts
						o2.FS = clone.CrashClone(vfs.CrashCloneCfg{})
						s2, err := Open("log", o2)
						if err != nil {
							t.Fatalf("power cut at %s keeping 50%% of unsynced data, then again during recovery: %v", what, err)
						}
						again = append(again, renderStore(t, s2, modelGroups))
						if err := s2.Close(); err != nil {
							t.Fatal(err)
						}
					}}
				}
				s, err := Open("log", o)
				if err != nil {
					t.Fatalf("power cut at %s keeping %d%% of unsynced data: %v", what, pct, err)
				}
				got := renderStore(t, s, modelGroups)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				for _, a := range again {
					if a != got {
						t.Fatalf("power cut at %s keeping 50%% of unsynced data recovered\n%s\nbut a second cut during that recovery gave\n%s", what, got, a)
					}
				}
				if !slices.Contains(allowed, got) {
					t.Fatalf("power cut at %s keeping %d%% of unsynced data: recovered\n%s\nnot one of the %d states since the last sync; last synced:\n%s\nlatest:\n%s", what, pct, got, len(allowed), allowed[0], allowed[len(allowed)-1])
				}
				if pct == 100 && !slices.Contains(allowed[slices.Index(allowed, returned):], got) {
					t.Fatalf("power cut at %s keeping all unsynced data lost a write that had returned:\n%s\nlast returned:\n%s", what, got, returned)
				}
				cuts[i]++
			}
		}
		o := opts
		o.FS = fs
		s, err := Open("log", o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for range rapid.IntRange(1, 25).Draw(t, "writes") {
			b := NewBatch()
			m := h.m.clone()
			var ops []mop
			for range rapid.IntRange(1, 4).Draw(t, "ops") {
				o := genOp(t, m)
				o.apply(m)
				o.stage(b)
				ops = append(ops, o)
			}
			sync := rapid.Bool().Draw(t, "sync")
			pending = []string{m.render(modelGroups)}
			if err := s.Write(b, sync); err != nil {
				t.Fatal(err)
			}
			pending = nil
			h.write(ops, sync)
			returned = h.texts[len(h.texts)-1]
		}
	})
	t.Logf("power cuts checked: %d keeping 0%%, %d keeping 50%%, %d keeping 100%% of unsynced data", cuts[0], cuts[1], cuts[2])
}

// crashClone is mem after a power cut that keeps pct% of the unsynced
// data: what vfs.MemFS.CrashClone does, in 4 KiB blocks, but drawing from
// rng in file-name order (MemFS draws in map order), so that a failing
// seed fails again.
func crashClone(t tb, mem *vfs.MemFS, pct int, rng *rand.Rand) *vfs.MemFS {
	t.Helper()
	if pct == 0 || pct == 100 {
		return mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
	}
	synced := mem.CrashClone(vfs.CrashCloneCfg{})
	cur := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rng})
	out := vfs.NewCrashableMem()
	list := func(fs vfs.FS) []string {
		names, err := fs.List("log")
		if err != nil {
			return nil // the directory itself was never synced
		}
		return names
	}
	names := append(list(synced), list(cur)...)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return out
	}
	if err := out.MkdirAll("log", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		path := "log/" + name
		_, err := synced.Stat(path)
		inSynced := err == nil
		_, err = cur.Stat(path)
		inCur := err == nil
		if !inSynced && (!inCur || rng.IntN(100) >= pct) {
			continue // created, its directory entry never synced
		}
		var data []byte
		if inSynced {
			data = readFile(t, synced, path)
		}
		if inCur {
			now := readFile(t, cur, path)
			for i := 0; i < len(now); i += 4096 {
				if rng.IntN(100) < pct {
					block := now[i:min(i+4096, len(now))]
					if grow := i + len(block) - len(data); grow > 0 {
						data = append(data, make([]byte, grow)...)
					}
					copy(data[i:], block)
				}
			}
		}
		writeFile(t, out, path, data)
	}
	return out.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rng}) // all of it durable
}
