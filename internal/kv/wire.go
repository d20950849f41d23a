package kv

import (
	"encoding/binary"
	"errors"
)

// errShort and friends are the decoding failures; decoders wrap them in
// ErrMalformed (input from the network) or ErrCorrupt (input from disk).
var (
	errShort    = errors.New("truncated input")
	errOverflow = errors.New("varint overflows 64 bits")
	errTooLong  = errors.New("length prefix exceeds remaining input")
	errTrailing = errors.New("trailing bytes")
	errVersion  = errors.New("unknown encoding version")
)

// reader decodes the wire formats of this package. Its error is sticky: after
// the first failure every read returns a zero value, so a decoder can read a
// whole record and check r.err once. It never allocates: byte fields alias the
// input, and every length is checked against what remains before it is used.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		if n == 0 {
			r.fail(errShort)
		} else {
			r.fail(errOverflow)
		}
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		if n == 0 {
			r.fail(errShort)
		} else {
			r.fail(errOverflow)
		}
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes reads a uvarint length and that many bytes, aliasing the input. A
// zero length yields a non-nil empty slice so that "present but empty" and
// "absent" stay distinguishable where a flag says the field is present.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(errTooLong)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// count reads a uvarint element count and checks it against the remaining
// input, given that every element takes at least minSize bytes, so that a
// forged count can never make the caller allocate more than the input's size.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)/minSize) {
		r.fail(errTooLong)
		return 0
	}
	return int(n)
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(errTrailing)
	}
	return r.err
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}
