package primarybackup

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// Rollback is what one replica discarded when a newer primary's log
// superseded its own (async mode; doc.go, "Async mode"): the entries of
// its log above After, which the new primary's log does not hold. They
// were appended by an older primary, which may have acknowledged them:
// each is a write a failover lost unless the client retried it.
type Rollback struct {
	Group   replica.GroupID
	Replica replica.ReplicaID
	// Epoch is the epoch of the primary whose log superseded these entries.
	Epoch uint64
	// After is the divergence point: the replica's log agreed with the
	// new primary's up to it, at best.
	After uint64
	// Rebuild: some entries were applied here, so the replica's state is
	// rebuilt from the primary's snapshot (it serves nothing until then);
	// otherwise it cut its log and catches up from the primary's log.
	Rebuild bool
	// Entries are the discarded entries the log still held, by index.
	Entries []RolledBack
	// Unlisted counts entries above After that the replica had applied
	// and already truncated from its log: discarded, but not listed.
	Unlisted uint64
}

// RolledBack is one discarded entry.
type RolledBack struct {
	Index, Epoch uint64
	// Applied: the replica had applied it (its effect is in the state the
	// rebuild replaces).
	Applied bool
	Type    driver.EntryType
	// Data is the entry's data: a driver frame (driver.Unframe gives the
	// proposal ID, the leader's stamp and the state machine's command).
	Data []byte
}

// RollbackLog receives what a replica rolls back, before it is discarded:
// the engine calls Record in the round that discards the entries, before
// that round's log batch is written, and fails the round (the node stops,
// fail-stop) if it returns an error. Record must have made r durable when
// it returns. A crash after Record and before the batch is written
// records the same entries again on restart, so a reader deduplicates
// (group, replica, index, epoch).
type RollbackLog interface {
	Record(r Rollback) error
}

// RollbackFileName is the name of the rollback file in a node's data
// directory (FileRollbacks).
const RollbackFileName = "pb-rollback.jsonl"

// RollbackLine is one line of the rollback file: one discarded entry, in
// JSON, with the rollback it belongs to. A user reads the file with any
// JSON-lines tool (jq -c . pb-rollback.jsonl); ReadRollbackFile decodes it.
type RollbackLine struct {
	// Time is when the node wrote the line (its wall clock, RFC 3339).
	Time      time.Time `json:"time"`
	Group     uint64    `json:"group"`
	Partition uint64    `json:"partition"`
	Replica   uint64    `json:"replica"`
	// EpochNow is the epoch of the primary whose log superseded the entry;
	// After is the divergence point.
	EpochNow uint64 `json:"epoch_now"`
	After    uint64 `json:"after"`
	Rebuild  bool   `json:"rebuild"`
	Index    uint64 `json:"index"`
	Epoch    uint64 `json:"epoch"`
	Applied  bool   `json:"applied"`
	// Proposal and Stamp come from the entry's driver frame (Stamp: the
	// primary's clock when it appended it, Unix nanoseconds); Command is
	// the state machine's command, base64 (empty for the engine's own
	// entries). Client and Seq are its kv session, when the file's
	// Describe hook knows how to read the command.
	Proposal uint64 `json:"proposal,omitempty"`
	Stamp    int64  `json:"stamp,omitempty"`
	Command  string `json:"command,omitempty"`
	Client   uint64 `json:"client,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
	// Unlisted is set on the line of a rollback's truncated entries (no
	// Index): how many were discarded without being listed.
	Unlisted uint64 `json:"unlisted,omitempty"`
}

// FileRollbacks is the RollbackLog a node uses: JSON lines appended to
// Dir/RollbackFileName (RollbackLine), fsynced before Record returns.
type FileRollbacks struct {
	Dir string
	// Session reads a state machine command's (client, seq), for the
	// lines' Client and Seq (the node passes kv's); nil: left out. The
	// engine does not read commands itself.
	Session func(cmd []byte) (client, seq uint64, ok bool)
	// Now is the clock of the lines' Time; nil: time.Now.
	Now func() time.Time

	mu sync.Mutex
}

// Lines returns r as the file's lines.
func (f *FileRollbacks) Lines(r Rollback, now time.Time) []RollbackLine {
	base := RollbackLine{Time: now.UTC(), Group: uint64(r.Group), Partition: uint64(r.Group.Partition()),
		Replica: uint64(r.Replica), EpochNow: r.Epoch, After: r.After, Rebuild: r.Rebuild}
	var lines []RollbackLine
	for _, e := range r.Entries {
		l := base
		l.Index, l.Epoch, l.Applied = e.Index, e.Epoch, e.Applied
		if id, at, cmd, err := driver.Unframe(e.Data); err == nil && e.Type == driver.EntryNormal {
			l.Proposal, l.Stamp, l.Command = id, at, base64.StdEncoding.EncodeToString(cmd)
			if f.Session != nil {
				if c, s, ok := f.Session(cmd); ok {
					l.Client, l.Seq = c, s
				}
			}
		}
		lines = append(lines, l)
	}
	if r.Unlisted > 0 {
		l := base
		l.Unlisted = r.Unlisted
		lines = append(lines, l)
	}
	return lines
}

// Record implements RollbackLog.
func (f *FileRollbacks) Record(r Rollback) error {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("primarybackup: rollback file: %w", err)
	}
	fh, err := os.OpenFile(filepath.Join(f.Dir, RollbackFileName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("primarybackup: rollback file: %w", err)
	}
	w := bufio.NewWriter(fh)
	enc := json.NewEncoder(w)
	for _, l := range f.Lines(r, now()) {
		if err := enc.Encode(l); err != nil {
			_ = fh.Close()
			return fmt.Errorf("primarybackup: rollback file: %w", err)
		}
	}
	err = errors.Join(w.Flush(), fh.Sync(), fh.Close())
	if err != nil {
		return fmt.Errorf("primarybackup: rollback file: %w", err)
	}
	return nil
}

// ReadRollbackFile reads a rollback file (path: a data directory's
// RollbackFileName), deduplicated by (group, replica, index, epoch): a
// crash may have recorded a rollback twice. A missing file reads as none.
func ReadRollbackFile(path string) ([]RollbackLine, error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer fh.Close()
	type key struct{ g, r, i, e uint64 }
	seen := map[key]bool{}
	var out []RollbackLine
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		var l RollbackLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return out, fmt.Errorf("primarybackup: %s line %d: %w", path, n, err)
		}
		k := key{l.Group, l.Replica, l.Index, l.Epoch}
		if l.Unlisted == 0 && seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, l)
	}
	return out, sc.Err()
}

// logRollbacks is the RollbackLog of an engine given none: each rollback
// logged at error level (what it lost is then in the node's log only).
type logRollbacks struct{ log *slog.Logger }

func (l logRollbacks) Record(r Rollback) error {
	l.log.Error("primary-backup: rolled back entries a newer primary's log does not hold (no rollback file configured)",
		"group", r.Group, "replica", r.Replica, "epoch", r.Epoch, "after", r.After, "entries", len(r.Entries),
		"unlisted", r.Unlisted, "rebuild", r.Rebuild)
	return nil
}

// RollbackCount is a replica's rollback accounting (EngineStatus fields
// "rolled_back_entries", "rollbacks", "last_rollback_*"): totals since the
// replica opened, and the last rollback.
type RollbackCount struct {
	Entries, Rollbacks uint64
	// Last is the last rollback (without its entries' data): its indexes
	// in Offsets.
	LastEpoch, LastAfter uint64
	LastOffsets          []uint64
}
