// Package kv is the deterministic replicated state machine behind every
// group: it turns committed log entries into changes of the group's
// replicated state (/r/<g>/ in internal/storage's key layout) and into one
// encoded answer per entry. It reads no clock, starts no goroutine and does
// no I/O of its own; the engine driver hands it a view and a batch.
//
// A front door builds a Command, the engine replicates its encoding, and the
// driver applies committed entries:
//
//	cmd := kv.NewCommand(kv.Put(key, value).WithTTL(time.Minute)).WithSession(client, seq, low)
//	data := cmd.AppendEncode(nil)            // the log entry's payload
//	...
//	b := store.NewBatch()
//	results, err := m.Apply(entries, b, b)   // effects, sessions, stats, /r/<g>/applied
//	if err != nil { /* fail-stop */ }
//	b.Commit(true)                           // only then answer the waiters
//	reply, _ := kv.DecodeResult(results[i])  // reply.Responses[0].Version == entries[i].Index
//
// and the leader's driver proposes what Due returns on every sweep tick.
//
// # State
//
// A data key /r/<g>/data/<key> holds the value, its version (the index of the
// entry that last changed the key's value or deadline, like etcd's
// mod_revision, so the entry index is a unique version) and its deadline.
// Every change of deadline or delete keeps /r/<g>/expiry/<deadline><key> (an
// empty value) in step. /r/<g>/stats holds the key count (Count answers DBSIZE
// without a scan) and the session sweep cursor. /r/<g>/applied holds
// storage.AppliedState {index, term, group time} of the last applied entry,
// written in the same batch. Digest hashes everything under /r/<g>/ but the
// applied key.
//
// # Expiry
//
// Group time is max(previous group time, the entry's leader stamp), so it
// never goes backwards under a new leader with a slower clock. A TTL is
// relative to group time. A key past its deadline still exists (reads and
// conditions judge existence by the replicated state only) until the
// EXPIRE-IF-DUE(key, version) the leader proposed from Due applies: it
// deletes the key only if its version is unchanged and its deadline has
// passed by group time, so a key set again since is untouched. A deadline
// set at or before group time (EXPIRE with a TTL <= 0, PUT or EXPIRE with an
// absolute deadline in the past) deletes the key at once, as Redis does.
// INCRBY and APPEND keep the deadline; PUT clears it unless KeepTTL.
//
// # Sessions
//
// A Command carries (client, seq, lowest unacknowledged seq); client 0 means
// no session. /r/<g>/sessions/<client> keeps the results of every applied seq
// from the window's bottom up to the highest applied one, so pipelined
// commands may apply and be retried in any order. For a command:
//
//   - seq 0, or seq below its own lowest-unacknowledged: CodeMalformed.
//   - a session idle longer than Config.SessionTTL (by group time, default
//     1 h) counts as absent (and is deleted on the spot).
//   - no session and lowest-unacknowledged > 1: the client has had answers,
//     so its session existed and expired: CodeSessionExpired, nothing applied.
//     Otherwise a new session starts.
//   - seq below the window: CodeSequenceBelowWindow, nothing applied.
//   - seq in the window: its stored result, byte for byte; nothing applied,
//     no version changes.
//   - else the command applies and its result joins the window.
//
// Then the window's bottom moves up to the lowest unacknowledged seq, and if
// more than Config.MaxWindow results remain the oldest are forgotten.
//
// NB: expired sessions are cleaned up by a sweep instead of an index by
// last activity, so that the key layout stays storage's: at every entry whose
// index is a multiple of Config.SweepEvery (64), up to Config.SweepMax (64)
// sessions are examined from a cursor kept in the stats and the expired ones
// deleted; the cursor wraps at the end. The work per entry is bounded, and
// it depends only on the entry index, never on how the driver batches
// entries into Apply calls, so every replica deletes the same sessions at the
// same index. Correctness does not wait for the sweep: an expired session is
// judged expired the moment a command finds it.
//
// # Determinism
//
// Apply's output depends only on the entries and the replicated state: no
// clock, no randomness, no map iteration reaches the batch or a result (the
// keys a command touches are written in the order it first touched them).
// Every replica must use the same Config. A bad command answers an encoded
// error Result; Apply's error return is only for storage failures and
// corrupt state, on which the driver fail-stops.
//
// # Encodings
//
// Command, Result, the stored record, the session and the stats each start
// with a version byte and use uvarints/zigzag varints and length-prefixed
// byte strings (see Command.AppendEncode and Reply.AppendEncode). Decoders
// never panic and never allocate from an unchecked length: every count and
// length is checked against the input that remains. Decoded byte fields alias
// the input.
package kv
