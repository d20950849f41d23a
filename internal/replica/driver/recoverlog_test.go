package driver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// testHS is a hard state with a generation, a commit index and a history
// of starting indexes, as primary-backup's.
type testHS struct {
	gen, commit uint64
	history     []uint64
}

var errTestHS = errors.New("bad test hard state")

var testHSLog = HardStateLog[testHS]{
	Engine:  "test",
	Version: 3,
	Decode: func(version byte, b []byte) (testHS, error) {
		if version != 3 || len(b)%8 != 0 || len(b) < 16 {
			return testHS{}, fmt.Errorf("%w: version %d, %d bytes", errTestHS, version, len(b))
		}
		hs := testHS{gen: binary.BigEndian.Uint64(b), commit: binary.BigEndian.Uint64(b[8:])}
		for b = b[16:]; len(b) > 0; b = b[8:] {
			hs.history = append(hs.history, binary.BigEndian.Uint64(b))
		}
		return hs, nil
	},
	Encode: func(hs testHS) []byte {
		b := binary.BigEndian.AppendUint64(nil, hs.gen)
		b = binary.BigEndian.AppendUint64(b, hs.commit)
		for _, f := range hs.history {
			b = binary.BigEndian.AppendUint64(b, f)
		}
		return b
	},
	Commit: func(hs testHS) uint64 { return hs.commit },
	Lower: func(hs testHS, applied uint64) testHS {
		hs.commit = applied
		for len(hs.history) > 0 && hs.history[len(hs.history)-1] > applied {
			hs.history = hs.history[:len(hs.history)-1]
		}
		return hs
	},
}

func TestHardStateLogRecovery(t *testing.T) {
	const g = replica.GroupID(7)
	st := storage.NewMem()
	defer st.Close()

	if c, err := testHSLog.Recovery(storage.ViewLog{View: st}, g); err != nil || c != 0 {
		t.Fatalf("no hard state: commit %d, err %v; want 0, nil", c, err)
	}

	b := st.NewBatch()
	for i := uint64(1); i <= 9; i++ {
		if err := b.Set(storage.LogKey(uint64(g), i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Another group's log must survive.
	if err := b.Set(storage.LogKey(uint64(g)+1, 8), []byte{8}); err != nil {
		t.Fatal(err)
	}
	hs := testHS{gen: 4, commit: 9, history: []uint64{1, 5, 8}}
	if err := storage.SetHardState(b, uint64(g), 3, testHSLog.Encode(hs)); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if c, err := testHSLog.Recovery(storage.ViewLog{View: st}, g); err != nil || c != 9 {
		t.Fatalf("commit %d, err %v; want 9, nil", c, err)
	}

	b = st.NewBatch()
	if err := testHSLog.Stage(storage.ViewLog{View: st}, storage.LogOf(b), g, 6); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 9; i++ {
		_, err := st.Get(storage.LogKey(uint64(g), i))
		if kept := err == nil; kept != (i <= 6) {
			t.Errorf("entry %d: kept %v, err %v; want kept only at or below applied 6", i, kept, err)
		}
	}
	if _, err := st.Get(storage.LogKey(uint64(g)+1, 8)); err != nil {
		t.Errorf("another group's entry: %v", err)
	}
	version, raw, err := storage.ReadHardState(st, uint64(g))
	if err != nil {
		t.Fatal(err)
	}
	got, err := testHSLog.Decode(version, raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.gen != 4 || got.commit != 6 || len(got.history) != 2 || got.history[1] != 5 {
		t.Errorf("lowered hard state %+v; want gen 4, commit 6, history [1 5]", got)
	}

	// A hard state the engine cannot decode is an error naming the engine.
	b = st.NewBatch()
	if err := storage.SetHardState(b, uint64(g), 2, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if _, err := testHSLog.Recovery(storage.ViewLog{View: st}, g); !errors.Is(err, errTestHS) {
		t.Errorf("undecodable hard state: err %v; want %v", err, errTestHS)
	}
	b = st.NewBatch()
	defer b.Close()
	if err := testHSLog.Stage(storage.ViewLog{View: st}, storage.LogOf(b), g, 6); !errors.Is(err, errTestHS) {
		t.Errorf("staging over an undecodable hard state: err %v; want %v", err, errTestHS)
	}
}
