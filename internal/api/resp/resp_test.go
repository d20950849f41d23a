package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/apitest"
	"github.com/cairnkv/cairn/internal/kv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type env struct {
	srv  *Server
	b    *apitest.Backend
	addr string
	rdb  *redis.Client
}

// start serves a Server on 127.0.0.1:0 against apitest.New(8) and returns
// a go-redis client with default options.
func start(t testing.TB, opts ...func(*apitest.Backend)) *env {
	t.Helper()
	b := apitest.New(8)
	for _, o := range opts {
		o(b)
	}
	srv := New(Config{Backend: b, NodeName: "test", Version: "test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	e := &env{srv: srv, b: b, addr: ln.Addr().String()}
	e.rdb = redis.NewClient(&redis.Options{Addr: e.addr})
	t.Cleanup(func() {
		e.rdb.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

// raw sends b on a new connection and reads until want bytes arrived or
// the connection closed.
func (e *env) raw(t testing.TB, b string, n int) string {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	got, err := io.ReadAtLeast(c, buf, n)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading %d bytes: %v (got %q)", n, err, buf[:got])
	}
	return string(buf[:got])
}

func cmd(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

func TestRawReplies(t *testing.T) {
	e := start(t)
	big := strings.Repeat("k", 9000)
	tests := []struct {
		name, in, want string
	}{
		{"ping", cmd("PING"), "+PONG\r\n"},
		{"ping inline", "PING\r\n", "+PONG\r\n"},
		{"ping msg", cmd("ping", "hi"), "$2\r\nhi\r\n"},
		{"ping arity", cmd("ping", "a", "b"), "-ERR wrong number of arguments for 'ping' command\r\n"},
		{"echo", cmd("ECHO", "x y"), "$3\r\nx y\r\n"},
		{"unknown", cmd("foo", "a", "b"), "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"},
		{"unknown no args", cmd("foo"), "-ERR unknown command 'foo', with args beginning with: \r\n"},
		{"get arity", cmd("GET"), "-ERR wrong number of arguments for 'get' command\r\n"},
		{"set arity", cmd("set", "k"), "-ERR wrong number of arguments for 'set' command\r\n"},
		{"mset arity", cmd("mset", "a", "1", "b"), "-ERR wrong number of arguments for 'mset' command\r\n"},
		{"hello 3", cmd("HELLO", "3"), "-NOPROTO sorry, this protocol version is not supported.\r\n"},
		{"hello 3 before auth", cmd("HELLO", "3", "AUTH", "bob", "pw"), "-NOPROTO sorry, this protocol version is not supported.\r\n"},
		{"hello not a number", cmd("HELLO", "two"), "-ERR Protocol version is not an integer or out of range\r\n"},
		{"hello bad option", cmd("HELLO", "2", "SETNAM", "x"), "-ERR Syntax error in HELLO option 'SETNAM'\r\n"},
		{"hello auth short", cmd("HELLO", "2", "AUTH", "bob"), "-ERR Syntax error in HELLO option 'AUTH'\r\n"},
		{"hello auth unknown user", cmd("HELLO", "2", "AUTH", "bob", "pw"), "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"hello bad name", cmd("HELLO", "2", "SETNAME", "a b"), "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{"auth", cmd("AUTH", "pw"), "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"},
		{"select 0", cmd("SELECT", "0"), "+OK\r\n"},
		{"select 1", cmd("SELECT", "1"), "-ERR DB index is out of range\r\n"},
		{"key too large", cmd("SET", big, "v"), "-ERR key is 9000 bytes, over --max-key-size 8192\r\n"},
		{"set syntax", cmd("SET", "k", "v", "NX", "XX"), "-ERR syntax error\r\n"},
		{"set ex zero", cmd("SET", "k", "v", "EX", "0"), "-ERR invalid expire time in 'set' command\r\n"},
		{"set ex nonint", cmd("SET", "k", "v", "EX", "x"), "-ERR value is not an integer or out of range\r\n"},
		{"get missing", cmd("GET", "nope"), "$-1\r\n"},
		{"type none", cmd("TYPE", "nope"), "+none\r\n"},
		{"config unknown", cmd("CONFIG", "GET", "nothing-like-this"), "*0\r\n"},
		{"config save", cmd("CONFIG", "GET", "save"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{"msetnx crossslot", cmd("MSETNX", "a", "1", "b", "2", "c", "3", "d", "4"), "-CROSSSLOT Keys in request don't hash to the same slot (use a {hash tag})\r\n"},
		{"quit", cmd("QUIT") + cmd("PING"), "+OK\r\n"},
		{"pipelined set get", cmd("SET", "pk", "1") + cmd("GET", "pk"), "+OK\r\n$1\r\n1\r\n"},
		{"pipelined incr", cmd("INCR", "pi") + cmd("INCR", "pi") + cmd("GET", "pi") + cmd("DEL", "pi") + cmd("GET", "pi"), ":1\r\n:2\r\n$1\r\n2\r\n:1\r\n$-1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.raw(t, tt.in, len(tt.want)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMalformedRESP(t *testing.T) {
	e := start(t)
	for _, in := range []string{
		"*x\r\n",
		"*2\r\n$3\r\nGET\r\n+k\r\n",
		"*1\r\n$-5\r\n",
		"*1\r\n$3\r\nGETX\r\n",
		"\"unbalanced\r\n",
	} {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			got := e.raw(t, in, 256)
			if !strings.HasPrefix(got, "-ERR") {
				t.Errorf("got %q, want an error", got)
			}
		})
	}
	if err := e.rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("server did not survive: %v", err)
	}
}

// TestOneSessionAcrossPartitionsExpires shows why each connection keeps a
// Session per partition: kv answers a new session whose lowest
// unacknowledged seq is above 1 as expired.
func TestOneSessionAcrossPartitionsExpires(t *testing.T) {
	b := apitest.New(8)
	ss := api.NewSession(b.NewClientID())
	ctx := context.Background()
	seq, low := ss.Begin()
	if _, err := b.Propose(ctx, 0, kv.NewCommand(kv.Put([]byte("a"), []byte("1"))).WithSession(ss.Client, seq, low)); err != nil {
		t.Fatal(err)
	}
	ss.End(seq)
	seq, low = ss.Begin()
	rep, err := b.Propose(ctx, 1, kv.NewCommand(kv.Put([]byte("b"), []byte("1"))).WithSession(ss.Client, seq, low))
	if err != nil || rep.Code != kv.CodeSessionExpired {
		t.Fatalf("got %v %v, want CodeSessionExpired (if kv changed, resp could share one Session)", rep.Code, err)
	}
}

func TestSet(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	do := func(args ...any) *redis.Cmd { return e.rdb.Do(ctx, args...) }
	tests := []struct {
		name  string
		pre   [][]any
		args  []any
		want  any // string, nil (redis.Nil), or "ERR..." error prefix with err=true
		err   string
		check func(t *testing.T)
	}{
		{name: "plain", args: []any{"set", "s1", "v"}, want: "OK"},
		{name: "nx absent", args: []any{"set", "s2", "v", "NX"}, want: "OK"},
		{name: "nx present", pre: [][]any{{"set", "s3", "a"}}, args: []any{"set", "s3", "v", "nx"}, want: nil},
		{name: "xx absent", args: []any{"set", "s4", "v", "XX"}, want: nil},
		{name: "xx present", pre: [][]any{{"set", "s5", "a"}}, args: []any{"set", "s5", "v", "XX"}, want: "OK"},
		{name: "get old", pre: [][]any{{"set", "s6", "old"}}, args: []any{"set", "s6", "new", "GET"}, want: "old"},
		{name: "get absent", args: []any{"set", "s7", "new", "GET"}, want: nil},
		{name: "nx get present", pre: [][]any{{"set", "s8", "old"}}, args: []any{"set", "s8", "new", "NX", "GET"}, want: "old",
			check: func(t *testing.T) { expectGet(t, e, "s8", "old") }},
		{name: "ex", args: []any{"set", "s9", "v", "EX", "100"}, want: "OK",
			check: func(t *testing.T) { expectTTL(t, e, "s9", 99*time.Second, 100*time.Second) }},
		{name: "px", args: []any{"set", "s10", "v", "PX", "100000"}, want: "OK",
			check: func(t *testing.T) { expectTTL(t, e, "s10", 99*time.Second, 100*time.Second) }},
		{name: "exat", args: []any{"set", "s11", "v", "EXAT", fmt.Sprint(time.Now().Add(time.Hour).Unix())}, want: "OK",
			check: func(t *testing.T) { expectTTL(t, e, "s11", 58*time.Minute, time.Hour) }},
		{name: "pxat", args: []any{"set", "s12", "v", "PXAT", fmt.Sprint(time.Now().Add(time.Hour).UnixMilli())}, want: "OK",
			check: func(t *testing.T) { expectTTL(t, e, "s12", 58*time.Minute, time.Hour) }},
		{name: "exat past deletes", pre: [][]any{{"set", "s13", "a"}}, args: []any{"set", "s13", "v", "EXAT", "1"}, want: "OK",
			check: func(t *testing.T) { expectGet(t, e, "s13", nil) }},
		{name: "keepttl", pre: [][]any{{"set", "s14", "a", "EX", "100"}}, args: []any{"set", "s14", "b", "KEEPTTL"}, want: "OK",
			check: func(t *testing.T) { expectTTL(t, e, "s14", 99*time.Second, 100*time.Second) }},
		{name: "plain clears ttl", pre: [][]any{{"set", "s15", "a", "EX", "100"}}, args: []any{"set", "s15", "b"}, want: "OK",
			check: func(t *testing.T) { expectTTL(t, e, "s15", -1, -1) }},
		{name: "ex keepttl", args: []any{"set", "s16", "v", "EX", "1", "KEEPTTL"}, err: "ERR syntax error"},
		{name: "ex px", args: []any{"set", "s16", "v", "EX", "1", "PX", "1"}, err: "ERR syntax error"},
		{name: "ex missing", args: []any{"set", "s16", "v", "EX"}, err: "ERR syntax error"},
		{name: "ex negative", args: []any{"set", "s16", "v", "EX", "-1"}, err: "ERR invalid expire time in 'set' command"},
		{name: "px huge", args: []any{"set", "s16", "v", "PX", "9223372036854775807"}, err: "ERR invalid expire time in 'set' command"},
		{name: "unknown option", args: []any{"set", "s16", "v", "FOO"}, err: "ERR syntax error"},
		{name: "setnx", args: []any{"setnx", "s17", "v"}, want: int64(1)},
		{name: "setnx present", pre: [][]any{{"set", "s18", "a"}}, args: []any{"setnx", "s18", "v"}, want: int64(0)},
		{name: "setex", args: []any{"setex", "s19", "100", "v"}, want: "OK",
			check: func(t *testing.T) { expectTTL(t, e, "s19", 99*time.Second, 100*time.Second) }},
		{name: "setex zero", args: []any{"setex", "s19", "0", "v"}, err: "ERR invalid expire time in 'setex' command"},
		{name: "psetex", args: []any{"psetex", "s20", "100000", "v"}, want: "OK"},
		{name: "getset", pre: [][]any{{"set", "s21", "a"}}, args: []any{"getset", "s21", "b"}, want: "a"},
		{name: "getdel", pre: [][]any{{"set", "s22", "a"}}, args: []any{"getdel", "s22"}, want: "a",
			check: func(t *testing.T) { expectGet(t, e, "s22", nil) }},
		{name: "getdel absent", args: []any{"getdel", "s23"}, want: nil},
		{name: "getex plain", pre: [][]any{{"set", "s24", "a"}}, args: []any{"getex", "s24"}, want: "a"},
		{name: "getex ex", pre: [][]any{{"set", "s25", "a"}}, args: []any{"getex", "s25", "EX", "100"}, want: "a",
			check: func(t *testing.T) { expectTTL(t, e, "s25", 99*time.Second, 100*time.Second) }},
		{name: "getex persist", pre: [][]any{{"set", "s26", "a", "EX", "100"}}, args: []any{"getex", "s26", "PERSIST"}, want: "a",
			check: func(t *testing.T) { expectTTL(t, e, "s26", -1, -1) }},
		{name: "getex absent", args: []any{"getex", "s27", "EX", "10"}, want: nil},
		{name: "getex syntax", args: []any{"getex", "s27", "NX"}, err: "ERR syntax error"},
		{name: "append", pre: [][]any{{"set", "s28", "ab"}}, args: []any{"append", "s28", "cd"}, want: int64(4)},
		{name: "strlen", pre: [][]any{{"set", "s29", "abc"}}, args: []any{"strlen", "s29"}, want: int64(3)},
		{name: "strlen absent", args: []any{"strlen", "s30"}, want: int64(0)},
		{name: "type", pre: [][]any{{"set", "s31", "a"}}, args: []any{"type", "s31"}, want: "string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range tt.pre {
				if err := do(p...).Err(); err != nil {
					t.Fatalf("%v: %v", p, err)
				}
			}
			checkCmd(t, do(tt.args...), tt.want, tt.err)
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}

func checkCmd(t *testing.T, c *redis.Cmd, want any, wantErr string) {
	t.Helper()
	v, err := c.Result()
	switch {
	case wantErr != "":
		if err == nil || err.Error() != wantErr {
			t.Fatalf("%v: got %v, %v; want error %q", c.Args(), v, err, wantErr)
		}
	case want == nil:
		if !errors.Is(err, redis.Nil) {
			t.Fatalf("%v: got %v, %v; want nil", c.Args(), v, err)
		}
	default:
		if err != nil || v != want {
			t.Fatalf("%v: got %#v, %v; want %#v", c.Args(), v, err, want)
		}
	}
}

func expectGet(t *testing.T, e *env, key string, want any) {
	t.Helper()
	checkCmd(t, e.rdb.Do(context.Background(), "get", key), want, "")
}

// expectTTL checks PTTL within [lo, hi]; -1 and -2 exactly.
func expectTTL(t *testing.T, e *env, key string, lo, hi time.Duration) {
	t.Helper()
	ms, err := e.rdb.Do(context.Background(), "pttl", key).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if lo < 0 {
		if ms != int64(lo) {
			t.Fatalf("PTTL %s = %d, want %d", key, ms, lo)
		}
		return
	}
	if d := time.Duration(ms) * time.Millisecond; d < lo || d > hi {
		t.Fatalf("PTTL %s = %v, want in [%v, %v]", key, d, lo, hi)
	}
}

func TestExpiry(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	do := func(args ...any) *redis.Cmd { return e.rdb.Do(ctx, args...) }
	later := fmt.Sprint(time.Now().Add(time.Hour).Unix())
	tests := []struct {
		name string
		pre  [][]any
		args []any
		want any
		err  string
	}{
		{"ttl missing", nil, []any{"ttl", "e1"}, int64(-2), ""},
		{"pttl missing", nil, []any{"pttl", "e1"}, int64(-2), ""},
		{"ttl none", [][]any{{"set", "e2", "v"}}, []any{"ttl", "e2"}, int64(-1), ""},
		{"ttl", [][]any{{"set", "e3", "v", "EX", "100"}}, []any{"ttl", "e3"}, int64(100), ""},
		{"expire", [][]any{{"set", "e4", "v"}}, []any{"expire", "e4", "100"}, int64(1), ""},
		{"expire missing", nil, []any{"expire", "e5", "100"}, int64(0), ""},
		{"expire negative deletes", [][]any{{"set", "e6", "v"}}, []any{"expire", "e6", "-1"}, int64(1), ""},
		{"after delete", nil, []any{"exists", "e6"}, int64(0), ""},
		{"pexpire", [][]any{{"set", "e7", "v"}}, []any{"pexpire", "e7", "100000"}, int64(1), ""},
		{"expireat", [][]any{{"set", "e8", "v"}}, []any{"expireat", "e8", later}, int64(1), ""},
		{"expiretime", nil, []any{"expiretime", "e8"}, mustInt(later), ""},
		{"expire nonint", nil, []any{"expire", "e8", "x"}, nil, "ERR value is not an integer or out of range"},
		{"expire huge", nil, []any{"expire", "e8", "9223372036854775807"}, nil, "ERR invalid expire time in 'expire' command"},
		{"expire nx xx", nil, []any{"expire", "e8", "10", "NX", "XX"}, nil, "ERR NX and XX, GT or LT options at the same time are not compatible"},
		{"expire gt lt", nil, []any{"expire", "e8", "10", "GT", "LT"}, nil, "ERR GT and LT options at the same time are not compatible"},
		{"expire bad option", nil, []any{"expire", "e8", "10", "ZZ"}, nil, "ERR Unsupported option ZZ"},
		{"expire nx with ttl", [][]any{{"set", "e9", "v", "EX", "100"}}, []any{"expire", "e9", "10", "NX"}, int64(0), ""},
		{"expire nx without ttl", [][]any{{"set", "e10", "v"}}, []any{"expire", "e10", "10", "NX"}, int64(1), ""},
		{"expire xx without ttl", [][]any{{"set", "e11", "v"}}, []any{"expire", "e11", "10", "XX"}, int64(0), ""},
		{"expire gt smaller", [][]any{{"set", "e12", "v", "EX", "100"}}, []any{"expire", "e12", "10", "GT"}, int64(0), ""},
		{"expire gt larger", [][]any{{"set", "e13", "v", "EX", "100"}}, []any{"expire", "e13", "1000", "GT"}, int64(1), ""},
		{"expire gt no ttl", [][]any{{"set", "e14", "v"}}, []any{"expire", "e14", "1000", "GT"}, int64(0), ""},
		{"expire lt no ttl", [][]any{{"set", "e15", "v"}}, []any{"expire", "e15", "1000", "LT"}, int64(1), ""},
		{"expire lt smaller", [][]any{{"set", "e16", "v", "EX", "100"}}, []any{"expire", "e16", "10", "LT"}, int64(1), ""},
		{"ttl after lt", nil, []any{"ttl", "e16"}, int64(10), ""},
		{"persist", [][]any{{"set", "e17", "v", "EX", "100"}}, []any{"persist", "e17"}, int64(1), ""},
		{"persist no ttl", nil, []any{"persist", "e17"}, int64(0), ""},
		{"persist missing", nil, []any{"persist", "e18"}, int64(0), ""},
		{"incr keeps ttl", [][]any{{"set", "e19", "1", "EX", "100"}, {"incr", "e19"}}, []any{"ttl", "e19"}, int64(100), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range tt.pre {
				if err := do(p...).Err(); err != nil {
					t.Fatalf("%v: %v", p, err)
				}
			}
			checkCmd(t, do(tt.args...), tt.want, tt.err)
		})
	}
}

func mustInt(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}

func TestIncr(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	do := func(args ...any) *redis.Cmd { return e.rdb.Do(ctx, args...) }
	tests := []struct {
		name string
		pre  [][]any
		args []any
		want any
		err  string
	}{
		{"incr absent", nil, []any{"incr", "i1"}, int64(1), ""},
		{"incr", nil, []any{"incr", "i1"}, int64(2), ""},
		{"incrby", nil, []any{"incrby", "i1", "10"}, int64(12), ""},
		{"decr", nil, []any{"decr", "i1"}, int64(11), ""},
		{"decrby", nil, []any{"decrby", "i1", "20"}, int64(-9), ""},
		{"not integer", [][]any{{"set", "i2", "abc"}}, []any{"incr", "i2"}, nil, "ERR value is not an integer or out of range"},
		{"leading zero", [][]any{{"set", "i3", "01"}}, []any{"incr", "i3"}, nil, "ERR value is not an integer or out of range"},
		{"bad delta", nil, []any{"incrby", "i1", "1.5"}, nil, "ERR value is not an integer or out of range"},
		{"overflow", [][]any{{"set", "i4", "9223372036854775807"}}, []any{"incr", "i4"}, nil, "ERR increment or decrement would overflow"},
		{"underflow", [][]any{{"set", "i5", "-9223372036854775808"}}, []any{"decr", "i5"}, nil, "ERR increment or decrement would overflow"},
		{"decrby min", nil, []any{"decrby", "i6", "-9223372036854775808"}, nil, "ERR decrement would overflow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range tt.pre {
				if err := do(p...).Err(); err != nil {
					t.Fatalf("%v: %v", p, err)
				}
			}
			checkCmd(t, do(tt.args...), tt.want, tt.err)
		})
	}
}

// keysInDifferentPartitions returns n keys that are all in different
// partitions of 8.
func keysInDifferentPartitions(n int) []string {
	seen := map[int]bool{}
	b := apitest.New(8)
	var keys []string
	for i := 0; len(keys) < n; i++ {
		k := fmt.Sprintf("key%d", i)
		if p := b.Partition([]byte(k)); !seen[p] {
			seen[p] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func TestMultiKey(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	k := keysInDifferentPartitions(4)
	if err := e.rdb.MSet(ctx, k[0], "a", k[1], "b", k[2], "c").Err(); err != nil {
		t.Fatal(err)
	}
	t.Run("mget", func(t *testing.T) {
		got, err := e.rdb.MGet(ctx, k[2], k[3], k[0], k[1]).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := []any{"c", nil, "a", "b"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("exists counts duplicates", func(t *testing.T) {
		if n, err := e.rdb.Exists(ctx, k[0], k[0], k[1], k[3]).Result(); err != nil || n != 3 {
			t.Fatalf("got %d %v, want 3", n, err)
		}
	})
	t.Run("del", func(t *testing.T) {
		if n, err := e.rdb.Del(ctx, k[0], k[1], k[3], k[0]).Result(); err != nil || n != 2 {
			t.Fatalf("got %d %v, want 2", n, err)
		}
		if n, err := e.rdb.Unlink(ctx, k[2]).Result(); err != nil || n != 1 {
			t.Fatalf("unlink: got %d %v, want 1", n, err)
		}
	})
	t.Run("msetnx cross partition", func(t *testing.T) {
		err := e.rdb.MSetNX(ctx, k[0], "a", k[1], "b").Err()
		if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
			t.Fatalf("got %v, want CROSSSLOT", err)
		}
	})
	t.Run("msetnx hash tag", func(t *testing.T) {
		if ok, err := e.rdb.MSetNX(ctx, "{u}a", "1", "{u}b", "2").Result(); err != nil || !ok {
			t.Fatalf("got %v %v, want true", ok, err)
		}
		if ok, err := e.rdb.MSetNX(ctx, "{u}c", "1", "{u}b", "3").Result(); err != nil || ok {
			t.Fatalf("got %v %v, want false", ok, err)
		}
		expectGet(t, e, "{u}b", "2")
		expectGet(t, e, "{u}c", nil)
	})
}

func TestPipeline(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	keys := keysInDifferentPartitions(8)
	pipe := e.rdb.Pipeline()
	var incrs []*redis.IntCmd
	var gets []*redis.StringCmd
	for i := range 50 {
		for _, k := range keys {
			incrs = append(incrs, pipe.Incr(ctx, k))
		}
		if i%10 == 0 {
			for _, k := range keys {
				gets = append(gets, pipe.Get(ctx, k))
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range incrs {
		if want := int64(i/len(keys) + 1); c.Val() != want {
			t.Fatalf("incr %d of %s = %d, want %d", i, c.Args()[1], c.Val(), want)
		}
	}
	for i, g := range gets {
		if want := fmt.Sprint((i/len(keys))*10 + 1); g.Val() != want {
			t.Fatalf("get %d of %s = %q, want %q (reads must see the pipeline's earlier writes)", i, g.Args()[1], g.Val(), want)
		}
	}
}

func TestScanKeys(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 200 {
		k := fmt.Sprintf("user:%d", i)
		want[k] = true
		if err := e.rdb.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := e.rdb.Set(ctx, fmt.Sprintf("other:%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		match string
		count int64
		want  func(string) bool
	}{
		{"all", "", 7, func(k string) bool { return true }},
		{"all default count", "", 0, func(k string) bool { return true }},
		{"prefix", "user:*", 13, func(k string) bool { return strings.HasPrefix(k, "user:") }},
		{"class", "user:1[0-2]", 5, func(k string) bool { return k == "user:10" || k == "user:11" || k == "user:12" }},
		{"question", "other:?", 100, func(k string) bool { return strings.HasPrefix(k, "other:") && len(k) == 7 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]int{}
			var cur uint64
			calls := 0
			for {
				keys, next, err := e.rdb.Scan(ctx, cur, tt.match, tt.count).Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range keys {
					seen[k]++
				}
				calls++
				if next == 0 {
					break
				}
				cur = next
				if calls > 10000 {
					t.Fatal("scan does not end")
				}
			}
			n := 0
			for i := range 200 {
				for _, k := range []string{fmt.Sprintf("user:%d", i), fmt.Sprintf("other:%d", i)} {
					if tt.want(k) {
						n++
						if seen[k] != 1 {
							t.Errorf("%s seen %d times, want 1", k, seen[k])
						}
					}
				}
			}
			if len(seen) != n {
				t.Errorf("saw %d keys, want %d", len(seen), n)
			}
		})
	}
	t.Run("keys", func(t *testing.T) {
		got, err := e.rdb.Keys(ctx, "user:1?").Result()
		if err != nil || len(got) != 10 {
			t.Fatalf("got %d keys %v, want 10", len(got), err)
		}
		all, err := e.rdb.Keys(ctx, "*").Result()
		if err != nil || len(all) != 400 {
			t.Fatalf("got %d keys %v, want 400", len(all), err)
		}
	})
	t.Run("bad cursor", func(t *testing.T) {
		if err := e.rdb.Scan(ctx, 12345, "", 10).Err(); err == nil || !strings.Contains(err.Error(), "invalid cursor") {
			t.Fatalf("got %v, want invalid cursor", err)
		}
	})
}

// HELLO 2 answers as Redis 6+ does in RESP2: the server's description as
// a flat array, the connection's own ID, and SETNAME / AUTH default applied.
func TestHello2(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	conn := e.rdb.Conn()
	defer conn.Close()
	id, err := conn.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]any{{"HELLO"}, {"HELLO", "2"}, {"HELLO", "2", "AUTH", "default", "anything", "SETNAME", "me"}} {
		v, err := conn.Do(ctx, args...).Slice()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		want := []any{"server", "redis", "version", "7.0.0", "proto", int64(2), "id", id, "mode", "standalone", "role", "master", "modules", []any{}}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("%v = %#v\nwant %#v", args, v, want)
		}
	}
	if name, err := conn.ClientGetName(ctx).Result(); err != nil || name != "me" {
		t.Fatalf("CLIENT GETNAME after HELLO 2 SETNAME me = %q %v", name, err)
	}
}

func TestDBSizeFlushInfo(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	for i := range 30 {
		if err := e.rdb.Set(ctx, fmt.Sprint("k", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := e.rdb.DBSize(ctx).Result(); err != nil || n != 30 {
		t.Fatalf("DBSIZE = %d %v, want 30", n, err)
	}
	info, err := e.rdb.Info(ctx, "keyspace").Result()
	if err != nil || !strings.Contains(info, "db0:keys=30,expires=0,avg_ttl=0\r\n") {
		t.Fatalf("INFO keyspace = %q %v", info, err)
	}
	for i := range 7 {
		if err := e.rdb.Expire(ctx, fmt.Sprint("k", i), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.rdb.Set(ctx, "k0", "v", 0).Err(); err != nil { // SET drops k0's TTL
		t.Fatal(err)
	}
	info, err = e.rdb.Info(ctx, "keyspace").Result()
	if err != nil || !strings.Contains(info, "db0:keys=30,expires=6,avg_ttl=0\r\n") {
		t.Fatalf("INFO keyspace after 7 EXPIREs and one SET = %q %v; want expires=6", info, err)
	}
	server, err := e.rdb.Info(ctx, "server").Result()
	if err != nil || !strings.Contains(server, fmt.Sprintf("\r\nprocess_id:%d\r\n", os.Getpid())) {
		t.Fatalf("INFO server = %q %v; want process_id:%d", server, err, os.Getpid())
	}
	all, err := e.rdb.Info(ctx).Result()
	for _, want := range []string{"# Server\r\n", "redis_version:", "# Clients\r\nconnected_clients:1\r\n", "# Replication\r\nrole:master\r\n", "# Keyspace\r\n"} {
		if err != nil || !strings.Contains(all, want) {
			t.Fatalf("INFO lacks %q: %q %v", want, all, err)
		}
	}
	if err := e.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := e.rdb.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("DBSIZE after FLUSHALL = %d %v, want 0", n, err)
	}
	if err := e.rdb.Set(ctx, "x", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.rdb.DBSize(ctx).Result(); n != 0 {
		t.Fatalf("DBSIZE after FLUSHDB = %d, want 0", n)
	}
}

func TestConnectionCommands(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	do := func(args ...any) *redis.Cmd { return e.rdb.Do(ctx, args...) }
	checkCmd(t, do("client", "setname", "me"), "OK", "")
	checkCmd(t, do("client", "getname"), "me", "")
	checkCmd(t, do("client", "setname", "a b"), nil, "ERR Client names cannot contain spaces, newlines or special characters.")
	checkCmd(t, do("client", "setinfo", "lib-name", "x"), "OK", "")
	checkCmd(t, do("client", "nope"), nil, "ERR unknown subcommand 'nope'. Try CLIENT HELP.")
	if id, err := do("client", "id").Int64(); err != nil || id <= 0 {
		t.Fatalf("CLIENT ID = %d %v", id, err)
	}
	checkCmd(t, do("command", "count"), int64(len(commandTable)), "")
	cmds, err := e.rdb.Command(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if g := cmds["get"]; g == nil || g.Arity != 2 || g.FirstKeyPos != 1 || !g.ReadOnly {
		t.Fatalf("COMMAND get = %+v", g)
	}
	if m := cmds["mset"]; m == nil || m.Arity != -3 || m.StepCount != 2 || m.LastKeyPos != -1 {
		t.Fatalf("COMMAND mset = %+v", m)
	}
	docs, err := do("command", "docs", "get").Slice()
	if err != nil || len(docs) != 2 || docs[0] != "get" {
		t.Fatalf("COMMAND DOCS get = %v %v", docs, err)
	}
	checkCmd(t, do("echo", "hi"), "hi", "")
	checkCmd(t, do("auth", "default", "x"), "OK", "")
}

func TestLimitsAndNoSpace(t *testing.T) {
	e := start(t, func(b *apitest.Backend) { b.Lim = api.Limits{MaxKeySize: 8, MaxValueSize: 16} })
	ctx := context.Background()
	err := e.rdb.Set(ctx, "k", strings.Repeat("v", 17), 0).Err()
	if err == nil || err.Error() != "ERR value is 17 bytes, over --max-value-size 16" {
		t.Fatalf("got %v", err)
	}
	err = e.rdb.MSet(ctx, "a", "1", "123456789", "2").Err()
	if err == nil || err.Error() != "ERR key is 9 bytes, over --max-key-size 8" {
		t.Fatalf("got %v", err)
	}
	err = e.rdb.Get(ctx, "").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR empty key") {
		t.Fatalf("got %v", err)
	}
	if err := e.rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	e.b.NoSpace.Store(true)
	err = e.rdb.Set(ctx, "k", "w", 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "NOSPACE ") {
		t.Fatalf("got %v, want NOSPACE", err)
	}
	expectGet(t, e, "k", "v")
	e.b.NoSpace.Store(false)
}

func TestCloseWithOpenConnections(t *testing.T) {
	e := start(t)
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		io.WriteString(c, cmd("PING"))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "+PONG\r\n" {
			t.Fatalf("%q %v", line, err)
		}
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection still open after Close")
		}
	}
}

func TestRedisCLI(t *testing.T) {
	path, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not found; install Debian package redis-tools")
	}
	e := start(t)
	host, port, _ := net.SplitHostPort(e.addr)
	run := func(args ...string) string {
		out, err := exec.Command(path, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "PONG"},
		{[]string{"SET", "cli", "1"}, "OK"},
		{[]string{"INCR", "cli"}, "2"},
		{[]string{"GET", "cli"}, "2"},
		{[]string{"DBSIZE"}, "1"},
		{[]string{"TTL", "cli"}, "-1"},
	} {
		if got := run(c.args...); got != c.want {
			t.Errorf("redis-cli %v = %q, want %q", c.args, got, c.want)
		}
	}
}

// FuzzCommand feeds arbitrary arguments to the dispatcher.
func FuzzCommand(f *testing.F) {
	for _, seed := range []string{
		"SET k v EX 10", "GET k", "SET k v GET NX PXAT 1", "MSET a 1 b 2", "MSETNX {a}x 1 {a}y 2",
		"EXPIRE k 10 GT", "GETEX k PERSIST", "SCAN 0 MATCH * COUNT 3", "KEYS [a-", "INCRBY k -9223372036854775808",
		"CLIENT SETINFO lib-name x", "COMMAND DOCS get", "CONFIG GET *", "INFO keyspace", "FLUSHALL", "QUIT",
	} {
		f.Add(seed)
	}
	b := apitest.New(4)
	srv := New(Config{Backend: b})
	f.Cleanup(func() { srv.Close() })
	c := srv.newClient("fuzz")
	f.Fuzz(func(t *testing.T, line string) {
		var args [][]byte
		for _, a := range strings.Split(line, " ") {
			args = append(args, []byte(a))
		}
		out, _ := srv.run(c, [][][]byte{args, args}, nil)
		if len(out) == 0 {
			t.Fatal("no reply")
		}
		switch out[0] {
		case '+', '-', ':', '$', '*':
		default:
			t.Fatalf("bad reply %q", out)
		}
	})
}

func BenchmarkCommand(b *testing.B) {
	backend := apitest.New(8)
	srv := New(Config{Backend: backend})
	defer srv.Close()
	c := srv.newClient("bench")
	set := [][][]byte{{[]byte("SET"), []byte("key"), []byte("value")}}
	get := [][][]byte{{[]byte("GET"), []byte("key")}}
	var out []byte
	b.Run("SET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, _ = srv.run(c, set, out[:0])
		}
	})
	b.Run("GET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, _ = srv.run(c, get, out[:0])
		}
	})
}

// BenchmarkWire measures the whole door over loopback TCP: reading and
// parsing the request, running it and writing the reply, with one
// command per round trip and with pipelines of 16 (redis-benchmark -P 16).
func BenchmarkWire(b *testing.B) {
	e := start(b)
	for _, tc := range []struct {
		name  string
		cmd   string
		depth int
	}{
		{"SET", "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", 1},
		{"GET", "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", 1},
		{"SET-P16", "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", 16},
		{"SET-1MiB", "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048576\r\n" + strings.Repeat("v", 1<<20) + "\r\n", 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte(strings.Repeat(tc.cmd, tc.depth))
			rd := bufio.NewReader(c)
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				for range tc.depth {
					line, err := rd.ReadSlice('\n')
					if err != nil {
						b.Fatal(err)
					}
					if line[0] == '$' && line[1] != '-' {
						// a bulk reply: its body and CRLF follow
						if _, err := rd.ReadSlice('\n'); err != nil {
							b.Fatal(err)
						}
					}
					if line[0] == '-' {
						b.Fatalf("error reply %q", line)
					}
				}
			}
		})
	}
}
