package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Descriptor is a group's replicated membership: which replica lives on which
// node, the next replica ID to hand out, a version bumped by every change, and
// the engine's whole configuration (Raft's ConfState: voters, learners,
// outgoing voters, learners joining next, auto-leave), so that a restart in
// the middle of a joint change rebuilds it exactly.
//
// Invariant: every ID in Voters, Learners, VotersOutgoing and LearnersNext is
// in Replicas, and NextReplicaID is above every ID ever handed out.
type Descriptor struct {
	Group          GroupID
	Version        uint64
	NextReplicaID  ReplicaID
	Replicas       []Member // sorted by ID
	Voters         []ReplicaID
	Learners       []ReplicaID
	VotersOutgoing []ReplicaID
	LearnersNext   []ReplicaID
	AutoLeave      bool
}

// Replica returns the member with id.
func (d Descriptor) Replica(id ReplicaID) (Member, bool) {
	for _, m := range d.Replicas {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// ReplicaOn returns the member hosted on node.
func (d Descriptor) ReplicaOn(node string) (Member, bool) {
	for _, m := range d.Replicas {
		if m.Node == node {
			return m, true
		}
	}
	return Member{}, false
}

// Clone returns a deep copy.
func (d Descriptor) Clone() Descriptor {
	c := d
	c.Replicas = slices.Clone(d.Replicas)
	c.Voters = slices.Clone(d.Voters)
	c.Learners = slices.Clone(d.Learners)
	c.VotersOutgoing = slices.Clone(d.VotersOutgoing)
	c.LearnersNext = slices.Clone(d.LearnersNext)
	return c
}

// Joint reports whether the group is in a joint configuration.
func (d Descriptor) Joint() bool { return len(d.VotersOutgoing) > 0 }

const descriptorVersion = 1

// MaxReplicas bounds the replicas a descriptor may name, so a decoder never
// allocates unbounded memory from a corrupt count.
const MaxReplicas = 64

// Encode appends the descriptor's binary form to dst.
func (d Descriptor) Encode(dst []byte) []byte {
	dst = append(dst, descriptorVersion)
	dst = binary.AppendUvarint(dst, uint64(d.Group))
	dst = binary.AppendUvarint(dst, d.Version)
	dst = binary.AppendUvarint(dst, uint64(d.NextReplicaID))
	dst = binary.AppendUvarint(dst, uint64(len(d.Replicas)))
	for _, m := range d.Replicas {
		dst = binary.AppendUvarint(dst, uint64(m.ID))
		dst = binary.AppendUvarint(dst, uint64(len(m.Node)))
		dst = append(dst, m.Node...)
		dst = append(dst, byte(m.Role))
	}
	for _, ids := range [][]ReplicaID{d.Voters, d.Learners, d.VotersOutgoing, d.LearnersNext} {
		dst = binary.AppendUvarint(dst, uint64(len(ids)))
		for _, id := range ids {
			dst = binary.AppendUvarint(dst, uint64(id))
		}
	}
	if d.AutoLeave {
		return append(dst, 1)
	}
	return append(dst, 0)
}

var errDescriptor = errors.New("replica: malformed descriptor")

// DecodeDescriptor parses what Encode wrote; garbage gives an error.
func DecodeDescriptor(b []byte) (Descriptor, error) {
	var d Descriptor
	if len(b) == 0 || b[0] != descriptorVersion {
		return d, fmt.Errorf("%w: unknown version", errDescriptor)
	}
	r := reader{b: b[1:]}
	d.Group = GroupID(r.uvarint())
	d.Version = r.uvarint()
	d.NextReplicaID = ReplicaID(r.uvarint())
	n := r.uvarint()
	if n > MaxReplicas {
		return d, fmt.Errorf("%w: %d replicas", errDescriptor, n)
	}
	for range n {
		var m Member
		m.ID = ReplicaID(r.uvarint())
		m.Node = string(r.bytes(r.uvarint()))
		m.Role = Role(r.byte())
		d.Replicas = append(d.Replicas, m)
	}
	for _, ids := range []*[]ReplicaID{&d.Voters, &d.Learners, &d.VotersOutgoing, &d.LearnersNext} {
		n := r.uvarint()
		if n > MaxReplicas {
			return d, fmt.Errorf("%w: %d IDs", errDescriptor, n)
		}
		for range n {
			*ids = append(*ids, ReplicaID(r.uvarint()))
		}
	}
	d.AutoLeave = r.byte() == 1
	if r.err != nil {
		return Descriptor{}, fmt.Errorf("%w: %v", errDescriptor, r.err)
	}
	if len(r.b) != 0 {
		return Descriptor{}, fmt.Errorf("%w: %d trailing bytes", errDescriptor, len(r.b))
	}
	return d, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errors.New("length beyond input")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	b := r.bytes(1)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
