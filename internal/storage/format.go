package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FormatVersion is the storage format this binary reads and writes, kept
// under FormatKey (keys.go): the version of the key layout and of the
// encodings of everything stored under it, storage's and the engines'
// alike. FormatKey's value is a JSON record, {"format":N}; a later version
// may add fields but never renames this one, so that any binary can say
// which format it found.
//
//	1: the keys and values as they were when issue 13 added FormatKey (the
//	   log and applied state here, raft's entries and hard state in
//	   raftengine's logcodec.go, the descriptor, kv's data and sessions,
//	   cluster's records). Data directories made before FormatKey existed
//	   are format 1.
//
// A change to any stored bytes that an older binary would misread bumps it.
const FormatVersion = 1

// ErrFormatTooNew is returned (wrapped in a *FormatError) when the data
// directory was written in a format newer than FormatVersion: reading it
// could misread it.
var ErrFormatTooNew = errors.New("storage: data directory format too new")

// FormatError refuses a data directory in a format this binary does not
// read. It matches ErrFormatTooNew with errors.Is.
type FormatError struct {
	Found uint64 // the format in the data directory
	Reads uint64 // FormatVersion
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("storage: data directory format %d, this binary reads format %d; use a newer cairn", e.Found, e.Reads)
}

func (e *FormatError) Is(target error) bool { return target == ErrFormatTooNew }

// formatRecord is FormatKey's JSON.
type formatRecord struct {
	Format uint64 `json:"format"`
}

func encodeFormat(version uint64) []byte {
	b, err := json.Marshal(formatRecord{Format: version})
	if err != nil {
		panic(err) // a struct of one integer always marshals
	}
	return b
}

// decodeFormat decodes a FormatKey value: one JSON object with a positive
// "format" and nothing after it. Unknown fields are allowed (a later
// version may add some).
func decodeFormat(b []byte) (uint64, error) {
	var r formatRecord
	d := json.NewDecoder(strings.NewReader(string(b)))
	if err := d.Decode(&r); err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrCorrupt, FormatKey, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return 0, fmt.Errorf("%w: %s: trailing data", ErrCorrupt, FormatKey)
	}
	if r.Format == 0 {
		return 0, fmt.Errorf("%w: %s: no format in %q", ErrCorrupt, FormatKey, b)
	}
	return r.Format, nil
}

// CheckFormat reads the storage format recorded in v and refuses one this
// binary cannot read: a newer one with a *FormatError (ErrFormatTooNew), an
// undecodable record with an error wrapping ErrCorrupt. It returns 0 when v
// holds no FormatKey: an empty store, or a data directory made before the
// key existed, which is format 1 (whoever opens it as a node's store writes
// the key, with SetFormat). Call it before reading anything else.
func CheckFormat(v View) (uint64, error) {
	b, err := v.Get(FormatKey)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage: read %s: %w", FormatKey, err)
	}
	found, err := decodeFormat(b)
	if err != nil {
		return 0, err
	}
	if found > FormatVersion {
		return found, &FormatError{Found: found, Reads: FormatVersion}
	}
	return found, nil
}

// SetFormat stages FormatKey with this binary's FormatVersion: with a new
// node's first records, or into a data directory from before the key.
func SetFormat(b Batch) error {
	if err := b.Set(FormatKey, encodeFormat(FormatVersion)); err != nil {
		return fmt.Errorf("storage: write %s: %w", FormatKey, err)
	}
	return nil
}
