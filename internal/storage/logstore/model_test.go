package logstore

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cockroachdb/pebble/v2/vfs"
	"pgregory.net/rapid"
)

// model is the log as a map: what the Store must be equivalent to.
type model map[uint64]*mgroup

type mgroup struct {
	ents  map[uint64]string
	trunc storage.LogPoint
	hs    *string
	tomb  uint64
}

func (m model) group(g uint64) *mgroup {
	if m[g] == nil {
		m[g] = &mgroup{ents: map[uint64]string{}}
	}
	return m[g]
}

func (m model) clone() model {
	c := model{}
	for g, mg := range m {
		c[g] = &mgroup{ents: maps.Clone(mg.ents), trunc: mg.trunc, hs: mg.hs, tomb: mg.tomb}
	}
	return c
}

func (mg *mgroup) last() uint64 {
	l := mg.trunc.Index
	for i := range mg.ents {
		l = max(l, i)
	}
	return l
}

// mop is one staged operation, applied to a Batch and to a model.
type mop struct {
	kind  byte
	g     uint64
	a, b  uint64
	vals  []string
	state string
}

func (o mop) stage(b *Batch) {
	switch o.kind {
	case opAppend:
		appendVals(b, o.g, o.a, o.vals...)
	case opSet:
		b.Set(o.g, o.a, []byte(o.vals[0]))
	case opTruncSuffix:
		b.TruncateSuffix(o.g, o.a)
	case opTruncPrefix:
		b.TruncatePrefix(o.g, storage.LogPoint{Index: o.a, Term: o.b})
	case opHardState:
		b.SetHardState(o.g, []byte(o.state))
	case opDestroy:
		b.Destroy(o.g, o.a)
	}
}

func (o mop) apply(m model) {
	mg := m.group(o.g)
	put := func(i uint64, v string) {
		if i > mg.trunc.Index {
			mg.ents[i] = v
		}
	}
	dropIf := func(f func(uint64) bool) {
		maps.DeleteFunc(mg.ents, func(i uint64, _ string) bool { return f(i) })
	}
	switch o.kind {
	case opAppend:
		dropIf(func(i uint64) bool { return i >= o.a })
		for j, v := range o.vals {
			put(o.a+uint64(j), v)
		}
	case opSet:
		put(o.a, o.vals[0])
	case opTruncSuffix:
		dropIf(func(i uint64) bool { return i > o.a })
	case opTruncPrefix:
		if o.a > mg.trunc.Index {
			mg.trunc = storage.LogPoint{Index: o.a, Term: o.b}
			dropIf(func(i uint64) bool { return i <= o.a })
		}
	case opHardState:
		s := o.state
		mg.hs = &s
	case opDestroy:
		*mg = mgroup{ents: map[uint64]string{}, tomb: max(mg.tomb, o.a)}
	}
}

