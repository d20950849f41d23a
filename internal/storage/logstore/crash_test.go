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
// all unsynced data must keep every write that returned.
func TestCrashAnywhere(t *testing.T) {
	var cuts [3]int
	rapid.Check(t, func(t *rapid.T) {
		mem := vfs.NewCrashableMem()
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 2))
		h := newHistory()
		var pending []string // the state of a Write in progress
		returned := h.texts[0]
		opts := Options{SegmentSize: rapid.SampledFrom([]int64{256, 2048}).Draw(t, "segment"), CompactAfter: 2, ForceCompactAfter: 3}
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
				clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
				o := opts
				o.FS = clone
				s, err := Open("log", o)
				if err != nil {
					t.Fatalf("power cut at %s keeping %d%% of unsynced data: %v", what, pct, err)
				}
				got := renderStore(t, s, modelGroups)
				if err := s.Close(); err != nil {
					t.Fatal(err)
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
		for range rapid.IntRange(1, 40).Draw(t, "writes") {
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
