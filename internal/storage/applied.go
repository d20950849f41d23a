package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// AppliedState is the value of AppliedKey(g): the index and term of the last
// entry applied to group g's replicated state, and the group's logical time
// at that entry. The kv state machine writes it in the same batch as the
// effects of the entries it covers; the raft log reads it to answer
// Snapshot() and to refuse truncation past it.
type AppliedState struct {
	Index     uint64
	Term      uint64
	GroupTime int64
}

// appliedStateVersion is the first byte of an encoded AppliedState.
const appliedStateVersion = 1

// appliedStateLen is the encoded size: version + three fixed 8-byte fields.
const appliedStateLen = 1 + 8 + 8 + 8

// ErrCorrupt is returned (wrapped) by decoders when stored bytes cannot be
// decoded.
var ErrCorrupt = errors.New("storage: corrupt value")

// EncodeAppliedState appends the encoding of s to dst and returns it.
func EncodeAppliedState(dst []byte, s AppliedState) []byte {
	dst = append(dst, appliedStateVersion)
	dst = binary.BigEndian.AppendUint64(dst, s.Index)
	dst = binary.BigEndian.AppendUint64(dst, s.Term)
	return binary.BigEndian.AppendUint64(dst, uint64(s.GroupTime))
}

// DecodeAppliedState decodes a value written by EncodeAppliedState. Anything
// else (wrong length, unknown version) is an error wrapping ErrCorrupt.
func DecodeAppliedState(b []byte) (AppliedState, error) {
	if len(b) != appliedStateLen {
		return AppliedState{}, fmt.Errorf("%w: applied state is %d bytes, want %d", ErrCorrupt, len(b), appliedStateLen)
	}
	if b[0] != appliedStateVersion {
		return AppliedState{}, fmt.Errorf("%w: applied state version %d, want %d", ErrCorrupt, b[0], appliedStateVersion)
	}
	return AppliedState{
		Index:     binary.BigEndian.Uint64(b[1:]),
		Term:      binary.BigEndian.Uint64(b[9:]),
		GroupTime: int64(binary.BigEndian.Uint64(b[17:])),
	}, nil
}

// ReadAppliedState reads group's applied state from v; a group that has
// none yet has the zero AppliedState.
func ReadAppliedState(v View, group uint64) (AppliedState, error) {
	b, err := v.Get(AppliedKey(group))
	if errors.Is(err, ErrNotFound) {
		return AppliedState{}, nil
	}
	if err != nil {
		return AppliedState{}, fmt.Errorf("storage: group %d: read applied state: %w", group, err)
	}
	s, err := DecodeAppliedState(b)
	if err != nil {
		return AppliedState{}, fmt.Errorf("storage: group %d: %w", group, err)
	}
	return s, nil
}
