package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// encode renders commands as RESP multibulks, as clients send them.
func encode(cmds ...[]string) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(c))
		for _, a := range c {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	return b.String()
}

// readAll reads every command from in until the stream ends or fails.
func readAll(src io.Reader, lim ReadLimits) ([][]string, error) {
	lim.setDefaults(8<<10, 1<<20)
	r := newReader(src, lim)
	var got [][]string
	for {
		cmds, err := r.ReadCommands()
		for _, c := range cmds {
			var s []string
			for _, a := range c {
				s = append(s, string(a))
			}
			got = append(got, s)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return got, err
		}
	}
}

func TestReaderParses(t *testing.T) {
	big := strings.Repeat("v", 100_000)
	tests := []struct {
		name string
		in   string
		want [][]string
	}{
		{"one", encode([]string{"GET", "k"}), [][]string{{"GET", "k"}}},
		{"pipeline", encode([]string{"SET", "k", "v"}, []string{"GET", "k"}), [][]string{{"SET", "k", "v"}, {"GET", "k"}}},
		{"empty bulk", encode([]string{"SET", "k", ""}), [][]string{{"SET", "k", ""}}},
		{"binary", encode([]string{"SET", "k", "a\r\nb\x00c"}), [][]string{{"SET", "k", "a\r\nb\x00c"}}},
		{"large value", encode([]string{"SET", "k", big}), [][]string{{"SET", "k", big}}},
		{"empty multibulks skipped", "*0\r\n*-1\r\n" + encode([]string{"PING"}), [][]string{{"PING"}}},
		{"inline", "PING\r\n", [][]string{{"PING"}}},
		{"inline no CR", "set k v\n", [][]string{{"set", "k", "v"}}},
		{"inline blanks", "  GET \t k  \r\n\r\n", [][]string{{"GET", "k"}}},
		{"inline double quotes", `SET k "a b\n\x41\"" ` + "\r\n", [][]string{{"SET", "k", "a b\nA\""}}},
		{"inline single quotes", `SET k 'it\'s "x"'` + "\r\n", [][]string{{"SET", "k", `it's "x"`}}},
		{"inline empty quoted", `SET k ""` + "\r\n", [][]string{{"SET", "k", ""}}},
		{"inline then multibulk", "PING\r\n" + encode([]string{"ECHO", "x"}), [][]string{{"PING"}, {"ECHO", "x"}}},
		{"leading zeros and negative zero", "*02\r\n$-0\r\n\r\n$01\r\nx\r\n", [][]string{{"", "x"}}},
	}
	for _, tt := range tests {
		for _, split := range []string{"whole", "one byte at a time"} {
			t.Run(tt.name+"/"+split, func(t *testing.T) {
				var src io.Reader = strings.NewReader(tt.in)
				if split != "whole" {
					src = iotest.OneByteReader(src)
				}
				got, err := readAll(src, ReadLimits{})
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			})
		}
	}
}

// attack is one hostile input of issue 12, with the reply Redis gives it.
type attack struct {
	name string
	head string // sent first
	// tail, when not empty, is sent after head, repeated until tailBytes
	// have gone or the server closed the connection.
	tail      string
	tailBytes int
	want      string
}

// attacks are the inputs that crashed, spun or bloated a node before
// Cairn had its own reader (issue 12), and Redis's protocol errors.
var attacks = []attack{
	{name: "bulk length near 2^63 (crashed redcon)", head: "*1\r\n$9223372036854775806\r\n",
		want: "-ERR Protocol error: invalid bulk length\r\n"},
	{name: "array length 2^63-1 (spun a core)", head: "*9223372036854775807\r\n",
		want: "-ERR Protocol error: invalid multibulk length\r\n"},
	{name: "array length over int64", head: "*99999999999999999999\r\n",
		want: "-ERR Protocol error: invalid multibulk length\r\n"},
	{name: "bulk of 2^40 with data behind it", head: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1099511627776\r\n",
		tail: strings.Repeat("x", 64<<10), tailBytes: 200 << 20,
		want: "-ERR Protocol error: invalid bulk length\r\n"},
	{name: "array of 10^9 elements", head: "*1000000000\r\n", tail: "$1\r\nx\r\n", tailBytes: 1 << 20,
		want: "-ERR Protocol error: invalid multibulk length\r\n"},
	{name: "inline line of 300 MB", head: "SET k ", tail: strings.Repeat("y", 64<<10), tailBytes: 300 << 20,
		want: "-ERR Protocol error: too big inline request\r\n"},
	{name: "SET of 100 MB", head: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$104857600\r\n", tail: strings.Repeat("z", 64<<10),
		tailBytes: 100 << 20, want: "-ERR Protocol error: invalid bulk length\r\n"},
	{name: "count line without newline", head: "*1", tail: "1", tailBytes: 1 << 20,
		want: "-ERR Protocol error: too big mbulk count string\r\n"},
	{name: "bulk count line without newline", head: "*1\r\n$1", tail: "1", tailBytes: 1 << 20,
		want: "-ERR Protocol error: too big bulk count string\r\n"},
	{name: "negative bulk length", head: "*1\r\n$-5\r\n", want: "-ERR Protocol error: invalid bulk length\r\n"},
	{name: "not a bulk", head: "*2\r\n$3\r\nGET\r\n+k\r\n", want: "-ERR Protocol error: expected '$', got '+'\r\n"},
	{name: "not a number", head: "*x\r\n", want: "-ERR Protocol error: invalid multibulk length\r\n"},
	{name: "plus sign", head: "*+1\r\n", want: "-ERR Protocol error: invalid multibulk length\r\n"},
	{name: "unbalanced quotes", head: "SET k \"v\r\n", want: "-ERR Protocol error: unbalanced quotes in request\r\n"},
	{name: "text after closing quote", head: "SET k \"v\"x\r\n", want: "-ERR Protocol error: unbalanced quotes in request\r\n"},
	{name: "bulk without CRLF", head: "*1\r\n$4\r\nPINGxx", want: "-ERR Protocol error: expected '\\r\\n' after a bulk string\r\n"},
	{name: "length line without CR", head: "*1\n", want: "-ERR Protocol error: expected '\\r\\n' at the end of a length line\r\n"},
}

