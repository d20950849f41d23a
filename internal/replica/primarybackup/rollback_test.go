package primarybackup

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// The rollback file: one JSON line per discarded entry (and one for the
// unlisted ones), appended and synced by each Record; read back
// deduplicated, since a crash between the record and the batch that
// discards records the same rollback twice.
func TestRollbackFile(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f := &FileRollbacks{Dir: dir, Now: func() time.Time { return at },
		Session: func(cmd []byte) (uint64, uint64, bool) { return 42, uint64(len(cmd)), true }}
	r := Rollback{Group: replica.GroupOf(6), Replica: 3, Epoch: 5, After: 20, Rebuild: true, Unlisted: 2,
		Entries: []RolledBack{
			{Index: 21, Epoch: 4, Applied: true, Type: driver.EntryNormal, Data: driver.Frame(77, []byte("cmd"))},
			{Index: 22, Epoch: 4, Type: driver.EntryChange, Data: []byte{1, 2}},
		}}
	for range 2 { // recorded twice: a crash before the batch
		if err := f.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, RollbackFileName)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		t.Fatalf("not JSON lines: %q", raw)
	}
	lines, err := ReadRollbackFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Two entries once each, and the unlisted line of each record.
	if len(lines) != 4 {
		t.Fatalf("%d lines read, want 4: %+v", len(lines), lines)
	}
	l := lines[0]
	if l.Group != uint64(r.Group) || l.Partition != 6 || l.Replica != 3 || l.EpochNow != 5 || l.After != 20 || !l.Rebuild ||
		l.Index != 21 || l.Epoch != 4 || !l.Applied || l.Proposal != 77 || l.Client != 42 || l.Seq != 3 || !l.Time.Equal(at) {
		t.Fatalf("first line %+v", l)
	}
	if cmd, err := base64.StdEncoding.DecodeString(l.Command); err != nil || string(cmd) != "cmd" {
		t.Fatalf("command %q: %q, %v", l.Command, cmd, err)
	}
	if lines[1].Index != 22 || lines[1].Command != "" || lines[1].Proposal != 0 {
		t.Fatalf("the record entry's line %+v", lines[1])
	}
	if lines[2].Unlisted != 2 || lines[3].Unlisted != 2 {
		t.Fatalf("unlisted lines %+v %+v", lines[2], lines[3])
	}
	if none, err := ReadRollbackFile(filepath.Join(dir, "missing")); err != nil || none != nil {
		t.Fatalf("a missing file: %v, %v", none, err)
	}
}

// The loss window (async mode, on the primary) through a running cluster: what it committed beyond
// the in-sync backup that holds the least — what a failover now could
// lose.
func TestLossWindowThroughTheCluster(t *testing.T) {
	cl := newCluster(t, 3, 3, Options{Mode: ModeAsync})
	for range 40 {
		cl.tick()
		cl.settle(10000)
	}
	p := cl.primary()
	if p == nil || !p.core.inOffice() {
		t.Fatal("no primary in office")
	}
	if w := p.core.lossWindow(); w == nil || w.Entries != 0 || w.Bytes != 0 {
		t.Fatalf("caught up: loss window %+v", w)
	}
	for _, id := range cl.ids {
		if id != p.id {
			cl.cut[[2]replica.ReplicaID{p.id, id}] = true
		}
	}
	for range 3 {
		if _, err := cl.propose(p); err != nil {
			t.Fatal(err)
		}
		cl.settle(10000)
	}
	w := p.core.lossWindow()
	if w == nil || w.Entries != 3 || w.Bytes < 3*(driver.FrameHeader+2) { // three frames of "vN..."
		t.Fatalf("3 writes no backup has: loss window %+v", w)
	}
	if lw, ok := p.core.EngineStatus().Fields["loss_window"].(*LossWindow); !ok || lw.Entries != 3 {
		t.Fatalf("status: %v", p.core.EngineStatus().Fields)
	}
}
