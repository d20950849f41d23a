package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Descriptor is a group's replicated membership, in two parts.
//
// The neutral part, which every layer above the engine may read: which
// replica lives on which node, the next replica ID to hand out, a version
// bumped by every change, and the voters and learners of the group's
// configuration.
//
// The engine section, Engine: bytes only the group's engine interprets,
// so that a restart rebuilds its whole configuration exactly (Raft: its
// joint configuration; a primary-backup engine: its epoch, primary and
// in-sync set). nil when the engine keeps nothing there. The layers above
// learn what they need of it through Joint and Outgoing, never by decoding
// it. An engine doing joint consensus (Raft) uses JointConf's format; an
// engine with a section of its own gives it a first byte other than
// sectionJoint.
//
// Invariant: every ID in Voters, Learners and the engine section is in
// Replicas, and NextReplicaID is above every ID ever handed out.
type Descriptor struct {
	Group         GroupID
	Version       uint64
	NextReplicaID ReplicaID
	Replicas      []Member // sorted by ID
	Voters        []ReplicaID
	Learners      []ReplicaID
	Engine        []byte
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
	c.Engine = slices.Clone(d.Engine)
	return c
}

// Joint reports whether the group is in the middle of a configuration
// change that its engine finishes by itself (Raft: a joint
// configuration): the planner waits for it to end.
func (d Descriptor) Joint() bool { return len(d.Outgoing()) > 0 }

// Outgoing returns, during a change, the voters of the configuration the
// group is leaving, which must keep a majority too until it ends (Raft's
// outgoing voters); nil otherwise, and for an engine section that is not
// a joint configuration's.
func (d Descriptor) Outgoing() []ReplicaID {
	j, err := JointOf(d.Engine)
	if err != nil {
		return nil
	}
	return j.Outgoing
}

// The descriptor's encodings, by their first byte.
//
// Version 1 (every descriptor written before the engine section, and
// still what Encode writes when it can say everything): the neutral part,
// then Raft's joint fields (outgoing voters, learners next, auto-leave).
//
// Version 2: the neutral part, then the engine section, length-prefixed.
// Encode writes it only for an engine section that version 1 cannot hold
// (an engine other than a joint-consensus one), so that what Raft groups
// store stays byte for byte what it was, and a binary from before reads it.
const (
	descriptorV1 = 1
	descriptorV2 = 2
)

// MaxReplicas bounds the replicas a descriptor may name, so a decoder never
// allocates unbounded memory from a corrupt count.
const MaxReplicas = 64

// Encode appends the descriptor's binary form to dst.
func (d Descriptor) Encode(dst []byte) []byte {
	j, err := JointOf(d.Engine)
	v1 := err == nil && bytes.Equal(j.Section(), d.Engine)
	if v1 {
		dst = append(dst, descriptorV1)
	} else {
		dst = append(dst, descriptorV2)
	}
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
	dst = appendIDs(dst, d.Voters, d.Learners)
	if v1 {
		return j.appendFields(dst)
	}
	dst = binary.AppendUvarint(dst, uint64(len(d.Engine)))
	return append(dst, d.Engine...)
}

func appendIDs(dst []byte, sets ...[]ReplicaID) []byte {
	for _, ids := range sets {
		dst = binary.AppendUvarint(dst, uint64(len(ids)))
		for _, id := range ids {
			dst = binary.AppendUvarint(dst, uint64(id))
		}
	}
	return dst
}

var errDescriptor = errors.New("replica: malformed descriptor")

// DecodeDescriptor parses what Encode wrote, in either version; garbage
// gives an error. A version 1 descriptor's joint fields become the engine
// section of a joint configuration (JointConf), which Raft reads.
func DecodeDescriptor(b []byte) (Descriptor, error) {
	var d Descriptor
	if len(b) == 0 || (b[0] != descriptorV1 && b[0] != descriptorV2) {
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
	if err := r.ids(&d.Voters, &d.Learners); err != nil {
		return d, err
	}
	if b[0] == descriptorV1 {
		var j JointConf
		if err := j.readFields(&r); err != nil {
			return d, err
		}
		d.Engine = j.Section()
	} else if sec := r.bytes(r.uvarint()); len(sec) > 0 {
		d.Engine = slices.Clone(sec)
	}
	if r.err != nil {
		return Descriptor{}, fmt.Errorf("%w: %v", errDescriptor, r.err)
	}
	if len(r.b) != 0 {
		return Descriptor{}, fmt.Errorf("%w: %d trailing bytes", errDescriptor, len(r.b))
	}
	return d, nil
}

// ids reads one count-prefixed list of IDs into each of sets.
func (r *reader) ids(sets ...*[]ReplicaID) error {
	for _, ids := range sets {
		n := r.uvarint()
		if n > MaxReplicas {
			return fmt.Errorf("%w: %d IDs", errDescriptor, n)
		}
		for range n {
			*ids = append(*ids, ReplicaID(r.uvarint()))
		}
	}
	return nil
}

// JointConf is the engine section of an engine doing joint consensus
// (Raft's ConfState beyond its voters and learners): during a change, the
// voters of the configuration being left, the learners that join when it
// ends, and whether the engine leaves the joint configuration by itself.
// Its format is a first byte sectionJoint, then version 1's joint fields;
// the zero JointConf (a single configuration) is no section at all, nil.
//
// It lives here, not in the engine, because version 1 descriptors (on disk
// in every data directory and in the founding bytes) hold these fields in
// the neutral encoding, and because the layers above need the outgoing
// voters (the liveness rule, /v1/cluster, a peer's routing entry) without
// importing an engine. Only the engine and Descriptor's accessors read it.
type JointConf struct {
	Outgoing     []ReplicaID
	LearnersNext []ReplicaID
	AutoLeave    bool
}

// sectionJoint is the first byte of a JointConf section: its format
// version. Another engine's section starts with another byte.
const sectionJoint = 1

// Section returns j's engine section; nil for the zero JointConf.
func (j JointConf) Section() []byte {
	if len(j.Outgoing) == 0 && len(j.LearnersNext) == 0 && !j.AutoLeave {
		return nil
	}
	return j.appendFields([]byte{sectionJoint})
}

func (j JointConf) appendFields(dst []byte) []byte {
	dst = appendIDs(dst, j.Outgoing, j.LearnersNext)
	if j.AutoLeave {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (j *JointConf) readFields(r *reader) error {
	if err := r.ids(&j.Outgoing, &j.LearnersNext); err != nil {
		return err
	}
	j.AutoLeave = r.byte() == 1
	return nil
}

// JointOf decodes an engine section that Section wrote: the zero
// JointConf for nil, an error for a section of another format or garbage.
func JointOf(section []byte) (JointConf, error) {
	var j JointConf
	if len(section) == 0 {
		return j, nil
	}
	if section[0] != sectionJoint {
		return j, fmt.Errorf("%w: engine section of format %d, not a joint configuration's", errDescriptor, section[0])
	}
	r := reader{b: section[1:]}
	if err := j.readFields(&r); err != nil {
		return JointConf{}, err
	}
	if r.err != nil {
		return JointConf{}, fmt.Errorf("%w: joint configuration: %v", errDescriptor, r.err)
	}
	if len(r.b) != 0 {
		return JointConf{}, fmt.Errorf("%w: joint configuration: %d trailing bytes", errDescriptor, len(r.b))
	}
	return j, nil
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