func TestReaderRefuses(t *testing.T) {
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			in := a.head + strings.Repeat(a.tail, min(a.tailBytes, 1<<20)/max(len(a.tail), 1))
			_, err := readAll(strings.NewReader(in), ReadLimits{})
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a protocol error", err)
			}
			if got := "-" + pe.Error() + "\r\n"; got != a.want {
				t.Fatalf("got %q, want %q", got, a.want)
			}
		})
	}
}

// Commands before a malformed one are handed out, then the error: Redis
// runs what it parsed before it stops.
func TestReaderErrorAfterCommands(t *testing.T) {
	r := newReader(strings.NewReader(encode([]string{"PING"})+"*x\r\n"), ReadLimits{MaxBulk: 100, MaxArray: 10, MaxInline: 100, MaxQueryBuffer: 1000})
	cmds, err := r.ReadCommands()
	if err != nil || len(cmds) != 1 || string(cmds[0][0]) != "PING" {
		t.Fatalf("got %q, %v; want PING first", cmds, err)
	}
	if _, err := r.ReadCommands(); err == nil || err.Error() != "ERR Protocol error: invalid multibulk length" {
		t.Fatalf("got %v, want the protocol error", err)
	}
}

func TestReaderLimits(t *testing.T) {
	lim := ReadLimits{MaxBulk: 10, MaxArray: 3, MaxInline: 16, MaxQueryBuffer: 100}
	tests := []struct {
		name, in, want string // want "": accepted
	}{
		{"bulk at the limit", encode([]string{"SET", "k", "0123456789"}), ""},
		{"bulk over the limit", encode([]string{"SET", "k", "0123456789a"}), "ERR Protocol error: invalid bulk length"},
		{"array at the limit", encode([]string{"a", "b", "c"}), ""},
		{"array over the limit", encode([]string{"a", "b", "c", "d"}), "ERR Protocol error: invalid multibulk length"},
		{"inline over the limit", "GET 0123456789abcdef\r\n", "ERR Protocol error: too big inline request"},
		{"inline words over the array limit", "a b c d\r\n", "ERR Protocol error: invalid multibulk length"},
		// Two commands of 47 bytes each: under the 100-byte buffer, as the
		// first is handed out before the second is read in full.
		{"commands one after the other within the buffer", encode([]string{"a", "0123456789", "0123456789"}) + "*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n$10\r\n0123456789",
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(strings.NewReader(tt.in), lim)
			if tt.want == "" && err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("got %v, want it accepted", err)
			}
			if tt.want != "" && (err == nil || err.Error() != tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	// A command larger than the query buffer, one byte at a time: the
	// reader refuses it once it holds MaxQueryBuffer bytes.
	lim = ReadLimits{MaxBulk: 1000, MaxArray: 1000, MaxInline: 16, MaxQueryBuffer: 4096}
	lim.setDefaults(0, 0)
	huge := "*1000\r\n" + strings.Repeat("$1000\r\n"+strings.Repeat("x", 1000)+"\r\n", 1000)
	_, err := readAll(iotest.OneByteReader(strings.NewReader(huge)), lim)
	if err == nil || !strings.Contains(err.Error(), "over client-query-buffer-limit") {
		t.Fatalf("got %v, want the query buffer limit", err)
	}
}

// The arguments handed out are the caller's: reading more never changes
// them (they are copied out of the read buffer, which is reused).
func TestReaderArgsOwned(t *testing.T) {
	in := encode([]string{"SET", "k1", "aaaa"}) + encode([]string{"SET", "k2", "bbbb"})
	r := newReader(iotest.OneByteReader(strings.NewReader(in)), ReadLimits{MaxBulk: 100, MaxArray: 10, MaxInline: 100, MaxQueryBuffer: 1000})
	first, err := r.ReadCommands()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadCommands(); err != nil {
		t.Fatal(err)
	}
	if got := string(bytes.Join(first[0], []byte(" "))); got != "SET k1 aaaa" {
		t.Fatalf("first command became %q after the second was read", got)
	}
	// Appending to an argument must not overwrite its neighbour.
	_ = append(first[0][1], 'X')
	if string(first[0][2]) != "aaaa" {
		t.Fatalf("appending to an argument overwrote the next: %q", first[0][2])
	}
}

// FuzzReader: whatever arrives, the reader neither panics nor hands out
// more than the limits allow, and it reads the same commands whether the
// bytes arrive at once or one at a time.
func FuzzReader(f *testing.F) {
	for _, a := range attacks {
		f.Add([]byte(a.head + strings.Repeat(a.tail, min(a.tailBytes, 4<<10)/max(len(a.tail), 1))))
	}
	for _, s := range []string{
		encode([]string{"SET", "k", "v"}, []string{"GET", "k"}),
		"PING\r\n", "*0\r\n", "*-1\r\n", `SET "a\x00b" 'c\'d'` + "\r\n",
		// Redis's own protocol-error cases (tests/unit/protocol.tcl).
		"*20000000\r\n", "*3000000000\r\n", "*1\r\n$20000000\r\n", "*1\r\n$3000000000\r\n",
		"*1\r\nfoo\r\n", "*1\r\n$-10\r\n", "\"hello\r\n", "hello \"world\r\n", "*1\r\n$1\r\nxx",
	} {
		f.Add([]byte(s))
	}
	lim := ReadLimits{MaxBulk: 64, MaxArray: 16, MaxInline: 128, MaxQueryBuffer: 4096}
	lim.setDefaults(0, 0)
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, errWhole := readAll(bytes.NewReader(in), lim)
		for _, c := range whole {
			if len(c) == 0 || len(c) > lim.MaxArray {
				t.Fatalf("command of %d args (limit %d)", len(c), lim.MaxArray)
			}
			for _, a := range c {
				if len(a) > max(lim.MaxBulk, lim.MaxInline) {
					t.Fatalf("argument of %d bytes", len(a))
				}
			}
		}
		bytewise, errBytes := readAll(iotest.OneByteReader(bytes.NewReader(in)), lim)
		if fmt.Sprintf("%q %v", whole, errWhole) != fmt.Sprintf("%q %v", bytewise, errBytes) {
			// NB: a line over MaxInline is refused once that many bytes
			// are held; whole, it may be refused earlier with another
			// error. Both must be protocol errors.
			var a, b *ProtocolError
			if !errors.As(errWhole, &a) || !errors.As(errBytes, &b) {
				t.Fatalf("at once: %q %v\none byte at a time: %q %v", whole, errWhole, bytewise, errBytes)
			}
		}
	})
}

