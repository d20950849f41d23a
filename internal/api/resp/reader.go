package resp

import (
	"bytes"
	"fmt"
	"io"
	"math"
)

// ReadLimits bound what one connection can make the server hold. Every
// length a client declares is checked against its limit before anything
// is allocated or buffered for it, so a 27-byte header cannot ask for
// 2^63 bytes (the redcon reader it replaces crashed on exactly that).
type ReadLimits struct {
	// MaxBulk is the longest bulk string accepted: Redis's
	// proto-max-bulk-len. Default DefaultMaxBulk(api.DefaultLimits): the
	// largest value plus headroom, so a value slightly over
	// --max-value-size gets the error naming that flag and the connection
	// goes on, while one far over it is refused from its header.
	MaxBulk int
	// MaxArray is the most elements one command may have. Default
	// 1,048,576: far above any real MGET/MSET/DEL, far below what would
	// let a header reserve gigabytes.
	MaxArray int
	// MaxInline is the longest inline command, and the longest length
	// line ("*N", "$N"), without a newline. Default 64 KiB, Redis's
	// PROTO_INLINE_MAX_SIZE.
	MaxInline int
	// MaxQueryBuffer is the most bytes of one connection held unparsed or
	// in a command not yet complete: Redis's client-query-buffer-limit.
	// Default 64 MiB (Redis: 1 GiB), ample for any legal command.
	MaxQueryBuffer int
}

// Defaults of ReadLimits.
const (
	DefaultMaxArray       = 1 << 20
	DefaultMaxInline      = 64 << 10
	DefaultMaxQueryBuffer = 64 << 20
	// bulkHeadroom is added to the largest legal key or value to make
	// MaxBulk.
	bulkHeadroom = 64 << 10
)

// DefaultMaxBulk is the bulk limit for values of at most maxValue bytes
// and keys of at most maxKey bytes.
func DefaultMaxBulk(maxKey, maxValue int) int {
	return max(maxKey, maxValue) + bulkHeadroom
}

func (l *ReadLimits) setDefaults(maxKey, maxValue int) {
	if l.MaxBulk <= 0 {
		l.MaxBulk = DefaultMaxBulk(maxKey, maxValue)
	}
	if l.MaxArray <= 0 {
		l.MaxArray = DefaultMaxArray
	}
	if l.MaxInline <= 0 {
		l.MaxInline = DefaultMaxInline
	}
	if l.MaxQueryBuffer <= 0 {
		l.MaxQueryBuffer = DefaultMaxQueryBuffer
	}
	// NB: the buffer must hold the largest legal command's longest piece
	// (a bulk with its header), or a legal command could never complete.
	if need := l.MaxBulk + 2*l.MaxInline; l.MaxQueryBuffer < need {
		l.MaxQueryBuffer = need
	}
}

// ProtocolError is a malformed or over-limit request. Its text is the
// Redis error reply without the leading '-'; the connection is closed
// after it is sent, as Redis does.
type ProtocolError struct{ msg string }

func (e *ProtocolError) Error() string { return "ERR Protocol error: " + e.msg }

func protoErr(format string, args ...any) error {
	return &ProtocolError{msg: fmt.Sprintf(format, args...)}
}

// Redis's texts (networking.c), kept so that clients and operators see
// what they know.
var (
	errMultibulkLen   = protoErr("invalid multibulk length")
	errBulkLen        = protoErr("invalid bulk length")
	errBigCount       = protoErr("too big mbulk count string")
	errBigBulkCount   = protoErr("too big bulk count string")
	errBigInline      = protoErr("too big inline request")
	errUnbalanced     = protoErr("unbalanced quotes in request")
	errMissingCRLF    = protoErr("expected '\\r\\n' after a bulk string")
	errLineTerminator = protoErr("expected '\\r\\n' at the end of a length line")
)

