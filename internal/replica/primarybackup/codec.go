package primarybackup

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// This file holds every encoding of the engine: the configuration record
// kept in the meta group, a log entry's stored value, the hard state, the
// descriptor's engine section and the wire messages. Each starts with a
// version byte. Decoders take hostile bytes (from the network, the meta
// group or a damaged disk) and return an error, never panic (FuzzDecode*).
//
// NB: entries, the hard state and the record are stored: a new layout takes
// a new version, and the old one must still read.
//
//	record:    1, epoch, primary, n × replica, n × in-sync, next replica,
//	           n × (replica, offset), renewals  (uvarints; n as a uvarint count)
//	entry:     1, uvarint epoch, 8-byte h, type, data (rest)
//	hardstate: (storage's version byte 2) epoch, commit, trunc h, record
//	           version, record (bytes), n × (epoch, first offset), rebuild
//	           (version 1: without rebuild)
//	section:   'B', 1, uvarint epoch, uvarint primary, n × in-sync
//	message:   1, type, then the fields of message in order (encodeMessage)
const (
	recordVersion = 1
	entryVersion  = 1
	// hardStateVersion 2 adds the rebuild point after the history;
	// version 1 still reads (no rebuild).
	hardStateVersion = 2
	msgVersion       = 1
	changeVersion    = 1
	// sectionPB is the first byte of the descriptor's engine section: not
	// replica's sectionJoint (1) nor Paxos's 'P'.
	sectionPB      = 'B'
	sectionVersion = 1

	// maxCount bounds any count a decoder reads (replicas, entries,
	// epochs), so that a hostile count never allocates much.
	maxCount = 1 << 16
)

var (
	errCorrupt = errors.New("primarybackup: corrupt encoding")
	errMessage = errors.New("primarybackup: malformed message")
)

// chain is the chained hash of an entry: h = H(prev h ‖ epoch ‖ offset ‖
// type ‖ data), the first 8 bytes of SHA-256. Equal h at an offset means
// equal logs up to it (with overwhelming probability), so a backup and a
// primary compare one number per offset, never scan.
func chain(prev, epoch, offset uint64, typ driver.EntryType, data []byte) uint64 {
	var hdr [25]byte
	binary.BigEndian.PutUint64(hdr[0:], prev)
	binary.BigEndian.PutUint64(hdr[8:], epoch)
	binary.BigEndian.PutUint64(hdr[16:], offset)
	hdr[24] = byte(typ)
	d := sha256.New()
	d.Write(hdr[:])
	d.Write(data)
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(d.Sum(sum[:0]))
}

// Record is a partition's configuration as the meta group keeps it (key
// recordKey), changed only by a compare-and-swap on its version, which the
// store keeps beside it (not inside the value).
type Record struct {
	// Epoch names the primary's tenure; a new primary is always a new
	// epoch. Invariant: it never decreases for a key.
	Epoch   uint64
	Primary replica.ReplicaID
	// Replicas are the group's members; InSync those that have every
	// entry the primary acknowledged (the primary among them). Both sorted.
	Replicas, InSync []replica.ReplicaID
	NextReplica      replica.ReplicaID
	// Offsets are the members' last durable offsets as the record's
	// writer knew them, which failover prefers the highest of.
	Offsets []Offset
	// Renewals counts the primary's lease renewals: each is a write, so
	// the record's version moves while the primary lives (Core.Tick).
	Renewals uint64
}

// Offset is a member's durable log offset.
type Offset struct {
	Replica replica.ReplicaID
	Offset  uint64
}

func (r Record) clone() Record {
	r.Replicas, r.InSync, r.Offsets = slices.Clone(r.Replicas), slices.Clone(r.InSync), slices.Clone(r.Offsets)
	return r
}

func (r Record) inSync(id replica.ReplicaID) bool { return slices.Contains(r.InSync, id) }

// withInSync returns r with id added to (add) or removed from the in-sync set.
func (r Record) withInSync(id replica.ReplicaID, add bool) Record {
	n := r.clone()
	n.InSync = slices.DeleteFunc(n.InSync, func(x replica.ReplicaID) bool { return x == id })
	if add {
		n.InSync = append(n.InSync, id)
		slices.Sort(n.InSync)
	}
	return n
}

// withOffsets returns r with the offsets of offs (nil: unchanged).
func (r Record) withOffsets(offs map[replica.ReplicaID]uint64) Record {
	if offs == nil {
		return r
	}
	r.Offsets = nil
	for _, id := range r.Replicas {
		if o, ok := offs[id]; ok {
			r.Offsets = append(r.Offsets, Offset{id, o})
		}
	}
	return r
}

