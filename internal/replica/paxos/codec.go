package paxos

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
	"github.com/cairnkv/cairn/internal/storage"
)

// This file holds every encoding of the engine: a log slot's value, the
// hard state, a membership change's entry data and the wire messages. Each
// starts with a version byte. Decoders take hostile bytes (from the network
// or a damaged disk) and return an error, never panic (FuzzDecode*).
//
// NB: slot values and the hard state are on disk: a new layout takes a new
// version, and the old one must still read.
//
//	slot:      1, uvarint epoch, uvarint round, uvarint replica, type, data (rest)
//	hardstate: (storage's version byte 1) epoch, round, replica, commit (8 bytes big-endian each)
//	change:    1, uvarint n, n × (kind, uvarint replica), context (rest)
//	section:   'P', 1, uvarint epoch, uvarint stop index (the descriptor's
//	           engine section; nil for epoch 0, the founding configuration)
const (
	slotVersion      = 1
	hardStateVersion = 1
	hardStateLen     = 32
	changeVersion    = 1
	msgVersion       = 1
	// sectionPaxos is the first byte of the engine section: not
	// replica's sectionJoint (1), so that the layers above never read it
	// as a joint configuration.
	sectionPaxos   = 'P'
	sectionVersion = 1
)

// encodeSection is the descriptor's engine section for epoch, begun by the
// stop at stopAt.
func encodeSection(epoch, stopAt uint64) []byte {
	if epoch == 0 && stopAt == 0 {
		return nil
	}
	b := []byte{sectionPaxos, sectionVersion}
	b = binary.AppendUvarint(b, epoch)
	return binary.AppendUvarint(b, stopAt)
}

func decodeSection(b []byte) (epoch, stopAt uint64, err error) {
	if len(b) == 0 {
		return 0, 0, nil
	}
	if len(b) < 2 || b[0] != sectionPaxos || b[1] != sectionVersion {
		return 0, 0, fmt.Errorf("%w: engine section", errCorrupt)
	}
	r := reader{b: b[2:]}
	epoch, stopAt = r.uvarint(), r.uvarint()
	if r.err != nil || len(r.b) != 0 {
		return 0, 0, fmt.Errorf("%w: engine section", errCorrupt)
	}
	return epoch, stopAt, nil
}

// errCorrupt wraps storage.ErrCorrupt for the engine's own decoders.
var errCorrupt = fmt.Errorf("paxos: %w", storage.ErrCorrupt)

// errMessage: the bytes are not a message of this engine.
var errMessage = errors.New("paxos: malformed message")

// slot is one log slot: the value an acceptor accepted and the ballot it
// accepted it at.
type slot struct {
	ballot Ballot
	typ    driver.EntryType
	data   []byte
}

func appendBallot(dst []byte, b Ballot) []byte {
	dst = binary.AppendUvarint(dst, b.Epoch)
	dst = binary.AppendUvarint(dst, b.Round)
	return binary.AppendUvarint(dst, uint64(b.Replica))
}

func encodeSlot(dst []byte, s *slot) []byte {
	dst = append(dst, slotVersion)
	dst = appendBallot(dst, s.ballot)
	dst = append(dst, byte(s.typ))
	return append(dst, s.data...)
}

// decodeSlot decodes a slot value; data is a copy.
func decodeSlot(b []byte) (*slot, error) {
	if len(b) < 1 || b[0] != slotVersion {
		return nil, fmt.Errorf("%w: slot version", errCorrupt)
	}
	r := reader{b: b[1:]}
	s := &slot{ballot: r.ballot()}
	t := r.byte()
	if r.err != nil || t > byte(driver.EntryChange) {
		return nil, fmt.Errorf("%w: slot header", errCorrupt)
	}
	s.typ = driver.EntryType(t)
	s.data = append([]byte(nil), r.b...)
	return s, nil
}

// hardState is what the engine keeps durable besides the log: its single
// promise for the group and its commit index (the contiguous prefix it
// knows chosen).
type hardState struct {
	promise Ballot
	commit  uint64
}

func encodeHardState(hs hardState) []byte {
	b := make([]byte, 0, hardStateLen)
	b = binary.BigEndian.AppendUint64(b, hs.promise.Epoch)
	b = binary.BigEndian.AppendUint64(b, hs.promise.Round)
	b = binary.BigEndian.AppendUint64(b, uint64(hs.promise.Replica))
	return binary.BigEndian.AppendUint64(b, hs.commit)
}

