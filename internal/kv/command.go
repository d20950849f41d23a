package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrMalformed is returned when a Command or Result does not decode.
var ErrMalformed = errors.New("kv: malformed encoding")

// commandVersion is the first byte of every encoded Command.
const commandVersion = 1

// Op is what a Request does.
type Op uint8

const (
	// OpPut sets Key to Value (Redis SET, GETSET, SETNX, MSET, MSETNX).
	OpPut Op = iota + 1
	// OpDelete deletes Key (Redis DEL, GETDEL).
	OpDelete
	// OpIncrBy adds Delta to the base-10 int64 stored at Key (INCR, INCRBY,
	// DECR, DECRBY); an absent key counts as 0; the deadline is kept.
	OpIncrBy
	// OpAppend appends Value to Key's value (Redis APPEND); the deadline is kept.
	OpAppend
	// OpExpire sets Key's deadline from TTL (FlagTTL) or Deadline
	// (FlagDeadline); one at or before group time deletes the key. Its
	// conditions (Redis NX, XX, GT, LT) are judged against the key's
	// deadline when the command applies; with FlagReturnPrev it answers the
	// key's value (Redis GETEX).
	OpExpire
	// OpPersist removes Key's deadline; with FlagReturnPrev it answers the
	// key's value (GETEX ... PERSIST).
	OpPersist
	// OpFlush deletes every key of the group (FLUSHDB); it must be the only
	// request of its command.
	OpFlush
	// OpExpireIfDue is the system command the leader proposes from Due: it
	// deletes Key only if its version is still Version and its deadline has
	// passed by group time.
	OpExpireIfDue
	opLimit
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "PUT"
	case OpDelete:
		return "DELETE"
	case OpIncrBy:
		return "INCRBY"
	case OpAppend:
		return "APPEND"
	case OpExpire:
		return "EXPIRE"
	case OpPersist:
		return "PERSIST"
	case OpFlush:
		return "FLUSH"
	case OpExpireIfDue:
		return "EXPIRE-IF-DUE"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Flag modifies a Request. Which flags an op accepts is checked when the
// command is applied (a misuse answers CodeMalformed), not when it decodes.
type Flag uint16

const (
	// FlagIfAbsent: PUT only if the key does not exist (Redis NX).
	FlagIfAbsent Flag = 1 << iota
	// FlagIfExists: PUT only if the key exists (Redis XX).
	FlagIfExists
	// FlagIfVersion: PUT or DELETE only if the key's version is Version;
	// Version 0 means "only if absent" (etcd's mod_revision == 0).
	FlagIfVersion
	// FlagIfValue: PUT or DELETE only if the key exists with value Expected
	// (compare-and-swap by value).
	FlagIfValue
	// FlagKeepTTL: PUT keeps the key's deadline (Redis KEEPTTL); without it
	// and without FlagTTL/FlagDeadline a PUT clears the deadline, as SET does.
	FlagKeepTTL
	// FlagReturnPrev: PUT, DELETE, EXPIRE or PERSIST answers the key's value
	// before the request (Redis SET ... GET, GETSET, GETDEL, GETEX), even
	// when a condition fails.
	FlagReturnPrev
	// FlagTTL: TTL is set and relative to group time (PUT: must be > 0).
	FlagTTL
	// FlagDeadline: Deadline is set, absolute Unix nanoseconds of group time.
	FlagDeadline
	// FlagIfNoDeadline: EXPIRE only if the key has no deadline (Redis
	// EXPIRE ... NX).
	FlagIfNoDeadline
	// FlagIfDeadline: EXPIRE only if the key has a deadline (Redis XX).
	FlagIfDeadline
	// FlagIfLater: EXPIRE only if the new deadline is after the key's (Redis
	// GT; a key without a deadline counts as never expiring, so it fails).
	FlagIfLater
	// FlagIfEarlier: EXPIRE only if the new deadline is before the key's
	// (Redis LT; a key without a deadline counts as never expiring, so it
	// holds).
	FlagIfEarlier
	flagLimit
)

// Request is one operation of a Command. Byte fields of a decoded Request
// alias the encoded input.
type Request struct {
	Op    Op
	Flags Flag
	Key   []byte
	// Value is PUT's new value or APPEND's suffix.
	Value []byte
	// Expected is the value FlagIfValue compares with.
	Expected []byte
	// Version is FlagIfVersion's expected version, or EXPIRE-IF-DUE's.
	Version uint64
	// TTL is relative to group time (with FlagTTL).
	TTL time.Duration
	// Deadline is absolute, Unix nanoseconds by group time (with FlagDeadline).
	Deadline int64
	// Delta is INCRBY's increment.
	Delta int64
}

// Put sets key to value.
func Put(key, value []byte) Request { return Request{Op: OpPut, Key: key, Value: value} }

// Delete deletes key.
func Delete(key []byte) Request { return Request{Op: OpDelete, Key: key} }

// IncrBy adds delta to the integer at key.
func IncrBy(key []byte, delta int64) Request { return Request{Op: OpIncrBy, Key: key, Delta: delta} }

// Append appends suffix to key's value.
func Append(key, suffix []byte) Request { return Request{Op: OpAppend, Key: key, Value: suffix} }

// Expire sets key's deadline to group time + ttl; ttl <= 0 deletes it.
func Expire(key []byte, ttl time.Duration) Request {
	return Request{Op: OpExpire, Flags: FlagTTL, Key: key, TTL: ttl}
}

// ExpireAt sets key's deadline (Unix nanoseconds); one at or before group
// time deletes it.
func ExpireAt(key []byte, deadline int64) Request {
	return Request{Op: OpExpire, Flags: FlagDeadline, Key: key, Deadline: deadline}
}

// Persist removes key's deadline.
func Persist(key []byte) Request { return Request{Op: OpPersist, Key: key} }

// Flush deletes every key of the group.
func Flush() Request { return Request{Op: OpFlush} }

// ExpireIfDue deletes key if its version is still version and its deadline
// has passed.
func ExpireIfDue(key []byte, version uint64) Request {
	return Request{Op: OpExpireIfDue, Key: key, Version: version}
}

// IfAbsent returns r applied only when its key is absent (NX).
func (r Request) IfAbsent() Request { r.Flags |= FlagIfAbsent; return r }

// IfExists returns r applied only when its key exists (XX).
func (r Request) IfExists() Request { r.Flags |= FlagIfExists; return r }

// IfVersion returns r applied only when its key's version is v (0: absent).
func (r Request) IfVersion(v uint64) Request { r.Flags |= FlagIfVersion; r.Version = v; return r }

// IfValue returns r applied only when its key holds value v.
func (r Request) IfValue(v []byte) Request { r.Flags |= FlagIfValue; r.Expected = v; return r }

// WithTTL returns r with a deadline of group time + ttl.
func (r Request) WithTTL(ttl time.Duration) Request {
	r.Flags = r.Flags&^FlagDeadline | FlagTTL
	r.TTL, r.Deadline = ttl, 0
	return r
}

// WithDeadline returns r with an absolute deadline (Unix nanoseconds).
func (r Request) WithDeadline(deadline int64) Request {
	r.Flags = r.Flags&^FlagTTL | FlagDeadline
	r.TTL, r.Deadline = 0, deadline
	return r
}

// IfNoDeadline returns an EXPIRE applied only when its key has no deadline
// (NX).
func (r Request) IfNoDeadline() Request { r.Flags |= FlagIfNoDeadline; return r }

// IfDeadline returns an EXPIRE applied only when its key has a deadline (XX).
func (r Request) IfDeadline() Request { r.Flags |= FlagIfDeadline; return r }

// IfLater returns an EXPIRE applied only when the new deadline is later than
// the key's (GT).
func (r Request) IfLater() Request { r.Flags |= FlagIfLater; return r }

// IfEarlier returns an EXPIRE applied only when the new deadline is earlier
// than the key's, or the key has none (LT).
func (r Request) IfEarlier() Request { r.Flags |= FlagIfEarlier; return r }

// KeepTTL returns r keeping the key's deadline.
func (r Request) KeepTTL() Request { r.Flags |= FlagKeepTTL; return r }

// ReturnPrev returns r answering the key's previous value.
func (r Request) ReturnPrev() Request { r.Flags |= FlagReturnPrev; return r }

// Command is the payload of one log entry: one or more requests applied
// atomically, under a session. Client 0 means no session (system commands
// and anything that needs no deduplication).
type Command struct {
	// Client, Seq and LowUnacked are the session: Seq numbers the client's
	// commands from 1; LowUnacked is the lowest seq the client has not yet
	// seen answered (or abandoned), so every result below it may be dropped.
	Client, Seq, LowUnacked uint64
	// AllOrNothing: if any request fails (CodeFailed), none applies (MSETNX).
	AllOrNothing bool
	Requests     []Request
}

// NewCommand returns a command without a session holding reqs.
func NewCommand(reqs ...Request) Command { return Command{Requests: reqs} }

// WithSession returns c under session (client, seq, lowUnacked).
func (c Command) WithSession(client, seq, lowUnacked uint64) Command {
	c.Client, c.Seq, c.LowUnacked = client, seq, lowUnacked
	return c
}

// Encode returns c's encoding.
func (c *Command) Encode() []byte { return c.AppendEncode(nil) }

// AppendEncode appends c's encoding to dst:
//
//	command = 0x01 flags:u8 client:uvarint seq:uvarint low:uvarint n:uvarint request*n
//	request = op:u8 flags:uvarint key:bytes [value:bytes] [expected:bytes]
//	          [version:uvarint] [ttl:varint] [deadline:varint] [delta:varint]
//	bytes   = len:uvarint byte*len
//
// value is present for PUT and APPEND, expected with FlagIfValue, version
// with FlagIfVersion or for EXPIRE-IF-DUE, ttl with FlagTTL, deadline with
// FlagDeadline, delta for INCRBY.
func (c *Command) AppendEncode(dst []byte) []byte {
	var f byte
	if c.AllOrNothing {
		f |= 1
	}
	dst = append(dst, commandVersion, f)
	dst = binary.AppendUvarint(dst, c.Client)
	dst = binary.AppendUvarint(dst, c.Seq)
	dst = binary.AppendUvarint(dst, c.LowUnacked)
	dst = binary.AppendUvarint(dst, uint64(len(c.Requests)))
	for i := range c.Requests {
		dst = c.Requests[i].appendEncode(dst)
	}
	return dst
}

func (r *Request) appendEncode(dst []byte) []byte {
	dst = append(dst, byte(r.Op))
	dst = binary.AppendUvarint(dst, uint64(r.Flags))
	dst = appendBytes(dst, r.Key)
	if r.Op == OpPut || r.Op == OpAppend {
		dst = appendBytes(dst, r.Value)
	}
	if r.Flags&FlagIfValue != 0 {
		dst = appendBytes(dst, r.Expected)
	}
	if r.Flags&FlagIfVersion != 0 || r.Op == OpExpireIfDue {
		dst = binary.AppendUvarint(dst, r.Version)
	}
	if r.Flags&FlagTTL != 0 {
		dst = binary.AppendVarint(dst, int64(r.TTL))
	}
	if r.Flags&FlagDeadline != 0 {
		dst = binary.AppendVarint(dst, r.Deadline)
	}
	if r.Op == OpIncrBy {
		dst = binary.AppendVarint(dst, r.Delta)
	}
	return dst
}

// minRequestSize is the smallest encoded request: op, flags, key length.
const minRequestSize = 3

// DecodeCommand decodes b. The byte fields of the result alias b.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	err := c.Decode(b)
	return c, err
}

