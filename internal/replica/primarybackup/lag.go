package primarybackup

import (
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
)

// Replication lag as the primary sees it, for the status and the metrics
// (metrics.go). The driver measures the neutral part (entries behind, and
// seconds since a backup last had the whole log: replica.PeerProgress); the
// core adds what only it knows: the bytes behind, and in async mode the
// loss window — what a failover now would lose.

// BackupLag is one backup's lag on its primary.
type BackupLag struct {
	Replica replica.ReplicaID `json:"replica"`
	Match   uint64            `json:"match"`
	// LagEntries and LagBytes are the primary's log past Match: the
	// entries the backup lacks and their payload bytes (only the entries
	// the primary still holds count, so a backup waiting for a snapshot
	// shows the log's tail).
	LagEntries uint64 `json:"lag_entries"`
	LagBytes   uint64 `json:"lag_bytes"`
	InSync     bool   `json:"in_sync"`
}

// LossWindow is, in async mode, what a failover now could lose: the
// committed entries past the in-sync backup that has the fewest of them.
// Any in-sync member may take over (the store prefers the one with the
// highest reported offset, but the offsets it holds may be old: a check
// saw a failover under a network partition promote the backup the primary
// could not reach while another had every entry), so the window is the
// worst case, not the best. Nil in sync mode, where it is zero by
// construction.
type LossWindow struct {
	Entries uint64 `json:"entries"`
	Bytes   uint64 `json:"bytes"`
	// Behind is the in-sync backup with the fewest entries; 0 when no
	// backup is in sync (none may take over, and the window is what the
	// most up-to-date backup lacks: what an unsafe promotion would lose).
	Behind replica.ReplicaID `json:"behind"`
}

// bytesIn sums the payload bytes of the entries the log holds in (from, to].
func (c *Core) bytesIn(from, to uint64) uint64 {
	var n uint64
	for i := max(from, c.trunc.Index) + 1; i <= to; i++ {
		if e := c.entry(i); e != nil {
			n += uint64(len(e.data))
		}
	}
	return n
}

// backupLags is every backup's lag, by replica ID; nil on a backup.
func (c *Core) backupLags() []BackupLag {
	if c.role != rolePrimary || c.lead == nil {
		return nil
	}
	last := c.lastIndex()
	out := make([]BackupLag, 0, len(c.lead.peers))
	for id, p := range c.lead.peers {
		out = append(out, BackupLag{Replica: id, Match: p.match, LagEntries: last - min(last, p.match),
			LagBytes: c.bytesIn(p.match, last), InSync: slices.Contains(c.rec.InSync, id)})
	}
	slices.SortFunc(out, func(a, b BackupLag) int { return int(a.Replica) - int(b.Replica) })
	return out
}

// lossWindow is the async primary's loss window; nil in sync mode or on a
// backup.
func (c *Core) lossWindow() *LossWindow {
	if !c.async() || c.role != rolePrimary || c.lead == nil {
		return nil
	}
	w := &LossWindow{}
	var match uint64
	for id, p := range c.lead.peers {
		if slices.Contains(c.rec.InSync, id) && (w.Behind == 0 || p.match < match) {
			w.Behind, match = id, p.match
		}
	}
	if w.Behind == 0 {
		for _, p := range c.lead.peers {
			match = max(match, p.match)
		}
	}
	if c.commit > match {
		w.Entries, w.Bytes = c.commit-match, c.bytesIn(match, c.commit)
	}
	return w
}

// lagStatus adds the lag to a primary's engine section.
func (c *Core) lagStatus(f map[string]any) {
	if lags := c.backupLags(); lags != nil {
		f["backups"] = lags
	}
	if w := c.lossWindow(); w != nil {
		f["loss_window"] = w
	}
}