const (
	initialBufSize = 4 << 10 // what an idle connection holds
	shrinkAbove    = 64 << 10
	// maxBatch bounds the commands handed out by one ReadCommands: one
	// read of a large buffer full of tiny commands would otherwise become
	// millions of commands run (and their replies held) at once. The rest
	// stay in the buffer for the next call.
	maxBatch = 1024
	// keepMarks bounds the capacity of the reader's offset slices kept
	// between batches; a larger one (after a command of a million
	// arguments) is dropped.
	keepMarks = 4096
)

// pendingCmd is a complete command not yet handed out: a multibulk as
// offsets into the read buffer, or an inline command with its own bytes.
type pendingCmd struct {
	marks  int      // index in reader.marks of its first (start, end) pair
	nargs  int      // number of args
	inline [][]byte // non-nil for an inline command
}

// reader reads pipelines of RESP commands from a connection. It parses
// incrementally: the state of a command split across reads is kept, so a
// 1 MiB value arriving in 64 KiB pieces is scanned once, not once per
// piece. Not safe for concurrent use.
//
//	buf: [ handed out | complete, pending | command in progress | unread space ]
//	     0            batch              cmd          pos        end
//
// Invariant: batch <= cmd <= pos <= end <= len(buf); batch == cmd unless
// pending is non-empty.
type reader struct {
	rd  io.Reader
	lim ReadLimits
	buf []byte

	batch, cmd, pos, end int

	// The multibulk in progress: nargs is its declared length (0: none);
	// bulk is the declared length of the argument being read (-1: its
	// "$N" line is next); argMarks are (start, end) of its arguments read
	// so far, relative to cmd.
	nargs    int
	bulk     int
	argMarks []int

	pending []pendingCmd
	marks   []int // (start, end) pairs of the pending multibulks, absolute
	// err is a protocol error found after some complete commands: those
	// are handed out first, then err.
	err error
}

func newReader(rd io.Reader, lim ReadLimits) *reader {
	return &reader{rd: rd, lim: lim, buf: make([]byte, initialBufSize), bulk: -1}
}

// setLimits changes the limits for the commands read from now on (a
// connection may get wider limits once it has authenticated).
func (r *reader) setLimits(lim ReadLimits) { r.lim = lim }

