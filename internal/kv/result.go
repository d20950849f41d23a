package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// resultVersion is the first byte of every encoded Result; pageVersion that
// of a Reply carrying a scan page (Items or Next), which only a Query
// answers, so a command's Result never changes for it.
const (
	resultVersion = 1
	pageVersion   = 2
)

// Code is the outcome of a command or of one of its requests.
type Code uint8

const (
	// CodeOK: done.
	CodeOK Code = iota
	// CodeNotFound: the key did not exist (DELETE, EXPIRE, PERSIST,
	// EXPIRE-IF-DUE); nothing changed. Not a failure.
	CodeNotFound
	// CodeConditionFailed: NX/XX/if-version/if-value (or EXPIRE's
	// NX/XX/GT/LT) did not hold, or EXPIRE-IF-DUE found the key changed or
	// not yet due; nothing changed.
	CodeConditionFailed
	// CodeNotInteger: INCRBY on a value that is not a base-10 int64.
	CodeNotInteger
	// CodeOverflow: INCRBY would overflow int64.
	CodeOverflow
	// CodeInvalidExpire: a TTL or deadline that is not positive, or one
	// that overflows when added to group time.
	CodeInvalidExpire
	// CodeMalformed: the command does not decode, or a request combines
	// flags its op does not accept; nothing applied.
	CodeMalformed
	// CodeSessionExpired (command level): the client's session expired, or
	// never existed though LowUnacked says it did; nothing applied. The
	// client must start a new session (a new client ID).
	CodeSessionExpired
	// CodeSequenceBelowWindow (command level): Seq is below the session's
	// window, so its result is forgotten; nothing applied now.
	CodeSequenceBelowWindow
	// CodeAborted: with AllOrNothing, another request failed, so this one
	// did not apply. At command level: the whole command did not apply.
	CodeAborted
	codeLimit
)

var codeNames = [...]string{
	CodeOK:                  "OK",
	CodeNotFound:            "NotFound",
	CodeConditionFailed:     "ConditionFailed",
	CodeNotInteger:          "NotInteger",
	CodeOverflow:            "Overflow",
	CodeInvalidExpire:       "InvalidExpire",
	CodeMalformed:           "Malformed",
	CodeSessionExpired:      "SessionExpired",
	CodeSequenceBelowWindow: "SequenceBelowWindow",
	CodeAborted:             "Aborted",
}