// render is the model's state as text, in the form renderStore gives.
func (m model) render(groups []uint64) string {
	var sb strings.Builder
	for _, g := range groups {
		mg := m[g]
		if mg == nil {
			mg = &mgroup{}
		}
		hs := "-"
		if mg.hs != nil {
			hs = *mg.hs
		}
		fmt.Fprintf(&sb, "g%d first=%d last=%d trunc=%v tomb=%d hs=%q:", g, mg.trunc.Index+1, mg.last(), mg.trunc, mg.tomb, hs)
		for _, i := range slices.Sorted(maps.Keys(mg.ents)) {
			fmt.Fprintf(&sb, " %d=%q", i, mg.ents[i])
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

func renderStore(t tb, s *Store, groups []uint64) string {
	var sb strings.Builder
	for _, g := range groups {
		hs := "-"
		if b, ok := s.HardState(g); ok {
			hs = string(b)
		}
		fmt.Fprintf(&sb, "g%d first=%d last=%d trunc=%v tomb=%d hs=%q:", g, s.FirstIndex(g), s.LastIndex(g), s.Truncated(g), s.Tombstone(g), hs)
		es, err := s.Entries(g, s.FirstIndex(g), math.MaxUint64, math.MaxUint64, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			fmt.Fprintf(&sb, " %d=%q", e.Index, e.Data)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

var modelGroups = []uint64{1, 2, 3, 4}

// genOp draws an operation that an engine could issue against m (and a
// few it should not, such as writes below the truncated point, whose
// meaning is defined all the same).
func genOp(t *rapid.T, m model) mop {
	g := rapid.SampledFrom(modelGroups).Draw(t, "group")
	mg := m.group(g)
	last := mg.last()
	// Mostly small values, some of several hundred bytes, so that files
	// outgrow the crashable MemFS's 4 KiB blocks and power cuts tear frames.
	val := rapid.OneOf(rapid.StringMatching(`[a-z]{0,40}`), rapid.Custom(func(t *rapid.T) string {
		return strings.Repeat(rapid.StringMatching(`[a-z]`).Draw(t, "c"), rapid.IntRange(100, 1500).Draw(t, "len"))
	}))
	kind := rapid.SampledFrom([]byte{opAppend, opAppend, opAppend, opSet, opSet, opTruncSuffix, opTruncPrefix, opTruncPrefix, opHardState, opDestroy}).Draw(t, "kind")
	o := mop{kind: kind, g: g}
	switch kind {
	case opAppend:
		o.a = rapid.Uint64Range(max(mg.trunc.Index, 1), last+1).Draw(t, "first")
		o.vals = rapid.SliceOfN(val, 0, 4).Draw(t, "vals")
	case opSet:
		o.a = rapid.Uint64Range(1, last+4).Draw(t, "slot")
		o.vals = []string{val.Draw(t, "val")}
	case opTruncSuffix:
		o.a = rapid.Uint64Range(0, last+1).Draw(t, "last")
	case opTruncPrefix:
		o.a = rapid.Uint64Range(0, last+2).Draw(t, "index")
		o.b = rapid.Uint64Range(0, 5).Draw(t, "term")
	case opHardState:
		o.state = val.Draw(t, "state")
	case opDestroy:
		o.a = rapid.Uint64Range(1, 4).Draw(t, "replica")
	}
	return o
}

// history is the model after each write since the last point known
// durable: a crash must leave the store equal to one of them.
type history struct {
	m      model
	states []model  // states[0] is durable
	texts  []string // their renderings
}

func newHistory() *history {
	h := &history{m: model{}}
	h.write(nil, true)
	return h
}

func (h *history) write(ops []mop, sync bool) {
	for _, o := range ops {
		o.apply(h.m)
	}
	if sync {
		h.states, h.texts = h.states[:0], h.texts[:0]
	}
	h.states = append(h.states, h.m.clone())
	h.texts = append(h.texts, h.m.render(modelGroups))
}

// crashed checks that got, the state recovered after a crash, is one the
// writes went through since the last sync, makes it the model's and the
// durable one (Open syncs what it kept), and returns how many writes past
// the last sync it kept.
func (h *history) crashed(got string) (int, error) {
	for k := len(h.texts) - 1; k >= 0; k-- { // the latest, when states repeat
		if h.texts[k] == got {
			h.m = h.states[k]
			h.states, h.texts = h.states[:0], h.texts[:0]
			h.write(nil, true)
			return k, nil
		}
	}
	return -1, fmt.Errorf("recovered state is none of the %d since the last sync:\n%s\nlast synced:\n%s\nlatest:\n%s", len(h.texts), got, h.texts[0], h.texts[len(h.texts)-1])
}

// TestModel: random writes, reopens and power cuts, checked against the
// model after every step, in small segments so that rotation, dropping
// and compaction all happen.
func TestModel(t *testing.T) {
	var dropped, compacted int
	defer func() {
		t.Logf("segments dropped %d, compacted %d", dropped, compacted)
		if !t.Failed() && (dropped == 0 || compacted == 0) {
			t.Errorf("the model test never dropped (%d) or compacted (%d) a segment", dropped, compacted)
		}
	}()
	rapid.Check(t, func(t *rapid.T) {
		fs := vfs.NewCrashableMem()
		opts := Options{SegmentSize: rapid.SampledFrom([]int64{256, 1024, 64 << 10}).Draw(t, "segment"), CompactAfter: 2, ForceCompactAfter: 4}
		s := open(t, fs, opts)
		count := func() {
			st := s.Stats()
			dropped += st.Dropped
			compacted += st.Compacted
		}
		defer func() { count(); s.Close() }()
		h := newHistory()
		check := func(what string) {
			if got, want := renderStore(t, s, modelGroups), h.m.render(modelGroups); got != want {
				t.Fatalf("after %s:\nstore:\n%s\nmodel:\n%s", what, got, want)
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"write": func(t *rapid.T) {
				n := rapid.IntRange(1, 5).Draw(t, "ops")
				ops := make([]mop, 0, n)
				b := NewBatch()
				m := h.m.clone()
				for range n {
					o := genOp(t, m)
					o.apply(m)
					o.stage(b)
					ops = append(ops, o)
				}
				sync := rapid.Bool().Draw(t, "sync")
				if err := s.Write(b, sync); err != nil {
					t.Fatal(err)
				}
				h.write(ops, sync)
				check("write")
			},
			"reopen": func(t *rapid.T) {
				count()
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = open(t, fs, opts)
				h.write(nil, true) // Close syncs
				check("reopen")
			},
			"kill": func(t *rapid.T) {
				// The process dies, the machine does not: what was written
				// stays, synced or not, and the next Open must make it
				// durable before it builds on it.
				count()
				s.abandon()
				s = open(t, fs, opts)
				h.write(nil, true)
				check("kill")
			},
			"crash": func(t *rapid.T) {
				pct := rapid.SampledFrom([]int{0, 50, 100}).Draw(t, "unsynced kept %")
				clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "rng"), 1))})
				count()
				s.Close()
				fs = clone
				s = open(t, fs, opts)
				latest := len(h.texts) - 1
				k, err := h.crashed(renderStore(t, s, modelGroups))
				if err != nil {
					t.Fatal(err)
				}
				if pct == 100 && k != latest {
					t.Fatalf("a crash keeping all unsynced data kept %d of %d writes since the last sync", k, latest)
				}
				check("crash")
			},
		})
	})
}
