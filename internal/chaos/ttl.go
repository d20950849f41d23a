package chaos

import (
	"fmt"
	"math"
	"sort"
)

// The kinds of TTLAnomaly.
const (
	// EarlyExpiry: a read found the key absent although every write it
	// could have seen was certainly not expired yet.
	EarlyExpiry = "early-expiry"
	// Resurrection: a read saw a value after an earlier read — one that
	// returned before it started, and started after that value's write
	// returned — had found the key absent.
	Resurrection = "resurrection"
	// PhantomValue: a read saw a value that no write kept in the history
	// wrote, or whose write was invoked only after the read returned.
	PhantomValue = "phantom-value"
)

// TTLAnomaly is one thing the ttl workload's history should not contain.
// Indexes are into the history handed to CheckTTL; -1 when they do not apply.
type TTLAnomaly struct {
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	Read   int    `json:"read"`
	Write  int    `json:"write"`
	Prior  int    `json:"prior"` // Resurrection: the read that found the key absent
	Detail string `json:"detail"`
}

// TTLResult is the outcome of CheckTTL.
type TTLResult struct {
	// Verdict is VerdictIllegal when there is an anomaly, else VerdictOk.
	Verdict Verdict
	// Writes and Reads count the operations checked: writes that may have
	// applied (ok or indeterminate), reads that succeeded.
	Writes, Reads int
	// Anomalies, in history order of their reads.
	Anomalies []TTLAnomaly
}

type ttlWrite struct {
	index     int
	call, ret int64 // ret is +∞ for an indeterminate write
	absentAt  int64 // the earliest time the write's value can be gone by expiry
	value     string
	del       bool
}

type ttlRead struct {
	index     int
	call, ret int64
	exists    bool
	value     string
}