func appendIDs(dst []byte, ids []replica.ReplicaID) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, uint64(id))
	}
	return dst
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// EncodeRecord encodes r (its value in the meta group).
func EncodeRecord(r Record) []byte {
	b := []byte{recordVersion}
	b = binary.AppendUvarint(b, r.Epoch)
	b = binary.AppendUvarint(b, uint64(r.Primary))
	b = appendIDs(b, r.Replicas)
	b = appendIDs(b, r.InSync)
	b = binary.AppendUvarint(b, uint64(r.NextReplica))
	b = binary.AppendUvarint(b, uint64(len(r.Offsets)))
	for _, o := range r.Offsets {
		b = binary.AppendUvarint(b, uint64(o.Replica))
		b = binary.AppendUvarint(b, o.Offset)
	}
	return binary.AppendUvarint(b, r.Renewals)
}

// DecodeRecord decodes a record; an error, never a panic, for bad bytes.
func DecodeRecord(b []byte) (Record, error) {
	var r Record
	if len(b) < 1 || b[0] != recordVersion {
		return r, fmt.Errorf("%w: record version", errCorrupt)
	}
	rd := reader{b: b[1:]}
	r.Epoch = rd.uvarint()
	r.Primary = replica.ReplicaID(rd.uvarint())
	r.Replicas = rd.ids()
	r.InSync = rd.ids()
	r.NextReplica = replica.ReplicaID(rd.uvarint())
	n := rd.count()
	for range n {
		r.Offsets = append(r.Offsets, Offset{replica.ReplicaID(rd.uvarint()), rd.uvarint()})
	}
	r.Renewals = rd.uvarint()
	if rd.err != nil || len(rd.b) != 0 {
		return Record{}, fmt.Errorf("%w: record", errCorrupt)
	}
	return r, nil
}

// entry is one log entry in memory: (epoch, offset = its index, h).
type entry struct {
	epoch uint64
	hash  uint64
	typ   driver.EntryType
	data  []byte
}

func encodeEntry(dst []byte, e *entry) []byte {
	dst = append(dst, entryVersion)
	dst = binary.AppendUvarint(dst, e.epoch)
	dst = binary.BigEndian.AppendUint64(dst, e.hash)
	dst = append(dst, byte(e.typ))
	return append(dst, e.data...)
}

func decodeEntry(b []byte) (*entry, error) {
	if len(b) < 1 || b[0] != entryVersion {
		return nil, fmt.Errorf("%w: entry version", errCorrupt)
	}
	rd := reader{b: b[1:]}
	e := &entry{epoch: rd.uvarint()}
	e.hash = rd.u64()
	e.typ = driver.EntryType(rd.byte())
	if rd.err != nil || e.typ > driver.EntryChange {
		return nil, fmt.Errorf("%w: entry", errCorrupt)
	}
	e.data = slices.Clone(rd.b)
	return e, nil
}

// epochStart says where an epoch's entries begin in the log: the epoch
// history, which lets a primary find a backup's divergence point by
// epochs instead of by scanning.
type epochStart struct {
	Epoch, First uint64
}

// hardState is what a replica keeps durably besides its log.
type hardState struct {
	// epoch is the highest epoch this replica followed or led.
	// Invariant: it never decreases.
	epoch  uint64
	commit uint64
	// truncHash is h at the truncated point (0: unknown, after a snapshot).
	truncHash uint64
	// recVersion and rec are the configuration record as last known
	// (recVersion 0: the founding one, not read from the store yet).
	recVersion uint64
	rec        Record
	history    []epochStart
	// rebuild is Core.rebuild (0: none).
	rebuild uint64
}

func encodeHardState(hs hardState) []byte {
	var b []byte
	b = binary.AppendUvarint(b, hs.epoch)
	b = binary.AppendUvarint(b, hs.commit)
	b = binary.BigEndian.AppendUint64(b, hs.truncHash)
	b = binary.AppendUvarint(b, hs.recVersion)
	b = appendBytes(b, EncodeRecord(hs.rec))
	b = binary.AppendUvarint(b, uint64(len(hs.history)))
	for _, h := range hs.history {
		b = binary.AppendUvarint(b, h.Epoch)
		b = binary.AppendUvarint(b, h.First)
	}
	return binary.AppendUvarint(b, hs.rebuild)
}

func decodeHardState(version byte, b []byte) (hardState, error) {
	var hs hardState
	if version != hardStateVersion && version != 1 {
		return hs, fmt.Errorf("%w: hard state version %d", errCorrupt, version)
	}
	rd := reader{b: b}
	hs.epoch = rd.uvarint()
	hs.commit = rd.uvarint()
	hs.truncHash = rd.u64()
	hs.recVersion = rd.uvarint()
	rb := rd.bytes()
	n := rd.count()
	for range n {
		hs.history = append(hs.history, epochStart{rd.uvarint(), rd.uvarint()})
	}
	if version >= 2 {
		hs.rebuild = rd.uvarint()
	}
	if rd.err != nil || len(rd.b) != 0 {
		return hardState{}, fmt.Errorf("%w: hard state", errCorrupt)
	}
	var err error
	if hs.rec, err = DecodeRecord(rb); err != nil {
		return hardState{}, err
	}
	return hs, nil
}

