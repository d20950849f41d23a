package storage

import (
	"fmt"
	"math"
)

// LogWriter stages writes to the logs of any number of groups, for one
// write and one fsync: the engine-neutral log operations of this file's
// neighbour log.go, as a seam, so that an engine's Stage methods write a
// group's log without knowing which store keeps it. BatchLog keeps it in
// the Pebble keyspace (/u/<group>/…), as every node does today; a node's
// segmented log store (internal/storage/logstore, issue 17) is the other
// implementation the driver can hand an engine.
//
// A LogWriter only stages: what it staged is written by its owner (the
// driver), all or nothing. Stage a group's hard state after the entries
// it covers: it must never be durable ahead of them.
type LogWriter interface {
	// AppendLog stages n slots at first, first+1, … and deletes the slots
	// after them up to prevLast (Raft's tail replacement); see AppendLog.
	AppendLog(g, prevLast, first uint64, n int, value func(i int, dst []byte) []byte) (added, removed uint64, err error)
	// SetLogSlot stages one slot, leaving every other as it is (a Paxos
	// slot among holes).
	SetLogSlot(g, index uint64, value []byte) error
	// DeleteLogAfter stages the deletion of every slot above last (a
	// divergent suffix).
	DeleteLogAfter(g, last uint64) error
	// TruncateLog stages the deletion of the slots up to to.Index and
	// records to as the truncated point; see TruncateLog.
	TruncateLog(g uint64, to LogPoint) error
	// SetSnapshotPoint stages at as the truncated point after a snapshot,
	// deleting what keep does not keep; see SetSnapshotPoint.
	SetSnapshotPoint(g uint64, at LogPoint, keep LogKeep) error
	// SetHardState stages the engine's hard state; see SetHardState.
	SetHardState(g uint64, version byte, state []byte) error
}

// BatchLog is the LogWriter of a log kept in the store's keyspace: it
// stages into the Batch, which carries the round's other writes too.
type BatchLog struct{ Batch Batch }

// LogOf returns the LogWriter staging into b.
func LogOf(b Batch) BatchLog { return BatchLog{Batch: b} }

// AppendLog implements LogWriter (AppendLog).
func (l BatchLog) AppendLog(g, prevLast, first uint64, n int, value func(i int, dst []byte) []byte) (uint64, uint64, error) {
	return AppendLog(l.Batch, g, prevLast, first, n, value)
}

// SetLogSlot implements LogWriter (SetLogSlot).
func (l BatchLog) SetLogSlot(g, index uint64, value []byte) error {
	return SetLogSlot(l.Batch, g, index, value)
}

// DeleteLogAfter implements LogWriter.
func (l BatchLog) DeleteLogAfter(g, last uint64) error {
	if last == math.MaxUint64 {
		return nil
	}
	_, end := LogSpan(g)
	if err := l.Batch.DeleteRange(logKeyBefore(g, last+1), end); err != nil {
		return fmt.Errorf("storage: group %d: delete the log after %d: %w", g, last, err)
	}
	return nil
}

// TruncateLog implements LogWriter (TruncateLog: refused past the applied
// index read through the batch).
func (l BatchLog) TruncateLog(g uint64, to LogPoint) error { return TruncateLog(l.Batch, g, to) }

// SetSnapshotPoint implements LogWriter (SetSnapshotPoint).
func (l BatchLog) SetSnapshotPoint(g uint64, at LogPoint, keep LogKeep) error {
	return SetSnapshotPoint(l.Batch, g, at, keep)
}

// SetHardState implements LogWriter (SetHardState).
func (l BatchLog) SetHardState(g uint64, version byte, state []byte) error {
	return SetHardState(l.Batch, g, version, state)
}
