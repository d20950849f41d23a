package chaos

import (
	"fmt"
	"sort"
	"time"
)

// Accounting for the writes an asynchronous primary-backup cluster
// acknowledged and then lost in a failover (DESIGN.md, Failure model: with
// primary-backup async, writes acknowledged within --pb-max-lag before a
// failover can be lost, and every one is reported with its window).

// Failover is one partition's epoch change as the checker saw it, timed by
// its own clock: the new epoch was first seen at At.
type Failover struct {
	Partition int    `json:"partition"`
	FromEpoch uint64 `json:"from_epoch"`
	ToEpoch   uint64 `json:"to_epoch"`
	From      string `json:"from"` // the old primary's node, "" when unknown
	To        string `json:"to"`
	At        int64  `json:"at_ns"` // nanoseconds on the history's clock
	// LossEntries is the loss window the old primary last reported before
	// the change (committed entries its most up-to-date in-sync backup
	// lacked): what it said a failover would lose.
	LossEntries uint64 `json:"loss_window_entries"`
}

// LostWrite is one acknowledged element a final read did not have.
type LostWrite struct {
	Element   string `json:"element"`
	Partition int    `json:"partition"`
	// AckAt is when it was known to be in the set: its acknowledgement, or
	// the return of the first read that saw it.
	AckAt int64 `json:"ack_at_ns"`
	// Failover is the index in the failovers of the one it is put down to;
	// -1 when none explains it.
	Failover int `json:"failover"`
	// Before is how long before that failover was seen it was acknowledged.
	Before float64 `json:"before_failover_s,omitempty"`
}

// LossAccount says what was lost and whether every loss lies in a window.
type LossAccount struct {
	LostAcknowledged int         `json:"lost_acknowledged"`
	Failovers        int         `json:"failovers"`
	Window           float64     `json:"window_s"`     // the bound a loss must lie within
	MaxWindow        float64     `json:"max_window_s"` // the oldest loss, before its failover
	MaxEntries       uint64      `json:"max_window_entries"`
	Explained        []LostWrite `json:"explained,omitempty"`
	Unexplained      []LostWrite `json:"unexplained,omitempty"`
}

// OK reports whether every lost write lies within a failover's window.
func (a *LossAccount) OK() bool { return len(a.Unexplained) == 0 }

// String is the one-line account for the summary.
func (a *LossAccount) String() string {
	if a.OK() {
		return fmt.Sprintf("lost %d acknowledged writes in %d failovers, all within reported windows (max %.1f s / %d entries; bound %.1f s)",
			a.LostAcknowledged, a.Failovers, a.MaxWindow, a.MaxEntries, a.Window)
	}
	return fmt.Sprintf("lost %d acknowledged writes in %d failovers, %d outside any failover's window of %.1f s",
		a.LostAcknowledged, a.Failovers, len(a.Unexplained), a.Window)
}

// AccountLoss puts each lost element of a set history (SetResult.Lost) down
// to a failover of its partition: one seen at or after the element was
// acknowledged and no more than window after it. partitionOf maps an
// element to its partition. The checker's clock decides, never the
// server's word alone: a failover the servers did not expose to the
// checker's polls explains nothing.
func AccountLoss(history []Op, lost []string, partitionOf func(element string) int, failovers []Failover, window time.Duration) *LossAccount {
	a := &LossAccount{LostAcknowledged: len(lost), Failovers: len(failovers), Window: window.Seconds()}
	known := make(map[string]int64, len(lost))
	isLost := make(map[string]bool, len(lost))
	for _, e := range lost {
		isLost[e] = true
	}
	for i := range history {
		op := &history[i]
		if op.Outcome != OK {
			continue
		}
		switch op.Kind {
		case Add:
			if e := op.Input.Value; isLost[e] {
				if t, ok := known[e]; !ok || op.Return < t {
					known[e] = op.Return
				}
			}
		case Read:
			for _, e := range op.Output.Elements {
				if t, ok := known[e]; isLost[e] && (!ok || op.Return < t) {
					known[e] = op.Return
				}
			}
		}
	}
	used := make(map[int]bool)
	for _, e := range lost {
		w := LostWrite{Element: e, Partition: partitionOf(e), AckAt: known[e], Failover: -1}
		for i, f := range failovers {
			if f.Partition != w.Partition || f.At < w.AckAt || time.Duration(f.At-w.AckAt) > window {
				continue
			}
			// The earliest failover that explains it.
			if w.Failover < 0 || f.At < failovers[w.Failover].At {
				w.Failover = i
			}
		}
		if w.Failover < 0 {
			a.Unexplained = append(a.Unexplained, w)
			continue
		}
		f := failovers[w.Failover]
		w.Before = float64(f.At-w.AckAt) / 1e9
		a.MaxWindow = max(a.MaxWindow, w.Before)
		if !used[w.Failover] {
			used[w.Failover] = true
			a.MaxEntries = max(a.MaxEntries, f.LossEntries)
		}
		a.Explained = append(a.Explained, w)
	}
	for _, l := range [][]LostWrite{a.Explained, a.Unexplained} {
		sort.Slice(l, func(i, j int) bool { return l[i].AckAt < l[j].AckAt })
	}
	return a
}
