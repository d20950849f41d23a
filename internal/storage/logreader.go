package storage

import (
	"errors"
	"fmt"
)

// LogReader reads the logs of a node's groups, whichever store keeps them:
// ViewLog reads the store's keyspace (/u/<group>/…); the node's segmented
// log store (internal/storage/logstore) is the other implementation. It is
// LogWriter's other half: an engine reads its log through a LogReader and
// stages writes to it through a LogWriter.
type LogReader interface {
	// ReadTruncated is the group's truncated point (zero if none).
	ReadTruncated(g uint64) (LogPoint, error)
	// ReadHardState is the group's hard state: the engine's version byte
	// and bytes; an error wrapping ErrNotFound if it has none.
	ReadHardState(g uint64) (version byte, state []byte, err error)
	// ScanLog calls f for each slot in [lo, hi), in index order, skipping
	// holes, until f returns false or an error; value is valid only
	// during the call.
	ScanLog(g, lo, hi uint64, f func(index uint64, value []byte) (more bool, err error)) error
	// ReadLogSlot returns a copy of one slot, or an error wrapping
	// ErrNotFound.
	ReadLogSlot(g, index uint64) ([]byte, error)
}

// ViewLog is the LogReader of the logs kept in a View's keyspace: the
// free functions of log.go on View.
type ViewLog struct{ View View }

var _ LogReader = ViewLog{}

// ReadTruncated implements LogReader (ReadTruncated).
func (l ViewLog) ReadTruncated(g uint64) (LogPoint, error) { return ReadTruncated(l.View, g) }

// ReadHardState implements LogReader (ReadHardState). A group with no
// hard state gives ErrNotFound itself, unwrapped: the simulation's checker
// asks every store for every group, and most hold no replica of most.
func (l ViewLog) ReadHardState(g uint64) (byte, []byte, error) {
	b, err := l.View.Get(HardStateKey(g))
	if errors.Is(err, ErrNotFound) {
		return 0, nil, ErrNotFound
	}
	if err != nil {
		return 0, nil, fmt.Errorf("storage: group %d: read hard state: %w", g, err)
	}
	version, state, err := splitHardState(b)
	if err != nil {
		return 0, nil, fmt.Errorf("storage: group %d: %w", g, err)
	}
	return version, state, nil
}

// ScanLog implements LogReader (ScanLog).
func (l ViewLog) ScanLog(g, lo, hi uint64, f func(index uint64, value []byte) (bool, error)) error {
	return ScanLog(l.View, g, lo, hi, f)
}

// ReadLogSlot implements LogReader (ReadLogSlot).
func (l ViewLog) ReadLogSlot(g, index uint64) ([]byte, error) { return ReadLogSlot(l.View, g, index) }