// encodeSection is the descriptor's engine section: the epoch, primary
// and in-sync set the replica knows.
func encodeSection(r Record) []byte {
	b := []byte{sectionPB, sectionVersion}
	b = binary.AppendUvarint(b, r.Epoch)
	b = binary.AppendUvarint(b, uint64(r.Primary))
	return appendIDs(b, r.InSync)
}

// decodeSection reads an engine section; nil gives the zero record (a
// founding descriptor written without one).
func decodeSection(b []byte) (Record, error) {
	var r Record
	if len(b) == 0 {
		return r, nil
	}
	if len(b) < 2 || b[0] != sectionPB || b[1] != sectionVersion {
		return r, fmt.Errorf("%w: engine section", errCorrupt)
	}
	rd := reader{b: b[2:]}
	r.Epoch = rd.uvarint()
	r.Primary = replica.ReplicaID(rd.uvarint())
	r.InSync = rd.ids()
	if rd.err != nil || len(rd.b) != 0 {
		return Record{}, fmt.Errorf("%w: engine section", errCorrupt)
	}
	return r, nil
}

// msgType is a wire message's kind.
type msgType uint8

const (
	msgAppend     msgType = iota + 1 // primary → member: entries after Prev (none: a heartbeat), commit, read round Seq
	msgAppendResp                    // member → primary: Index matched (durable), or Reject with its Last
	msgSnapshot                      // primary → member: the state at Index (the driver rewrites it)
	msgStore                         // the shell → its own core: the configuration store's answer to Op
	msgTakeOver                      // old primary → successor: the record (Record, Version) names it primary now
)

func (t msgType) String() string {
	switch t {
	case msgAppend:
		return "Append"
	case msgAppendResp:
		return "AppendResp"
	case msgSnapshot:
		return "Snapshot"
	case msgStore:
		return "Store"
	case msgTakeOver:
		return "TakeOver"
	}
	return fmt.Sprintf("msg(%d)", t)
}

// point is a log position with its epoch and chained hash.
type point struct {
	Index, Epoch, Hash uint64
}

// wireEntry is an entry on the wire; its offset is its place after Prev.
type wireEntry struct {
	Epoch, Hash uint64
	Type        driver.EntryType
	Data        []byte
}

// storeResult is how a configuration store call ended.
type storeResult uint8

const (
	storeOK         storeResult = iota // written (or read)
	storeConflict                      // another version: Version and Value are the key's
	storeNotApplied                    // certainly not written
	storeUnknown                       // the outcome is unknown
)

// message is every wire message, one struct (fields a type does not use
// are zero).
type message struct {
	Type    msgType
	Epoch   uint64
	From    replica.ReplicaID
	To      replica.ReplicaID
	Version uint64 // Append: the record's version; Store: the key's version
	Record  Record // Append: the primary's record
	Prev    point
	Entries []wireEntry
	Commit  uint64
	Seq     uint64
	Index   uint64 // AppendResp: matched up to; Snapshot: its point
	Term    uint64 // Snapshot: the epoch at Index; AppendResp: the epoch of the message it answers
	Reject  bool
	Last    point // AppendResp (Reject): the member's entry at or below Prev
	Conf    driver.Conf
	Op      uint64 // Store: which call
	Result  storeResult
	Value   []byte // Store: the key's value
}

func encodeMessage(m *message) []byte {
	b := []byte{msgVersion, byte(m.Type)}
	for _, v := range []uint64{m.Epoch, uint64(m.From), uint64(m.To), m.Version} {
		b = binary.AppendUvarint(b, v)
	}
	b = appendBytes(b, EncodeRecord(m.Record))
	b = binary.AppendUvarint(b, m.Prev.Index)
	b = binary.AppendUvarint(b, m.Prev.Epoch)
	b = binary.BigEndian.AppendUint64(b, m.Prev.Hash)
	b = binary.AppendUvarint(b, uint64(len(m.Entries)))
	for _, e := range m.Entries {
		b = binary.AppendUvarint(b, e.Epoch)
		b = binary.BigEndian.AppendUint64(b, e.Hash)
		b = append(b, byte(e.Type))
		b = appendBytes(b, e.Data)
	}
	for _, v := range []uint64{m.Commit, m.Seq, m.Index, m.Term} {
		b = binary.AppendUvarint(b, v)
	}
	if m.Reject {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, m.Last.Index)
	b = binary.AppendUvarint(b, m.Last.Epoch)
	b = binary.BigEndian.AppendUint64(b, m.Last.Hash)
	b = appendIDs(b, m.Conf.Voters)
	b = appendIDs(b, m.Conf.Learners)
	b = appendBytes(b, m.Conf.Engine)
	b = binary.AppendUvarint(b, m.Op)
	b = append(b, byte(m.Result))
	return appendBytes(b, m.Value)
}