// ReadCommands blocks until at least one complete command has arrived and
// returns every complete command buffered, in order. The arguments are
// the caller's: they share one allocation per call and are never reused
// by the reader. A *ProtocolError means the stream cannot be trusted any
// more (answer it and close); any other error is the connection's.
func (r *reader) ReadCommands() ([][][]byte, error) {
	for {
		if r.err == nil {
			r.err = r.parse()
		}
		if len(r.pending) > 0 {
			return r.take(), nil
		}
		if r.err != nil {
			return nil, r.err
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

// parse parses as many complete commands from buf[pos:end] as there are.
// It returns nil when it needs more bytes.
func (r *reader) parse() error {
	for {
		if r.nargs == 0 {
			if r.pos == r.end || len(r.pending) >= maxBatch {
				return nil
			}
			if r.buf[r.pos] != '*' {
				ok, err := r.parseInline()
				if !ok || err != nil {
					return err
				}
				continue
			}
			line, ok, err := r.line(errBigCount)
			if !ok || err != nil {
				return err
			}
			n, ok := parseLen(line[1:])
			// NB: Redis accepts up to INT_MAX elements and reserves
			// them lazily; a lower cap refuses the header outright.
			if !ok || n > int64(r.lim.MaxArray) {
				return errMultibulkLen
			}
			if n <= 0 { // "*0" and "*-1": an empty command, skipped as by Redis
				r.cmd = r.pos
				continue
			}
			r.nargs = int(n)
			if cap(r.argMarks) > keepMarks {
				r.argMarks = nil
			}
			r.argMarks = r.argMarks[:0]
		}
		for len(r.argMarks)/2 < r.nargs {
			if r.bulk < 0 {
				if r.pos == r.end {
					return nil
				}
				if c := r.buf[r.pos]; c != '$' {
					return protoErr("expected '$', got '%s'", printable(c))
				}
				line, ok, err := r.line(errBigBulkCount)
				if !ok || err != nil {
					return err
				}
				n, ok := parseLen(line[1:])
				if !ok || n < 0 || n > int64(r.lim.MaxBulk) {
					return errBulkLen
				}
				r.bulk = int(n)
			}
			if r.end-r.pos < r.bulk+2 {
				return nil
			}
			if r.buf[r.pos+r.bulk] != '\r' || r.buf[r.pos+r.bulk+1] != '\n' {
				return errMissingCRLF
			}
			r.argMarks = append(r.argMarks, r.pos-r.cmd, r.pos+r.bulk-r.cmd)
			r.pos += r.bulk + 2
			r.bulk = -1
		}
		r.pending = append(r.pending, pendingCmd{marks: len(r.marks) / 2, nargs: r.nargs})
		for _, m := range r.argMarks {
			r.marks = append(r.marks, r.cmd+m)
		}
		r.nargs = 0
		r.cmd = r.pos
	}
}

// line returns the line at pos without its CRLF and moves pos past it;
// ok is false when the line is not complete yet. A line longer than
// MaxInline is tooBig, complete or not.
func (r *reader) line(tooBig error) (line []byte, ok bool, err error) {
	b := r.buf[r.pos:r.end]
	i := bytes.IndexByte(b[:min(len(b), r.lim.MaxInline+1)], '\n')
	if i < 0 {
		if len(b) > r.lim.MaxInline {
			return nil, false, tooBig
		}
		return nil, false, nil
	}
	if i > r.lim.MaxInline {
		return nil, false, tooBig
	}
	if i == 0 || b[i-1] != '\r' {
		return nil, false, errLineTerminator
	}
	r.pos += i + 1
	return b[:i-1], true, nil
}

// parseInline parses one inline command (telnet-style words, with Redis's
// quoting rules). ok is false when its line is not complete yet.
func (r *reader) parseInline() (ok bool, err error) {
	b := r.buf[r.pos:r.end]
	i := bytes.IndexByte(b[:min(len(b), r.lim.MaxInline+1)], '\n')
	if i < 0 {
		if len(b) > r.lim.MaxInline {
			return false, errBigInline
		}
		return false, nil
	}
	if i > r.lim.MaxInline {
		return false, errBigInline
	}
	line := bytes.TrimSuffix(b[:i], []byte{'\r'})
	args, err := splitArgs(line)
	if err != nil {
		return false, err
	}
	if len(args) > r.lim.MaxArray {
		return false, errMultibulkLen
	}
	r.pos += i + 1
	if len(args) > 0 {
		r.pending = append(r.pending, pendingCmd{inline: args, nargs: len(args)})
	}
	r.cmd = r.pos
	return true, nil
}

// take hands out the pending commands: their bytes are copied into one
// new allocation, so the read buffer can be reused at once.
func (r *reader) take() [][][]byte {
	region := make([]byte, r.cmd-r.batch)
	copy(region, r.buf[r.batch:r.cmd])
	total := 0
	for _, p := range r.pending {
		if p.inline == nil {
			total += p.nargs
		}
	}
	all := make([][]byte, total)
	cmds := make([][][]byte, len(r.pending))
	for i, p := range r.pending {
		if p.inline != nil {
			cmds[i] = p.inline
			continue
		}
		args := all[:p.nargs:p.nargs]
		all = all[p.nargs:]
		for j := range args {
			s, e := r.marks[2*(p.marks+j)]-r.batch, r.marks[2*(p.marks+j)+1]-r.batch
			args[j] = region[s:e:e]
		}
		cmds[i] = args
	}
	clear(r.pending) // drop references to inline args
	r.pending, r.marks = r.pending[:0], r.marks[:0]
	if cap(r.pending) > maxBatch || cap(r.marks) > keepMarks {
		r.pending, r.marks = nil, nil
	}
	r.batch = r.cmd
	if r.cmd == r.end { // nothing in progress: start over at the front
		r.batch, r.cmd, r.pos, r.end = 0, 0, 0, 0
	}
	return cmds
}

// fill reads more bytes, making room first: the command in progress moves
// to the front of the buffer, and the buffer grows (doubling, so a large
// value is copied a bounded number of times) only as bytes arrive, never
// to a size the client merely declared.
func (r *reader) fill() error {
	// Here pending is empty, so batch == cmd.
	held := r.end - r.cmd
	if held >= r.lim.MaxQueryBuffer {
		return protoErr("query buffer of %d bytes over client-query-buffer-limit %d", held, r.lim.MaxQueryBuffer)
	}
	if len(r.buf) > shrinkAbove && held <= len(r.buf)/4 {
		// A buffer grown for a large command is not kept for the small
		// ones after it (nor pinned by the few bytes of the next).
		nb := make([]byte, max(initialBufSize, 2*held))
		copy(nb, r.buf[r.cmd:r.end])
		r.pos -= r.cmd
		r.end -= r.cmd
		r.batch, r.cmd = 0, 0
		r.buf = nb
	}
	if r.end == len(r.buf) {
		if r.cmd > 0 {
			copy(r.buf, r.buf[r.cmd:r.end])
			r.pos -= r.cmd
			r.end -= r.cmd
			r.batch, r.cmd = 0, 0
		}
		if r.end == len(r.buf) {
			// NB: not to the declared size of the bulk being read: 10,000
			// connections each declaring 1 MiB and sending nothing would
			// then hold 10 GB.
			size := min(2*len(r.buf), r.lim.MaxQueryBuffer)
			nb := make([]byte, size)
			copy(nb, r.buf[:r.end])
			r.buf = nb
		}
	}
	n, err := r.rd.Read(r.buf[r.end:])
	r.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// parseLen parses a decimal length as Redis's string2ll does (an optional
// '-', digits, no spaces or '+'), refusing anything that overflows int64.
func parseLen(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// printable renders a byte for an error message.
func printable(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("\\x%02x", c)
}

// splitArgs splits an inline command into words as Redis's sdssplitargs
// does: words separated by blanks; "double quotes" with \n \r \t \b \a
// \\ \" and \xHH escapes; 'single quotes' with \' only. A closing quote
// must be followed by a blank or the end of the line.
func splitArgs(line []byte) ([][]byte, error) {
	var args [][]byte
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p == len(line) {
			return args, nil
		}
		var cur []byte
		inDQ, inSQ := false, false
		for done := false; !done; p++ {
			switch {
			case inDQ:
				if p == len(line) {
					return nil, errUnbalanced
				}
				c := line[p]
				switch {
				case c == '\\' && p+3 < len(line) && line[p+1] == 'x' && isHex(line[p+2]) && isHex(line[p+3]):
					cur = append(cur, unhex(line[p+2])<<4|unhex(line[p+3]))
					p += 3
				case c == '\\' && p+1 < len(line):
					p++
					switch line[p] {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					default:
						c = line[p]
					}
					cur = append(cur, c)
				case c == '"':
					if p+1 < len(line) && !isSpace(line[p+1]) {
						return nil, errUnbalanced
					}
					done = true
				default:
					cur = append(cur, c)
				}
			case inSQ:
				if p == len(line) {
					return nil, errUnbalanced
				}
				c := line[p]
				switch {
				case c == '\\' && p+1 < len(line) && line[p+1] == '\'':
					p++
					cur = append(cur, '\'')
				case c == '\'':
					if p+1 < len(line) && !isSpace(line[p+1]) {
						return nil, errUnbalanced
					}
					done = true
				default:
					cur = append(cur, c)
				}
			default:
				if p == len(line) {
					done = true
					p-- // the loop's p++ leaves p at the end
					break
				}
				switch c := line[p]; c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inDQ = true
				case '\'':
					inSQ = true
				default:
					cur = append(cur, c)
				}
			}
		}
		if cur == nil {
			cur = []byte{}
		}
		args = append(args, cur)
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