func decodeHardState(version byte, b []byte) (hardState, error) {
	if version != hardStateVersion || len(b) != hardStateLen {
		return hardState{}, fmt.Errorf("%w: hard state version %d, %d bytes", errCorrupt, version, len(b))
	}
	return hardState{
		promise: Ballot{
			Epoch:   binary.BigEndian.Uint64(b[0:]),
			Round:   binary.BigEndian.Uint64(b[8:]),
			Replica: replica.ReplicaID(binary.BigEndian.Uint64(b[16:])),
		},
		commit: binary.BigEndian.Uint64(b[24:]),
	}, nil
}

// encodeChange is the data of an EntryChange slot: the ops and the
// driver's context.
func encodeChange(c driver.Change) []byte {
	b := []byte{changeVersion}
	b = binary.AppendUvarint(b, uint64(len(c.Ops)))
	for _, op := range c.Ops {
		b = append(b, byte(op.Kind))
		b = binary.AppendUvarint(b, uint64(op.Replica))
	}
	return append(b, c.Context...)
}

func decodeChange(b []byte) (driver.Change, error) {
	if len(b) < 1 || b[0] != changeVersion {
		return driver.Change{}, fmt.Errorf("%w: change version", errCorrupt)
	}
	r := reader{b: b[1:]}
	n := r.count()
	var c driver.Change
	for range n {
		k := driver.ChangeKind(r.byte())
		id := replica.ReplicaID(r.uvarint())
		if r.err == nil && (k < driver.AddLearner || k > driver.Remove) {
			r.err = errCorrupt
		}
		c.Ops = append(c.Ops, driver.ChangeOp{Kind: k, Replica: id})
	}
	if r.err != nil {
		return driver.Change{}, fmt.Errorf("%w: change ops", errCorrupt)
	}
	c.Context = append([]byte(nil), r.b...)
	return c, nil
}

// msgType is what a message is.
type msgType uint8

const (
	msgPrePrepare     msgType = iota + 1 // would you promise Ballot? (persists nothing)
	msgPrePrepareResp                    // Reject, or not
	msgPrepare                           // phase 1a: promise Ballot, send accepted slots from Index
	msgPromise                           // phase 1b: a page of Slots, Commit, Trunc; More: ask again from Index
	msgAccept                            // phase 2a: accept Slots at Ballot; Commit piggybacked
	msgAccepted                          // phase 2b: Acks (durable), Commit; Index echoes the leader's commit
	msgHeartbeat                         // Ballot, Commit, Seq (read confirmation)
	msgHeartbeatResp                     // Seq, Current (promise == Ballot), Commit; Index echoes
	msgChosen                            // chosen Slots (catch-up), not ballot-bound
	msgCommitted                         // the receiver's durable Commit, after msgChosen
	msgFetch                             // send me chosen slots from Index
	msgSnapshot                          // a snapshot at Index/Term with Config, From → To
	msgTimeoutNow                        // campaign now (leadership transfer)
	msgReadIndex                         // a follower's read: Ctx
	msgReadIndexResp                     // Ctx, Index
	msgTypeMax
)

// countsMembership: a message of type t is an answer that a leader or a
// candidate counts (a vote, an ack, a catch-up request), which only a
// member of its configuration may give. The others come from a would-be
// or actual leader, and a replica takes them from any sender: a replica
// left behind a membership change does not know the replicas added since,
// one of which may lead by now, and it can learn the change only from
// that leader. Taking them is safe: an acceptor may promise or accept
// any ballot above its promise, and a ballot of a later epoch tops every
// ballot of the configuration the replica knows.
func (t msgType) countsMembership() bool {
	switch t {
	case msgPrePrepareResp, msgPromise, msgAccepted, msgHeartbeatResp, msgCommitted, msgFetch, msgReadIndex:
		return true
	}
	return false
}

const (
	flagReject    = 1 << 0 // a refusal; Ballot is the refuser's promise
	flagForce     = 1 << 1 // a prepare that ignores stickiness (transfer, Campaign)
	flagMore      = 1 << 2 // a promise page with more to come
	flagCurrent   = 1 << 3 // a heartbeat answer from an acceptor promised to exactly the ballot
	flagHasConfig = 1 << 4 // Config is set (snapshot)
	flagsKnown    = flagReject | flagForce | flagMore | flagCurrent | flagHasConfig
)

// wireSlot is a slot on the wire.
type wireSlot struct {
	Index  uint64
	Ballot Ballot
	Type   driver.EntryType
	Chosen bool // the sender knows it chosen (at or below its commit)
	Data   []byte
}

// message is every message of the engine; each type uses some fields
// (msgType's comments).
type message struct {
	Type     msgType
	Flags    uint8
	From, To replica.ReplicaID
	Ballot   Ballot
	Index    uint64
	Commit   uint64
	Trunc    uint64
	Term     uint64
	Seq      uint64
	Ctx      []byte
	Slots    []wireSlot
	Acks     []uint64 // ascending
	Config   driver.Conf
}