func (c Code) String() string {
	if c < codeLimit {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Failed reports whether c keeps an AllOrNothing command from applying:
// anything but OK and NotFound.
func (c Code) Failed() bool { return c != CodeOK && c != CodeNotFound }

// Message is a user-facing text for c; for the codes Redis has a reply for
// it is Redis's exact error text.
func (c Code) Message() string {
	switch c {
	case CodeOK:
		return "OK"
	case CodeNotFound:
		return "not found"
	case CodeConditionFailed:
		return "condition failed"
	case CodeNotInteger:
		return "ERR value is not an integer or out of range"
	case CodeOverflow:
		return "ERR increment or decrement would overflow"
	case CodeInvalidExpire:
		return "ERR invalid expire time"
	case CodeMalformed:
		return "ERR malformed command"
	case CodeSessionExpired:
		return "ERR session expired; start a new session"
	case CodeSequenceBelowWindow:
		return "ERR sequence number below the session window; its result is gone"
	case CodeAborted:
		return "aborted: another request of the command failed"
	}
	return c.String()
}

// Response is the answer to one request.
type Response struct {
	Code Code
	// Value is the previous value for a request with FlagReturnPrev when
	// the key existed (HasValue false: it did not).
	Value    []byte
	HasValue bool
	// Version is the key's version after the request: the entry index for
	// a write, the current version when a condition failed, 0 if absent.
	Version uint64
	// Deadline is the key's deadline after the request (0: none).
	Deadline int64
	// Int is PUT's 1 when it replaced a key (0 when it created one),
	// INCRBY's new value, APPEND's new length, DELETE's and
	// EXPIRE's count of keys changed (0 or 1), PERSIST's 1 if a deadline was
	// removed, FLUSH's count of keys deleted.
	Int int64
}

// Reply is a decoded Result: a command-level code, the group time at which
// the command applied (to turn deadlines into TTLs) and one Response per
// request (none when the command-level code says nothing was evaluated).
// It is also the answer to a Query (Eval): GroupTime is then the group time
// of the state read, a get and a count answer Responses, and a scan page
// answers Items and Next.
type Reply struct {
	Code      Code
	GroupTime int64
	Responses []Response
	// Items are a scan page's keys, in order.
	Items []Item
	// Next is the key a scan page stopped at: resume from it (inclusive).
	// nil: the page reached the end of its range.
	Next []byte
	// Examined is how many keys a scan page examined: its Items and the
	// keys Match rejected. Fewer than the query's Limit with Next set: the
	// page stopped at its byte budget.
	Examined int
}

// Encode returns rep's encoding.
func (rep *Reply) Encode() Result { return rep.AppendEncode(nil) }

const (
	respHasValue = 1 << iota
	respHasVersion
	respHasDeadline
	respHasInt
)

// AppendEncode appends rep's encoding to dst:
//
//	result   = 0x01 code:u8 grouptime:varint n:uvarint response*n
//	response = code:u8 fields:u8 [value:bytes] [version:uvarint]
//	           [deadline:varint] [int:varint]
//
// fields has a bit per optional field present (value, version, deadline,
// int), so the common answers take three bytes. A Reply with a scan page
// starts with 0x02 instead and ends with the page:
//
//	page = examined:uvarint m:uvarint item*m hasnext:u8 [next:bytes]
//	item = key:bytes value:bytes version:uvarint deadline:varint
func (rep *Reply) AppendEncode(dst []byte) []byte {
	v := byte(resultVersion)
	page := len(rep.Items) > 0 || rep.Next != nil || rep.Examined > 0
	if page {
		v = pageVersion
	}
	dst = append(dst, v, byte(rep.Code))
	dst = binary.AppendVarint(dst, rep.GroupTime)
	dst = binary.AppendUvarint(dst, uint64(len(rep.Responses)))
	for i := range rep.Responses {
		p := &rep.Responses[i]
		var f byte
		if p.HasValue {
			f |= respHasValue
		}
		if p.Version != 0 {
			f |= respHasVersion
		}
		if p.Deadline != 0 {
			f |= respHasDeadline
		}
		if p.Int != 0 {
			f |= respHasInt
		}
		dst = append(dst, byte(p.Code), f)
		if p.HasValue {
			dst = appendBytes(dst, p.Value)
		}
		if p.Version != 0 {
			dst = binary.AppendUvarint(dst, p.Version)
		}
		if p.Deadline != 0 {
			dst = binary.AppendVarint(dst, p.Deadline)
		}
		if p.Int != 0 {
			dst = binary.AppendVarint(dst, p.Int)
		}
	}
	if !page {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(max(rep.Examined, 0)))
	dst = binary.AppendUvarint(dst, uint64(len(rep.Items)))
	for i := range rep.Items {
		it := &rep.Items[i]
		dst = appendBytes(dst, it.Key)
		dst = appendBytes(dst, it.Value)
		dst = binary.AppendUvarint(dst, it.Version)
		dst = binary.AppendVarint(dst, it.Deadline)
	}
	if rep.Next == nil {
		return append(dst, 0)
	}
	return appendBytes(append(dst, 1), rep.Next)
}

// minItemSize is the smallest encoded item: key and value lengths,
// version, deadline.
const minItemSize = 4

// DecodeResult decodes a Result. Response values alias r.
func DecodeResult(r Result) (Reply, error) {
	var rep Reply
	d := reader{b: r}
	v := d.byte()
	if d.err == nil && v != resultVersion && v != pageVersion {
		d.fail(errVersion)
	}
	rep.Code = Code(d.byte())
	if d.err == nil && rep.Code >= codeLimit {
		d.fail(fmt.Errorf("unknown code %d", rep.Code))
	}
	rep.GroupTime = d.varint()
	n := d.count(2)
	if d.err == nil && n > 0 {
		rep.Responses = make([]Response, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		p := &rep.Responses[i]
		p.Code = Code(d.byte())
		if d.err == nil && p.Code >= codeLimit {
			d.fail(fmt.Errorf("unknown code %d", p.Code))
		}
		f := d.byte()
		if d.err == nil && f&^(respHasValue|respHasVersion|respHasDeadline|respHasInt) != 0 {
			d.fail(errors.New("unknown response fields"))
		}
		if f&respHasValue != 0 {
			p.Value, p.HasValue = d.bytes(), true
		}
		if f&respHasVersion != 0 {
			p.Version = d.uvarint()
		}
		if f&respHasDeadline != 0 {
			p.Deadline = d.varint()
		}
		if f&respHasInt != 0 {
			p.Int = d.varint()
		}
	}
	if v == pageVersion {
		rep.Examined = int(min(d.uvarint(), MaxScanLimit))
		m := d.count(minItemSize)
		if d.err == nil && m > 0 {
			rep.Items = make([]Item, m)
		}
		for i := 0; i < m && d.err == nil; i++ {
			it := &rep.Items[i]
			it.Key, it.Value = d.bytes(), d.bytes()
			it.Version, it.Deadline = d.uvarint(), d.varint()
		}
		switch d.byte() {
		case 0:
		case 1:
			rep.Next = d.bytes()
		default:
			d.fail(errors.New("bad next flag"))
		}
	}
	if err := d.done(); err != nil {
		return Reply{}, fmt.Errorf("%w: result: %v", ErrMalformed, err)
	}
	return rep, nil
}
