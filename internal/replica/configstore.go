package replica

import (
	"errors"
	"fmt"
)

// ConfigStore is a small replicated map an engine may keep its own
// configuration in: compare-and-swap, linearizable get and watch on keys
// of the meta group (group 0). The primary-backup engine keeps one record
// per partition in it (epoch, primary, in-sync set, ...) and changes it
// only by a CompareAndSwap on its version.
//
// Every call returns at once: group 0 is a group of the same driver as
// the engine's own, so an engine that waited for a meta-group write inside
// a round would wait for a round that cannot run. Answers come later, from
// a goroutine of the store's (the node's store), or when a simulation
// drains the queue of the in-memory store (MemConfigStore), never from
// inside the call that asked and never with a lock of the caller's held:
// done and fn may take the engine's locks and post to its inputs. They
// should return promptly all the same: the node's store calls every
// watcher's fn from one goroutine, and its stop waits for the done and fn
// calls under way. Answers to separate calls come in no promised order
// (each call of the node's store runs on its own goroutine): an engine
// that writes a key again waits for the answer to its last write, which
// the version chain makes it do anyway.
//
// Keys are the engine's own names (ValidConfigKey); the store keeps them
// apart from the meta group's other records (the node's store writes
// them under the meta group's "engine/" prefix). Versions: 0 means the
// key is absent; every write of a key gives it a higher version than any
// it had (the node's store uses the meta group's log index of the write,
// so versions are ordered but not consecutive: never assume +1). Keys are
// never deleted.
//
//	st.CompareAndSwap("pb/7", cur.Version, enc, func(v uint64, err error) {
//		var c *replica.ErrConfigConflict
//		switch {
//		case err == nil:                 // written at version v
//		case errors.As(err, &c):         // someone else wrote c.Version first: re-read, decide again
//		case errors.Is(err, ErrNotApplied): // certainly not written: retry when it suits
//		default:                         // indeterminate (or ErrStopped): Get to learn the outcome
//		}
//	})
//	cancel := st.Watch("pb/7", func(value []byte, version uint64) { ... })
//
// A HostConfig without a ConfigStore means the engine may not use one
// (Raft needs none).
type ConfigStore interface {
	// CompareAndSwap writes value at key if the key's version is still
	// version (0: only if the key is absent) and calls done exactly once:
	// with the key's new version and nil when it wrote it; with a
	// *ErrConfigConflict naming the key's current version and value when
	// the version differed (nothing written); with an error wrapping
	// ErrNotApplied when it certainly did not write it (the meta group
	// had no leader in time, an invalid key); otherwise with an error that
	// leaves the outcome unknown (ErrIndeterminate, ErrStopped): the write
	// may have happened, and a Get, or the conflict a retry with the same
	// version meets, whose Value is then the caller's own, tells. The
	// store keeps no reference to value.
	CompareAndSwap(key string, version uint64, value []byte, done func(newVersion uint64, err error))
	// Get reads key linearizably (it sees every write whose done was
	// called before Get was) and calls done exactly once with its value
	// and version (nil and 0 when absent), or an error and no value. The
	// value is the callee's own to keep.
	Get(key string, done func(value []byte, version uint64, err error))
	// Watch calls fn with the key's value when the watch starts, if the
	// key exists, and then with every newer version it sees, in order of
	// version: each call's version is higher than the last call's. It may
	// skip versions (a watcher that was slow, or a store that polls, sees
	// only the latest), so fn must treat each value as the whole current
	// state, never as a delta. Calls of fn for one watch are never
	// concurrent with each other. cancel stops the watch; it never waits
	// for fn (it may be called from fn, or with any lock held), so one
	// call already under way may still happen after it returns. Watches
	// end when the store stops.
	Watch(key string, fn func(value []byte, version uint64)) (cancel func())
}

// ErrConfigConflict: a CompareAndSwap found the key at another version
// than the one it named, and wrote nothing. Version and Value are the
// key's current ones (0 and nil when the key is absent).
type ErrConfigConflict struct {
	Key     string
	Version uint64
	Value   []byte
}

func (e *ErrConfigConflict) Error() string {
	if e.Version == 0 {
		return fmt.Sprintf("replica: config %q: version conflict: the key is absent", e.Key)
	}
	return fmt.Sprintf("replica: config %q: version conflict: the key is at version %d", e.Key, e.Version)
}

// MaxConfigKey is the longest key a ConfigStore takes, in bytes: far
// above what an engine names (a partition's record), far below the kv
// state machine's key limit with the store's prefix added.
const MaxConfigKey = 256

// ErrConfigKey: a key no ConfigStore takes (ValidConfigKey).
var ErrConfigKey = fmt.Errorf("%w: replica: config key must be 1..%d bytes", ErrNotApplied, MaxConfigKey)

// ValidConfigKey says whether a ConfigStore takes key: nil, or an error
// wrapping ErrConfigKey (and so ErrNotApplied).
func ValidConfigKey(key string) error {
	if len(key) == 0 || len(key) > MaxConfigKey {
		return fmt.Errorf("%w (got %d bytes)", ErrConfigKey, len(key))
	}
	return nil
}

// IsConfigConflict reports whether err is (or wraps) an
// *ErrConfigConflict, and returns it.
func IsConfigConflict(err error) (*ErrConfigConflict, bool) {
	var c *ErrConfigConflict
	ok := errors.As(err, &c)
	return c, ok
}