// One read full of tiny commands is handed out in batches of at most
// maxBatch, and a buffer grown for a large command is not kept once the
// reader holds little.
func TestReaderBoundsWhatItKeeps(t *testing.T) {
	in := strings.Repeat("PING\r\n", 3000)
	r := newReader(strings.NewReader(in), ReadLimits{MaxBulk: 2 << 20, MaxArray: 10, MaxInline: 100, MaxQueryBuffer: 8 << 20})
	total := 0
	for total < 3000 {
		cmds, err := r.ReadCommands()
		if err != nil {
			t.Fatal(err)
		}
		if len(cmds) > maxBatch {
			t.Fatalf("one batch of %d commands (bound %d)", len(cmds), maxBatch)
		}
		total += len(cmds)
	}
	big := encode([]string{"SET", "k", strings.Repeat("v", 1<<20)}) + "*1\r\n"
	r = newReader(strings.NewReader(big), ReadLimits{MaxBulk: 2 << 20, MaxArray: 10, MaxInline: 100, MaxQueryBuffer: 8 << 20})
	if _, err := r.ReadCommands(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadCommands(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want EOF", err)
	}
	if len(r.buf) > shrinkAbove {
		t.Fatalf("the reader keeps a %d-byte buffer holding %d bytes", len(r.buf), r.end-r.cmd)
	}
}
