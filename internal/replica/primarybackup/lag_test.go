package primarybackup

import (
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// lagCore is a primary with log entries 11..20 of 10 bytes each over a
// truncated point at 10, committed to 18, and backups 2 (in sync, at 16),
// 3 (in sync, at 12) and 4 (a learner, at 5: below the log's start).
func lagCore(mode Mode) *Core {
	c := &Core{role: rolePrimary, opts: Options{Mode: mode}, trunc: storage.LogPoint{Index: 10}, commit: 18,
		rec: Record{Epoch: 3, Primary: 1, Replicas: []replica.ReplicaID{1, 2, 3, 4}, InSync: []replica.ReplicaID{1, 2, 3}}}
	for range 10 {
		c.entries = append(c.entries, &entry{epoch: 3, data: make([]byte, 10)})
	}
	c.lead = &primaryState{peers: map[replica.ReplicaID]*peer{2: {match: 16}, 3: {match: 12}, 4: {match: 5}}}
	return c
}

func TestBackupLags(t *testing.T) {
	got := lagCore(ModeSync).backupLags()
	want := []BackupLag{
		{Replica: 2, Match: 16, LagEntries: 4, LagBytes: 40, InSync: true},
		{Replica: 3, Match: 12, LagEntries: 8, LagBytes: 80, InSync: true},
		{Replica: 4, Match: 5, LagEntries: 15, LagBytes: 100},
	}
	if len(got) != len(want) {
		t.Fatalf("backupLags = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("backup %d: %+v, want %+v", want[i].Replica, got[i], want[i])
		}
	}
	c := lagCore(ModeSync)
	c.role = roleBackup
	if c.backupLags() != nil {
		t.Errorf("a backup reports lags")
	}
}

func TestLossWindow(t *testing.T) {
	if w := lagCore(ModeSync).lossWindow(); w != nil {
		t.Fatalf("sync mode: loss window %+v, want none", w)
	}
	// Async: any in-sync backup may take over; backup 3 (at 12) lacks
	// the committed entries 13 to 18.
	if w := lagCore(ModeAsync).lossWindow(); w == nil || *w != (LossWindow{Entries: 6, Bytes: 60, Behind: 3}) {
		t.Fatalf("async: loss window %+v, want 6 entries, 60 bytes, behind 3", w)
	}
	// With no backup in sync, what the most up-to-date one lacks.
	c := lagCore(ModeAsync)
	c.rec.InSync = []replica.ReplicaID{1}
	if w := c.lossWindow(); w == nil || *w != (LossWindow{Entries: 2, Bytes: 20}) {
		t.Fatalf("async, none in sync: loss window %+v, want 2 entries, 20 bytes, none behind", w)
	}
	// A backup that has every committed entry: nothing to lose.
	c = lagCore(ModeAsync)
	c.lead.peers[2].match, c.lead.peers[3].match = 20, 18
	if w := c.lossWindow(); w == nil || w.Entries != 0 || w.Bytes != 0 {
		t.Fatalf("async, caught up: loss window %+v, want empty", w)
	}
}