// CheckTTL checks the ttl workload: TTLPut writes a unique value with a
// short TTL (Input.TTL, relative to the group time at which the write
// applies; 0 for none), TTLGet reads the key back, and Delete may remove it.
// Times and TTLs are in the history's unit. skew bounds how far group time
// may run ahead of the history's clock over a write's life, in the same unit:
// group time is a leader's clock, and a leader may be up to
// --max-clock-offset from the others, so 2 × max-clock-offset covers both the
// stamp on the write and the one on the expiry.
//
// Because the package reads no clock, everything is judged from the call and
// return times the caller recorded. A write applied at some time in [Call,
// Return] — any time after Call if it is indeterminate — and group time then
// was at least Call − skew, so the value cannot expire before
// Call + TTL − skew. What it checks:
//
//   - early expiry: a read returned absent, a write had certainly completed
//     before the read started, and every write the read could have seen
//     (not certainly overwritten before the read started, invoked before it
//     returned) still had its earliest expiry after the read returned;
//   - resurrection: a read saw value v, and an earlier read that started
//     after v's write returned and returned before this read started had
//     found the key absent; values are unique, so v was not written again;
//   - phantom values: a read saw a value never written, or written only
//     after the read returned.
//
// What it does not check: late expiry (a key still present after its
// deadline — judging that needs the group time, which replies carry but
// this history does not, and the design only promises the sweep interval's
// precision); a stale read of an older value (linearizability: use the
// register workload); the TTL a read reports. Failed writes (certainly not
// applied) and failed or indeterminate reads are dropped; an indeterminate
// write may have applied at any time after its call.
func CheckTTL(history []Op, skew int64) (*TTLResult, error) {
	if skew < 0 {
		return nil, fmt.Errorf("chaos: negative clock skew %d", skew)
	}
	writes := make(map[string][]ttlWrite)
	reads := make(map[string][]ttlRead)
	byValue := make(map[[2]string]int) // (key, value) → index into writes[key]
	r := &TTLResult{}
	for i := range history {
		op := &history[i]
		if err := op.validate(i); err != nil {
			return nil, err
		}
		switch op.Kind {
		case TTLPut, Delete:
			if op.Outcome == Failed {
				continue
			}
			if op.Input.TTL < 0 {
				return nil, fmt.Errorf("chaos: op %d: negative TTL %d", i, op.Input.TTL)
			}
			w := ttlWrite{index: i, call: op.Call, ret: op.Return, value: op.Input.Value, del: op.Kind == Delete}
			if op.Outcome == Indeterminate {
				w.ret = math.MaxInt64
			}
			switch {
			case w.del:
				w.absentAt = op.Call
			case op.Input.TTL == 0:
				w.absentAt = math.MaxInt64
			default:
				w.absentAt = satAdd(op.Call, op.Input.TTL-skew)
			}
			if !w.del {
				kv := [2]string{op.Key, w.value}
				if j, dup := byValue[kv]; dup {
					return nil, fmt.Errorf("chaos: ops %d and %d both write %q to key %q: values must be unique", writes[op.Key][j].index, i, w.value, op.Key)
				}
				byValue[kv] = len(writes[op.Key])
			}
			writes[op.Key] = append(writes[op.Key], w)
			r.Writes++
		case TTLGet:
			if op.Outcome != OK {
				continue
			}
			reads[op.Key] = append(reads[op.Key], ttlRead{index: i, call: op.Call, ret: op.Return, exists: op.Output.Exists, value: op.Output.Value})
			r.Reads++
		default:
			return nil, fmt.Errorf("chaos: op %d: %s is not a ttl operation", i, op.Kind)
		}
	}

	for _, key := range sortedKeys(reads) {
		ws, rs := writes[key], reads[key]
		for _, rd := range rs {
			if !rd.exists {
				if a, ok := earlyExpiry(key, rd, ws); ok {
					r.Anomalies = append(r.Anomalies, a)
				}
				continue
			}
			j, ok := byValue[[2]string{key, rd.value}]
			if !ok || ws[j].call > rd.ret {
				r.Anomalies = append(r.Anomalies, TTLAnomaly{
					Kind: PhantomValue, Key: key, Read: rd.index, Write: -1, Prior: -1,
					Detail: fmt.Sprintf("read at [%d, %d] saw %q, which no write had been invoked for", rd.call, rd.ret, rd.value),
				})
				continue
			}
			w := ws[j]
			for _, prior := range rs {
				if !prior.exists && prior.call > w.ret && prior.ret < rd.call {
					r.Anomalies = append(r.Anomalies, TTLAnomaly{
						Kind: Resurrection, Key: key, Read: rd.index, Write: w.index, Prior: prior.index,
						Detail: fmt.Sprintf("read at [%d, %d] saw %q (written by op %d, returned at %d) after read op %d at [%d, %d] found the key absent",
							rd.call, rd.ret, rd.value, w.index, w.ret, prior.index, prior.call, prior.ret),
					})
					break
				}
			}
		}
	}
	sort.SliceStable(r.Anomalies, func(a, b int) bool { return r.Anomalies[a].Read < r.Anomalies[b].Read })
	r.Verdict = VerdictOk
	if len(r.Anomalies) > 0 {
		r.Verdict = VerdictIllegal
	}
	return r, nil
}

// earlyExpiry decides whether an absent read is an early expiry.
func earlyExpiry(key string, rd ttlRead, ws []ttlWrite) (TTLAnomaly, bool) {
	// The latest invocation among writes certainly before the read: a write
	// that returned before it is certainly overwritten before the read.
	latestBefore := int64(math.MinInt64)
	for _, w := range ws {
		if w.ret < rd.call {
			latestBefore = max(latestBefore, w.call)
		}
	}
	if latestBefore == math.MinInt64 {
		return TTLAnomaly{}, false // never certainly written: absent is fine
	}
	// Every write the read may have seen as the latest must still be
	// certainly alive when the read returned.
	var lenient *ttlWrite
	for i := range ws {
		w := &ws[i]
		if w.call > rd.ret || w.ret < latestBefore {
			continue // after the read, or overwritten before it
		}
		if w.absentAt <= rd.ret {
			return TTLAnomaly{}, false // this one may have expired (or deleted) in time
		}
		if lenient == nil || w.absentAt < lenient.absentAt {
			lenient = w
		}
	}
	return TTLAnomaly{
		Kind: EarlyExpiry, Key: key, Read: rd.index, Write: lenient.index, Prior: -1,
		Detail: fmt.Sprintf("read at [%d, %d] found the key absent; the latest write it could see, op %d (%q), cannot expire before %d",
			rd.call, rd.ret, lenient.index, lenient.value, lenient.absentAt),
	}, true
}

// satAdd is a + b, saturating at the int64 limits.
func satAdd(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}