// Decode decodes b into c, reusing c.Requests' storage. The byte fields of c
// alias b. On error c is left in an unspecified state.
func (c *Command) Decode(b []byte) error {
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != commandVersion {
		r.fail(errVersion)
	}
	f := r.byte()
	if r.err == nil && f&^1 != 0 {
		r.fail(errors.New("unknown command flags"))
	}
	c.AllOrNothing = f&1 != 0
	c.Client = r.uvarint()
	c.Seq = r.uvarint()
	c.LowUnacked = r.uvarint()
	n := r.count(minRequestSize)
	if r.err != nil {
		return fmt.Errorf("%w: command: %v", ErrMalformed, r.err)
	}
	if cap(c.Requests) >= n {
		c.Requests = c.Requests[:n]
	} else {
		c.Requests = make([]Request, n)
	}
	for i := range c.Requests {
		c.Requests[i].decode(&r)
		if r.err != nil {
			return fmt.Errorf("%w: command: request %d: %v", ErrMalformed, i, r.err)
		}
	}
	if err := r.done(); err != nil {
		return fmt.Errorf("%w: command: %v", ErrMalformed, err)
	}
	return nil
}

func (q *Request) decode(r *reader) {
	*q = Request{}
	q.Op = Op(r.byte())
	if r.err == nil && (q.Op == 0 || q.Op >= opLimit) {
		r.fail(fmt.Errorf("unknown op %d", q.Op))
	}
	fl := r.uvarint()
	if r.err == nil && fl >= uint64(flagLimit) {
		r.fail(fmt.Errorf("unknown request flags %#x", fl))
	}
	q.Flags = Flag(fl)
	q.Key = r.bytes()
	if q.Op == OpPut || q.Op == OpAppend {
		q.Value = r.bytes()
	}
	if q.Flags&FlagIfValue != 0 {
		q.Expected = r.bytes()
	}
	if q.Flags&FlagIfVersion != 0 || q.Op == OpExpireIfDue {
		q.Version = r.uvarint()
	}
	if q.Flags&FlagTTL != 0 {
		q.TTL = time.Duration(r.varint())
	}
	if q.Flags&FlagDeadline != 0 {
		q.Deadline = r.varint()
	}
	if q.Op == OpIncrBy {
		q.Delta = r.varint()
	}
}

// CommandSession is an encoded command's session (client and sequence
// number); ok is false for a command without one or that does not decode
// (the primary-backup engine's rollback records read it so).
func CommandSession(cmd []byte) (client, seq uint64, ok bool) {
	c, err := DecodeCommand(cmd)
	if err != nil || c.Client == 0 {
		return 0, 0, false
	}
	return c.Client, c.Seq, true
}
