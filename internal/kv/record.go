package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is returned when replicated state read from storage does not
// decode; the driver must fail-stop.
var ErrCorrupt = errors.New("kv: corrupt replicated state")

const (
	recordVersion = 1
	statsVersion  = 1
)

// record is what a data key holds: value, version and deadline.
//
//	record = 0x01 version:uvarint deadline:varint value:rest
//
// The value takes the rest, so it needs no length prefix.
type record struct {
	Value    []byte
	Version  uint64 // index of the entry that last wrote the key (value or deadline)
	Deadline int64  // Unix nanoseconds by group time; 0: none
}

func (r *record) appendEncode(dst []byte) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, r.Version)
	dst = binary.AppendVarint(dst, r.Deadline)
	return append(dst, r.Value...)
}

// decodeRecord decodes a data key's value; Value aliases b.
func decodeRecord(b []byte) (record, error) {
	d := reader{b: b}
	if v := d.byte(); d.err == nil && v != recordVersion {
		d.fail(errVersion)
	}
	var r record
	r.Version = d.uvarint()
	r.Deadline = d.varint()
	if d.err == nil && (r.Version == 0 || r.Deadline < 0) {
		d.fail(errors.New("zero version or negative deadline"))
	}
	if d.err != nil {
		return record{}, fmt.Errorf("%w: data record: %v", ErrCorrupt, d.err)
	}
	r.Value = d.b
	if r.Value == nil {
		r.Value = []byte{}
	}
	return r, nil
}

// stats is what the stats key holds: counts kept in the replicated state so
// that DBSIZE needs no scan, and the cursor of the session sweep.
//
//	stats = 0x01 keys:uvarint sweep:uvarint
type stats struct {
	Keys uint64
	// Sweep is the client ID at which the next session sweep starts.
	Sweep uint64
}

func (s *stats) appendEncode(dst []byte) []byte {
	dst = append(dst, statsVersion)
	dst = binary.AppendUvarint(dst, s.Keys)
	return binary.AppendUvarint(dst, s.Sweep)
}

func decodeStats(b []byte) (stats, error) {
	d := reader{b: b}
	if v := d.byte(); d.err == nil && v != statsVersion {
		d.fail(errVersion)
	}
	var s stats
	s.Keys = d.uvarint()
	s.Sweep = d.uvarint()
	if err := d.done(); err != nil {
		return stats{}, fmt.Errorf("%w: stats: %v", ErrCorrupt, err)
	}
	return s, nil
}