func decodeMessage(b []byte) (*message, error) {
	if len(b) < 2 || b[0] != msgVersion {
		return nil, fmt.Errorf("%w: version", errMessage)
	}
	m := &message{Type: msgType(b[1])}
	if m.Type < msgAppend || m.Type > msgTakeOver {
		return nil, fmt.Errorf("%w: type %d", errMessage, b[1])
	}
	rd := reader{b: b[2:]}
	m.Epoch = rd.uvarint()
	m.From = replica.ReplicaID(rd.uvarint())
	m.To = replica.ReplicaID(rd.uvarint())
	m.Version = rd.uvarint()
	rb := rd.bytes()
	m.Prev = point{rd.uvarint(), rd.uvarint(), rd.u64()}
	n := rd.count()
	for range n {
		e := wireEntry{Epoch: rd.uvarint(), Hash: rd.u64(), Type: driver.EntryType(rd.byte())}
		e.Data = rd.bytes()
		if e.Type > driver.EntryChange {
			rd.fail()
		}
		m.Entries = append(m.Entries, e)
	}
	m.Commit, m.Seq, m.Index, m.Term = rd.uvarint(), rd.uvarint(), rd.uvarint(), rd.uvarint()
	switch rd.byte() {
	case 0:
	case 1:
		m.Reject = true
	default:
		rd.fail()
	}
	m.Last = point{rd.uvarint(), rd.uvarint(), rd.u64()}
	m.Conf.Voters = rd.ids()
	m.Conf.Learners = rd.ids()
	m.Conf.Engine = rd.bytes()
	m.Op = rd.uvarint()
	m.Result = storeResult(rd.byte())
	m.Value = rd.bytes()
	if rd.err != nil || len(rd.b) != 0 || m.Result > storeUnknown {
		return nil, fmt.Errorf("%w: %s", errMessage, m.Type)
	}
	if len(m.Conf.Engine) == 0 {
		m.Conf.Engine = nil
	}
	if len(m.Value) == 0 {
		m.Value = nil
	}
	var err error
	if m.Record, err = DecodeRecord(rb); err != nil {
		return nil, fmt.Errorf("%w: %w", errMessage, err)
	}
	return m, nil
}

// reader decodes with the first error sticky: every read after it gives zero.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errCorrupt
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) count() uint64 {
	n := r.uvarint()
	if n > maxCount || n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return n
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := slices.Clone(r.b[:n])
	r.b = r.b[n:]
	return v
}

func (r *reader) ids() []replica.ReplicaID {
	n := r.count()
	var ids []replica.ReplicaID
	for range n {
		ids = append(ids, replica.ReplicaID(r.uvarint()))
	}
	return ids
}

// changeEntry is the data of an EntryChange entry: the record the primary
// wrote into its group's log (at its version in the store), and the
// membership change it makes, if any (no ops: a record entry, written when
// a primary takes office or the in-sync set changes, so that the
// descriptor's engine section follows the record).
type changeEntry struct {
	version uint64
	rec     Record
	change  driver.Change
}

func encodeChange(ce changeEntry) []byte {
	b := []byte{changeVersion}
	b = binary.AppendUvarint(b, ce.version)
	b = appendBytes(b, EncodeRecord(ce.rec))
	b = binary.AppendUvarint(b, uint64(len(ce.change.Ops)))
	for _, op := range ce.change.Ops {
		b = append(b, byte(op.Kind))
		b = binary.AppendUvarint(b, uint64(op.Replica))
	}
	return append(b, ce.change.Context...)
}

func decodeChange(b []byte) (changeEntry, error) {
	var ce changeEntry
	if len(b) < 1 || b[0] != changeVersion {
		return ce, fmt.Errorf("%w: change version", errCorrupt)
	}
	rd := reader{b: b[1:]}
	ce.version = rd.uvarint()
	rb := rd.bytes()
	n := rd.count()
	for range n {
		k := driver.ChangeKind(rd.byte())
		id := replica.ReplicaID(rd.uvarint())
		if rd.err == nil && (k < driver.AddLearner || k > driver.Remove) {
			rd.fail()
		}
		ce.change.Ops = append(ce.change.Ops, driver.ChangeOp{Kind: k, Replica: id})
	}
	if rd.err != nil {
		return changeEntry{}, fmt.Errorf("%w: change", errCorrupt)
	}
	if len(rd.b) > 0 {
		ce.change.Context = slices.Clone(rd.b)
	}
	var err error
	if ce.rec, err = DecodeRecord(rb); err != nil {
		return changeEntry{}, err
	}
	return ce, nil
}
