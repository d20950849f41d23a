package primarybackup

import (
	"slices"
	"sort"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// epochAt is the epoch of this replica's entry at i, by its log and its
// epoch history; 0 when it does not know (past its log's end, or before
// what its history covers).
func (c *Core) epochAt(i uint64) uint64 {
	if e := c.entry(i); e != nil {
		return e.epoch
	}
	if i == c.trunc.Index {
		return c.trunc.Term
	}
	if i > c.lastIndex() {
		return 0
	}
	var ep uint64
	for _, h := range c.history {
		if h.First <= i {
			ep = h.Epoch
		}
	}
	return ep
}

// rollBack records, for the next Ready, that the entries above after are
// discarded: a primary at epoch superseded them (async mode). rebuild:
// some were applied, so the state is rebuilt from a snapshot. held, when
// not nil, says which of them the primary's log holds after all (a
// rebuild discards them too, but the snapshot has them: not a loss).
// Entries already truncated from the log are counted, not listed.
func (c *Core) rollBack(after, epoch uint64, rebuild bool, held func(j, epoch uint64) bool) {
	r := Rollback{Group: replica.GroupID(c.group), Replica: c.id, Epoch: epoch, After: after, Rebuild: rebuild}
	for j := after + 1; j <= c.trunc.Index; j++ {
		if held == nil || !held(j, c.epochAt(j)) {
			r.Unlisted++
		}
	}
	for i := max(after, c.trunc.Index) + 1; i <= c.lastIndex(); i++ {
		e := c.entry(i)
		if held != nil && held(i, e.epoch) {
			continue
		}
		r.Entries = append(r.Entries, RolledBack{Index: i, Epoch: e.epoch, Applied: i <= c.handedOut, Type: e.typ, Data: slices.Clone(e.data)})
	}
	if len(r.Entries) == 0 && r.Unlisted == 0 {
		return
	}
	c.rollbacks = append(c.rollbacks, r)
	c.rb.Entries += uint64(len(r.Entries)) + r.Unlisted
	c.rb.Rollbacks++
	c.rb.LastEpoch, c.rb.LastAfter, c.rb.LastOffsets = epoch, after, nil
	for _, e := range r.Entries {
		c.rb.LastOffsets = append(c.rb.LastOffsets, e.Index)
	}
	c.logger.Warn("primary-backup: rolling back entries a newer primary's log does not hold",
		"group", c.group, "replica", c.id, "epoch", epoch, "after", after, "entries", len(r.Entries),
		"unlisted", r.Unlisted, "rebuild", rebuild)
}

// RolledBackCount is the replica's rollback accounting so far (since it
// opened): what the engine's status section reports.
func (c *Core) RolledBackCount() RollbackCount {
	r := c.rb
	r.LastOffsets = slices.Clone(r.LastOffsets)
	return r
}

// divergence finds, from a snapshot message m (the primary's epoch
// history in m.Entries, its last index in m.Commit), the first index d of
// this replica's log — its entries, or its applied range by its own
// epoch history — whose entry the primary's log does not hold: an entry
// is the primary's iff their epochs agree there (an epoch's primary
// writes each index once), and it is within the primary's log (or of the
// primary's own epoch, sent by it). Indexes neither history covers are
// taken to agree.
func (c *Core) divergence(m *message) (uint64, func(j, epoch uint64) bool, bool) {
	if len(m.Entries) == 0 {
		return 0, nil, false
	}
	hist := make([]epochStart, len(m.Entries))
	for i, w := range m.Entries {
		hist[i] = epochStart{Epoch: w.Epoch, First: w.Hash}
	}
	pEpoch := func(j uint64) uint64 {
		var ep uint64
		for _, h := range hist {
			if h.First <= j {
				ep = h.Epoch
			}
		}
		return ep
	}
	held := func(j, ep uint64) bool {
		return ep == 0 || pEpoch(j) == ep && (j <= m.Commit || ep == m.Epoch)
	}
	covered := hist[0].First
	// The applied range below the log: epochs are constant between the two
	// histories' boundaries, so the boundaries say it all.
	var bounds []uint64
	for _, h := range hist {
		bounds = append(bounds, h.First)
	}
	for _, h := range c.history {
		bounds = append(bounds, h.First)
	}
	sort.Slice(bounds, func(a, b int) bool { return bounds[a] < bounds[b] })
	for _, b := range bounds {
		if b < covered || b > c.trunc.Index {
			continue
		}
		if !held(b, c.epochAt(b)) {
			return b, held, true
		}
	}
	for j := max(c.trunc.Index+1, covered); j <= c.lastIndex(); j++ {
		if !held(j, c.entry(j).epoch) {
			return j, held, true
		}
	}
	return 0, nil, false
}

// startRebuild: this replica's log diverged from its primary's at d, at
// or below what it applied (async mode). The entries from d on are rolled
// back (all of them: each chains on the divergent one), and it asks for a
// snapshot (a rejection saying it holds nothing) and takes the next one
// whatever its commit index.
func (c *Core) startRebuild(from replica.ReplicaID, m *message, d uint64) {
	c.rollBack(d-1, m.Epoch, true, nil)
	c.rebuild, c.hsDirty, c.mustSync = d, true, true
	c.send(from, driver.MsgEarly, &message{Type: msgAppendResp, Epoch: m.Epoch, Term: m.Epoch, Reject: true, Index: m.Prev.Index, Seq: m.Seq})
}