func (m *message) has(f uint8) bool { return m.Flags&f != 0 }

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendIDs(dst []byte, ids []replica.ReplicaID) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, uint64(id))
	}
	return dst
}

func encodeMessage(m *message) []byte {
	flags := m.Flags
	if len(m.Config.Voters)+len(m.Config.Learners)+len(m.Config.Engine) > 0 {
		flags |= flagHasConfig
	}
	b := make([]byte, 0, 64)
	b = append(b, msgVersion, byte(m.Type), flags)
	b = binary.AppendUvarint(b, uint64(m.From))
	b = binary.AppendUvarint(b, uint64(m.To))
	b = appendBallot(b, m.Ballot)
	for _, v := range [...]uint64{m.Index, m.Commit, m.Trunc, m.Term, m.Seq} {
		b = binary.AppendUvarint(b, v)
	}
	b = appendBytes(b, m.Ctx)
	b = binary.AppendUvarint(b, uint64(len(m.Slots)))
	for i := range m.Slots {
		s := &m.Slots[i]
		b = binary.AppendUvarint(b, s.Index)
		b = appendBallot(b, s.Ballot)
		chosen := byte(0)
		if s.Chosen {
			chosen = 1
		}
		b = append(b, byte(s.Type), chosen)
		b = appendBytes(b, s.Data)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Acks)))
	prev := uint64(0)
	for _, a := range m.Acks {
		b = binary.AppendUvarint(b, a-prev)
		prev = a
	}
	if flags&flagHasConfig != 0 {
		b = appendIDs(b, m.Config.Voters)
		b = appendIDs(b, m.Config.Learners)
		b = appendBytes(b, m.Config.Engine)
	}
	return b
}

// decodeMessage decodes hostile bytes; byte slices in the result are
// copies.
func decodeMessage(b []byte) (*message, error) {
	if len(b) < 3 || b[0] != msgVersion {
		return nil, errMessage
	}
	m := &message{Type: msgType(b[1]), Flags: b[2]}
	if m.Type == 0 || m.Type >= msgTypeMax || m.Flags&^flagsKnown != 0 {
		return nil, errMessage
	}
	r := reader{b: b[3:]}
	m.From = replica.ReplicaID(r.uvarint())
	m.To = replica.ReplicaID(r.uvarint())
	m.Ballot = r.ballot()
	m.Index, m.Commit, m.Trunc, m.Term, m.Seq = r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
	m.Ctx = r.bytes()
	n := r.count()
	if n > 0 {
		m.Slots = make([]wireSlot, 0, n)
	}
	for range n {
		s := wireSlot{Index: r.uvarint(), Ballot: r.ballot()}
		t, chosen := r.byte(), r.byte()
		if r.err == nil && (t > byte(driver.EntryChange) || chosen > 1) {
			r.err = errMessage
		}
		s.Type, s.Chosen = driver.EntryType(t), chosen == 1
		s.Data = r.bytes()
		m.Slots = append(m.Slots, s)
	}
	n = r.count()
	prev := uint64(0)
	for i := range n {
		d := r.uvarint()
		if r.err == nil && (i > 0 && d == 0 || prev+d < prev) {
			r.err = errMessage // not ascending
		}
		prev += d
		m.Acks = append(m.Acks, prev)
	}
	if m.has(flagHasConfig) {
		m.Config.Voters = r.ids()
		m.Config.Learners = r.ids()
		if e := r.bytes(); len(e) > 0 {
			m.Config.Engine = append([]byte(nil), e...)
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errMessage
	}
	return m, nil
}

// reader reads what the encoders append; the first failure sticks in err
// and every later read returns zero.
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
		r.err = errMessage
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errMessage
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// count reads a length that cannot exceed the bytes left (every counted
// item takes at least one byte), so a hostile count allocates nothing.
func (r *reader) count() uint64 {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errMessage
		return 0
	}
	return n
}

func (r *reader) bytes() []byte {
	n := r.count()
	if r.err != nil || n == 0 {
		return nil
	}
	out := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return out
}

func (r *reader) ballot() Ballot {
	return Ballot{Epoch: r.uvarint(), Round: r.uvarint(), Replica: replica.ReplicaID(r.uvarint())}
}

func (r *reader) ids() []replica.ReplicaID {
	n := r.count()
	var ids []replica.ReplicaID
	for range n {
		ids = append(ids, replica.ReplicaID(r.uvarint()))
	}
	return ids
}
