package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/apitest"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

// step is one scripted answer of a Backend call.
type step struct {
	err   error
	apply bool // Propose: apply the command, then answer err (the answer was lost)
	block bool // wait for the request's deadline and answer ctx.Err()
}

// anyP scripts a step for whichever partition is called next.
const anyP = -1

// scripted is an api.Backend whose Propose and Read answer per call from a
// script (per partition, or anyP), and pass through to apitest otherwise.
type scripted struct {
	*apitest.Backend
	mu       sync.Mutex
	proposes map[int][]step
	reads    map[int][]step
	nPropose map[int]int
	nRead    map[int]int
}

func newScripted(p int) *scripted {
	return &scripted{Backend: apitest.New(p), proposes: map[int][]step{}, reads: map[int][]step{},
		nPropose: map[int]int{}, nRead: map[int]int{}}
}

func (b *scripted) scriptPropose(p int, steps ...step) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.proposes[p] = append(b.proposes[p], steps...)
}

func (b *scripted) scriptRead(p int, steps ...step) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads[p] = append(b.reads[p], steps...)
}

// counts returns the Propose and Read calls made on p so far.
func (b *scripted) counts(p int) (proposes, reads int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nPropose[p], b.nRead[p]
}

func (b *scripted) totalProposes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.nPropose {
		n += c
	}
	return n
}

func (b *scripted) next(q map[int][]step, n map[int]int, p int) (step, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n[p]++
	for _, k := range []int{p, anyP} {
		if len(q[k]) > 0 {
			st := q[k][0]
			q[k] = q[k][1:]
			return st, true
		}
	}
	return step{}, false
}

func (b *scripted) Propose(ctx context.Context, p int, cmd kv.Command) (kv.Reply, error) {
	st, ok := b.next(b.proposes, b.nPropose, p)
	switch {
	case !ok:
		return b.Backend.Propose(ctx, p, cmd)
	case st.block:
		<-ctx.Done()
		return kv.Reply{}, ctx.Err()
	case st.apply:
		if _, err := b.Backend.Propose(ctx, p, cmd); err != nil {
			return kv.Reply{}, err
		}
	}
	return kv.Reply{}, st.err
}

func (b *scripted) Read(ctx context.Context, p int, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	st, ok := b.next(b.reads, b.nRead, p)
	switch {
	case !ok:
		return b.Backend.Read(ctx, p, mode, q)
	case st.block:
		<-ctx.Done()
		return kv.Reply{}, ctx.Err()
	}
	return kv.Reply{}, st.err
}

var _ api.Backend = (*scripted)(nil)

// The errors of DESIGN.md's table, as a Backend returns them.
var (
	errNotLeader = &replica.ErrNotLeader{Group: 3, Hint: 2, HintNode: "n2"}
	errNoSpace   = fmt.Errorf("storage: %w", api.ErrNoSpace)
)

// Their exact RESP renderings.
const (
	wantNotLeader     = "-TRYAGAIN not applied (replica: group 3: not leader (leader is replica 2 on node n2)); retrying is safe\r\n"
	wantNotApplied    = "-TRYAGAIN not applied (replica: request not applied); retrying is safe\r\n"
	wantIndeterminate = "-TIMEOUT outcome unknown: the command may or may not have been applied (replica: outcome unknown (indeterminate))\r\n"
	wantDeadline      = "-TIMEOUT outcome unknown: the command may or may not have been applied (context deadline exceeded)\r\n"
	wantNoSpace       = "-NOSPACE disk nearly full (below --min-free-disk); writes refused, reads still served\r\n"
)

var wantSkipped = "-" + string(errSkipped) + "\r\n"

type fenv struct {
	srv  *Server
	b    *scripted
	reg  *prometheus.Registry
	addr string
	rdb  *redis.Client // default options
}

// startScripted serves a Server over a scripted backend with 8 partitions.
func startScripted(t testing.TB, timeout time.Duration) *fenv {
	t.Helper()
	b := newScripted(8)
	reg := prometheus.NewRegistry()
	srv := New(Config{Backend: b, Registry: reg, NodeName: "test", Version: "test", RequestTimeout: timeout})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	e := &fenv{srv: srv, b: b, reg: reg, addr: ln.Addr().String()}
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

// rawReplies sends in on a new connection and returns the next n RESP
// replies, each as its exact bytes.
func (e *fenv) rawReplies(t testing.TB, in string, n int) []string {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, in); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var out []string
	for range n {
		s, err := readReply(r)
		if err != nil {
			t.Fatalf("reading reply %d of %d: %v (got %q)", len(out)+1, n, err, out)
		}
		out = append(out, s)
	}
	return out
}

// readReply reads one RESP2 reply and returns its bytes.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return line, err
	}
	switch line[0] {
	case '$':
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil || n < 0 {
			return line, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return line, err
		}
		return line + string(buf), nil
	case '*':
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return line, err
		}
		for range n {
			s, err := readReply(r)
			line += s
			if err != nil {
				return line, err
			}
		}
	}
	return line, nil
}

// keyIn returns a key of partition p.
func keyIn(b *scripted, p int, prefix string) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s%d", prefix, i)
		if b.Partition([]byte(k)) == p {
			return k
		}
	}
}

// TestFailureRawReplies checks the exact bytes of each row of DESIGN.md's
// error table, for writes and reads, and that every failure is answered
// with one reply and leaves the connection usable.
func TestFailureRawReplies(t *testing.T) {
	e := startScripted(t, 100*time.Millisecond)
	const p = 2
	k := keyIn(e.b, p, "raw")
	ki := keyIn(e.b, p, "rawi")
	tests := []struct {
		name     string
		proposes []step
		reads    []step
		in       string
		want     string
		proposed int // Propose calls the command made
	}{
		{name: "set not leader", proposes: []step{{err: errNotLeader}}, in: cmd("SET", k, "v"), want: wantNotLeader, proposed: 1},
		{name: "set not applied", proposes: []step{{err: replica.ErrNotApplied}}, in: cmd("SET", k, "v"), want: wantNotApplied, proposed: 1},
		{name: "set membership change", proposes: []step{{err: replica.ErrMembershipChange}}, in: cmd("SET", k, "v"),
			want: "-TRYAGAIN not applied (" + replica.ErrMembershipChange.Error() + "); retrying is safe\r\n", proposed: 1},
		{name: "set indeterminate", proposes: []step{{err: replica.ErrIndeterminate}}, in: cmd("SET", k, "v"), want: wantIndeterminate, proposed: 1},
		{name: "incr indeterminate applied", proposes: []step{{err: replica.ErrIndeterminate, apply: true}}, in: cmd("INCR", ki), want: wantIndeterminate, proposed: 1},
		{name: "set deadline", proposes: []step{{block: true}}, in: cmd("SET", k, "v"), want: wantDeadline, proposed: 1},
		{name: "set stopped", proposes: []step{{err: replica.ErrStopped}}, in: cmd("SET", k, "v"),
			want: "-TIMEOUT outcome unknown: the command may or may not have been applied (" + replica.ErrStopped.Error() + ")\r\n", proposed: 1},
		{name: "set nospace", proposes: []step{{err: errNoSpace}}, in: cmd("SET", k, "v"), want: wantNoSpace, proposed: 1},
		{name: "del nospace", proposes: []step{{err: errNoSpace}}, in: cmd("DEL", k), want: wantNoSpace, proposed: 1},
		{name: "get not leader", reads: []step{{err: errNotLeader}}, in: cmd("GET", k), want: wantNotLeader},
		{name: "mget not applied", reads: []step{{err: replica.ErrNotApplied}}, in: cmd("MGET", k), want: wantNotApplied},
		{name: "get deadline", reads: []step{{block: true}}, in: cmd("GET", k), want: wantDeadline},
		{name: "get nospace reads still work", proposes: []step{{err: errNoSpace}}, in: cmd("GET", k+"absent"), want: "$-1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.b.scriptPropose(p, tt.proposes...)
			e.b.scriptRead(p, tt.reads...)
			before, _ := e.b.counts(p)
			got := e.rawReplies(t, tt.in+cmd("PING"), 2)
			if got[0] != tt.want {
				t.Errorf("got %q,\nwant %q", got[0], tt.want)
			}
			if got[1] != "+PONG\r\n" {
				t.Errorf("after the failure got %q, want +PONG", got[1])
			}
			if after, _ := e.b.counts(p); after-before != tt.proposed {
				t.Errorf("%d Propose calls, want %d", after-before, tt.proposed)
			}
			// Drain what a case did not use (reads of the nospace case).
			e.b.mu.Lock()
			e.b.proposes[p], e.b.reads[p] = nil, nil
			e.b.mu.Unlock()
		})
	}
}

// TestGoRedisRetriesNotApplied: a write that fails once as certainly not
// applied answers -TRYAGAIN, go-redis (default options) retries it, gets
// success, and the command is applied exactly once.
func TestGoRedisRetriesNotApplied(t *testing.T) {
	e := startScripted(t, 0)
	ctx := context.Background()
	tests := []struct {
		name  string
		fails []step
		run   func(key string) error
		want  string // the key's value after
	}{
		{name: "set after not leader", fails: []step{{err: errNotLeader}},
			run: func(k string) error { return e.rdb.Set(ctx, k, "v", 0).Err() }, want: "v"},
		{name: "incr after not applied", fails: []step{{err: replica.ErrNotApplied}},
			run: func(k string) error {
				n, err := e.rdb.Incr(ctx, k).Result()
				if err == nil && n != 1 {
					return fmt.Errorf("INCR answered %d, want 1", n)
				}
				return err
			}, want: "1"},
		{name: "incr after two failures", fails: []step{{err: replica.ErrNotApplied}, {err: errNotLeader}},
			run: func(k string) error { return e.rdb.IncrBy(ctx, k, 5).Err() }, want: "5"},
		{name: "append after membership change", fails: []step{{err: replica.ErrMembershipChange}},
			run: func(k string) error { return e.rdb.Append(ctx, k, "ab").Err() }, want: "ab"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := i % e.b.Partitions()
			k := keyIn(e.b, p, "retry")
			e.b.scriptPropose(p, tt.fails...)
			before, _ := e.b.counts(p)
			if err := tt.run(k); err != nil {
				t.Fatalf("go-redis got %v, want success after its retry", err)
			}
			if after, _ := e.b.counts(p); after-before != len(tt.fails)+1 {
				t.Errorf("%d Propose calls, want %d (the failures, then one success)", after-before, len(tt.fails)+1)
			}
			if v, err := e.rdb.Get(ctx, k).Result(); err != nil || v != tt.want {
				t.Errorf("GET %s = %q, %v; want %q (applied exactly once)", k, v, err, tt.want)
			}
		})
	}
}

// TestGoRedisDoesNotRetryIndeterminate: an unknown outcome answers
// -TIMEOUT outcome unknown, which go-redis does not retry (one Propose call),
// whether the command in fact applied or not; NOSPACE is not retried either.
func TestGoRedisDoesNotRetryIndeterminate(t *testing.T) {
	e := startScripted(t, 100*time.Millisecond)
	ctx := context.Background()
	tests := []struct {
		name    string
		fail    step
		wantErr string
		want    any // INCR's effect: "1" or nil (redis.Nil)
	}{
		{name: "indeterminate not applied", fail: step{err: replica.ErrIndeterminate}, wantErr: strings.TrimSuffix(wantIndeterminate[1:], "\r\n"), want: nil},
		{name: "indeterminate applied", fail: step{err: replica.ErrIndeterminate, apply: true}, wantErr: strings.TrimSuffix(wantIndeterminate[1:], "\r\n"), want: "1"},
		{name: "server deadline", fail: step{block: true}, wantErr: strings.TrimSuffix(wantDeadline[1:], "\r\n"), want: nil},
		{name: "broken forward", fail: step{err: io.ErrUnexpectedEOF},
			wantErr: "TIMEOUT outcome unknown: the command may or may not have been applied (unexpected EOF)", want: nil},
		{name: "nospace", fail: step{err: errNoSpace}, wantErr: strings.TrimSuffix(wantNoSpace[1:], "\r\n"), want: nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := i % e.b.Partitions()
			k := keyIn(e.b, p, "indet")
			e.b.scriptPropose(p, tt.fail)
			before, _ := e.b.counts(p)
			err := e.rdb.Incr(ctx, k).Err()
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			if after, _ := e.b.counts(p); after-before != 1 {
				t.Errorf("%d Propose calls, want exactly 1 (no retry)", after-before)
			}
			v, err := e.rdb.Get(ctx, k).Result()
			switch {
			case tt.want == nil && !errors.Is(err, redis.Nil):
				t.Errorf("GET %s = %q, %v; want nil", k, v, err)
			case tt.want != nil && (err != nil || v != tt.want):
				t.Errorf("GET %s = %q, %v; want %q", k, v, err, tt.want)
			}
		})
	}
}

// TestNoSpaceRefusesWritesServesReads: below the free-disk floor every
// write answers -NOSPACE and every read still answers.
func TestNoSpaceRefusesWritesServesReads(t *testing.T) {
	e := startScripted(t, 0)
	ctx := context.Background()
	keys := keysInDifferentPartitions(2)
	if err := e.rdb.MSet(ctx, keys[0], "a", keys[1], "b").Err(); err != nil {
		t.Fatal(err)
	}
	e.b.NoSpace.Store(true)
	defer e.b.NoSpace.Store(false)
	tests := []struct {
		name, in, want string
	}{
		{"set", cmd("SET", keys[0], "x"), wantNoSpace},
		{"setnx", cmd("SETNX", "fresh", "x"), wantNoSpace},
		{"incr", cmd("INCR", "n"), wantNoSpace},
		{"append", cmd("APPEND", keys[0], "x"), wantNoSpace},
		{"del", cmd("DEL", keys[0]), wantNoSpace},
		{"expire", cmd("EXPIRE", keys[0], "100"), wantNoSpace},
		// Every partition failed, certainly not applied: the plain error.
		{"mset across partitions", cmd("MSET", keys[0], "x", keys[1], "y"), wantNoSpace},
		{"get", cmd("GET", keys[0]), "$1\r\na\r\n"},
		{"mget", cmd("MGET", keys[0], keys[1], "none"), "*3\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n"},
		{"exists", cmd("EXISTS", keys[0], keys[1]), ":2\r\n"},
		{"strlen", cmd("STRLEN", keys[1]), ":1\r\n"},
		{"ttl", cmd("TTL", keys[0]), ":-1\r\n"},
		{"dbsize", cmd("DBSIZE"), ":2\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.rawReplies(t, tt.in, 1)[0]; got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("go-redis does not retry", func(t *testing.T) {
		before := e.b.totalProposes()
		err := e.rdb.Set(ctx, keys[0], "x", 0).Err()
		if err == nil || !strings.HasPrefix(err.Error(), "NOSPACE ") {
			t.Fatalf("got %v, want NOSPACE", err)
		}
		if n := e.b.totalProposes() - before; n != 1 {
			t.Errorf("%d Propose calls, want 1", n)
		}
		if v, err := e.rdb.Get(ctx, keys[0]).Result(); err != nil || v != "a" {
			t.Errorf("GET = %q, %v; want a", v, err)
		}
	})
}

// TestPipelineAfterUnknownOutcome: in a pipeline, after a write to a
// partition whose outcome is unknown, the connection's later commands to
// that partition are not sent (they answer -TRYAGAIN) while those to other
// partitions run; a certainly-not-applied write poisons nothing.
func TestPipelineAfterUnknownOutcome(t *testing.T) {
	e := startScripted(t, 0)
	pa := e.b.Partition([]byte("{a}"))
	pb := (pa + 1) % e.b.Partitions()
	kb := keyIn(e.b, pb, "b")
	tests := []struct {
		name     string
		fail     step
		in       []string
		want     []string
		proposed int // Propose calls on pa
		reads    int // Read calls on pa
	}{
		{
			name: "indeterminate write poisons its partition",
			fail: step{err: replica.ErrIndeterminate},
			in: []string{cmd("SET", "{a}1", "1"), cmd("SET", kb, "1"), cmd("GET", "{a}1"), cmd("SET", "{a}2", "2"),
				cmd("GET", kb), cmd("INCR", "{a}2"), cmd("PING")},
			want:     []string{wantIndeterminate, "+OK\r\n", wantSkipped, wantSkipped, "$1\r\n1\r\n", wantSkipped, "+PONG\r\n"},
			proposed: 1,
		},
		{
			name:     "applied but unknown poisons too",
			fail:     step{err: replica.ErrIndeterminate, apply: true},
			in:       []string{cmd("INCR", "{a}3"), cmd("INCR", kb+"n"), cmd("GET", "{a}3"), cmd("INCR", "{a}3")},
			want:     []string{wantIndeterminate, ":1\r\n", wantSkipped, wantSkipped},
			proposed: 1,
		},
		{
			name:     "deadline poisons",
			fail:     step{block: true},
			in:       []string{cmd("DEL", "{a}4"), cmd("EXISTS", "{a}4"), cmd("SET", "{a}4", "x"), cmd("SET", kb+"d", "y")},
			want:     []string{wantDeadline, wantSkipped, wantSkipped, "+OK\r\n"},
			proposed: 1,
		},
		{
			name: "poison survives a barrier",
			fail: step{err: replica.ErrIndeterminate},
			in: []string{cmd("SET", "{a}5", "1"), cmd("KEYS", "nothing-matches*"), cmd("SET", "{a}5", "2"),
				cmd("SET", kb+"k", "3"), cmd("GET", "{a}5")},
			want:     []string{wantIndeterminate, "*0\r\n", wantSkipped, "+OK\r\n", wantSkipped},
			proposed: 1,
			reads:    1, // KEYS reads every partition once
		},
		{
			name: "not applied poisons nothing",
			fail: step{err: replica.ErrNotApplied},
			in: []string{cmd("SET", "{a}6", "1"), cmd("SET", kb+"x", "1"), cmd("GET", "{a}6"), cmd("SET", "{a}6", "2"),
				cmd("GET", kb+"x"), cmd("INCR", "{a}6")},
			want:     []string{wantNotApplied, "+OK\r\n", "$-1\r\n", "+OK\r\n", "$1\r\n1\r\n", ":3\r\n"},
			proposed: 2, // the failed SET, then SET and INCR sharing one command
			reads:    1,
		},
		{
			name:     "nospace poisons nothing",
			fail:     step{err: errNoSpace},
			in:       []string{cmd("SET", "{a}7", "1"), cmd("GET", "{a}7"), cmd("SET", "{a}7", "2"), cmd("GET", "{a}7")},
			want:     []string{wantNoSpace, "$-1\r\n", "+OK\r\n", "$1\r\n2\r\n"},
			proposed: 2,
			reads:    2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.b.scriptPropose(pa, tt.fail)
			p0, r0 := e.b.counts(pa)
			got := e.rawReplies(t, strings.Join(tt.in, ""), len(tt.want))
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Errorf("reply %d: got %q,\nwant %q", i, got[i], tt.want[i])
				}
			}
			p1, r1 := e.b.counts(pa)
			if p1-p0 != tt.proposed || r1-r0 != tt.reads {
				t.Errorf("partition %d: %d Propose and %d Read calls, want %d and %d", pa, p1-p0, r1-r0, tt.proposed, tt.reads)
			}
		})
	}
	t.Run("go-redis pipeline", func(t *testing.T) {
		ctx := context.Background()
		e.b.scriptPropose(pa, step{err: replica.ErrIndeterminate})
		p0, _ := e.b.counts(pa)
		pipe := e.rdb.Pipeline()
		first := pipe.Set(ctx, "{a}g1", "1", 0)
		other := pipe.Incr(ctx, kb+"g")
		sameRead := pipe.Get(ctx, "{a}g1")
		same := pipe.Incr(ctx, "{a}g2")
		read := pipe.Get(ctx, kb+"g")
		_, err := pipe.Exec(ctx)
		if err == nil || !strings.HasPrefix(err.Error(), "TIMEOUT outcome unknown") {
			t.Fatalf("Exec: %v, want the first error, TIMEOUT", err)
		}
		if err := first.Err(); err == nil || !strings.HasPrefix(err.Error(), "TIMEOUT outcome unknown") {
			t.Errorf("SET: %v", err)
		}
		if n, err := other.Result(); err != nil || n != 1 {
			t.Errorf("INCR other partition: %d, %v; want 1 (and not retried)", n, err)
		}
		if err := sameRead.Err(); err == nil || err.Error() != string(errSkipped) {
			t.Errorf("GET same partition: %v, want %q", err, errSkipped)
		}
		if err := same.Err(); err == nil || err.Error() != string(errSkipped) {
			t.Errorf("INCR same partition: %v, want %q", err, errSkipped)
		}
		if v, err := read.Result(); err != nil || v != "1" {
			t.Errorf("GET other partition: %q, %v", v, err)
		}
		if p1, _ := e.b.counts(pa); p1-p0 != 1 {
			t.Errorf("%d Propose calls on partition %d, want 1", p1-p0, pa)
		}
	})
}

// TestMultiKeyPartialFailure: a multi-key write across partitions where a
// part fails answers an error saying some keys may have been written (and
// go-redis does not retry it); when every part certainly failed, the plain
// error.
func TestMultiKeyPartialFailure(t *testing.T) {
	e := startScripted(t, 100*time.Millisecond)
	ctx := context.Background()
	tests := []struct {
		name    string
		fail    map[int][]step // by index of the key in keys
		cmd     func(k []string) []string
		want    string
		written []bool // which keys hold their new value after
	}{
		{
			name: "mset one partition not leader",
			fail: map[int][]step{1: {{err: errNotLeader}}},
			cmd:  func(k []string) []string { return []string{"MSET", k[0], "new", k[1], "new", k[2], "new"} },
			want: "-ERR 1 of 3 partitions failed, so some keys may have been written and others not: " +
				strings.TrimPrefix(wantNotLeader, "-"),
			written: []bool{true, false, true},
		},
		{
			name: "mset one partition indeterminate",
			fail: map[int][]step{0: {{err: replica.ErrIndeterminate}}},
			cmd:  func(k []string) []string { return []string{"MSET", k[0], "new", k[1], "new"} },
			want: "-ERR 1 of 2 partitions failed, so some keys may have been written and others not: " +
				strings.TrimPrefix(wantIndeterminate, "-"),
			written: []bool{false, true},
		},
		{
			name: "mset one partition nospace",
			fail: map[int][]step{1: {{err: errNoSpace}}},
			cmd:  func(k []string) []string { return []string{"MSET", k[0], "new", k[1], "new"} },
			want: "-ERR 1 of 2 partitions failed, so some keys may have been written and others not: " +
				strings.TrimPrefix(wantNoSpace, "-"),
			written: []bool{true, false},
		},
		{
			name: "mset every partition uncertain",
			fail: map[int][]step{0: {{err: replica.ErrIndeterminate, apply: true}}, 1: {{err: replica.ErrNotApplied}}},
			cmd:  func(k []string) []string { return []string{"MSET", k[0], "new", k[1], "new"} },
			want: "-ERR 2 of 2 partitions failed, so some keys may have been written and others not: " +
				strings.TrimPrefix(wantIndeterminate, "-"),
			written: []bool{true, false},
		},
		{
			name:    "mset every partition not applied",
			fail:    map[int][]step{0: {{err: replica.ErrNotApplied}}, 1: {{err: errNotLeader}}},
			cmd:     func(k []string) []string { return []string{"MSET", k[0], "new", k[1], "new"} },
			want:    wantNotApplied,
			written: []bool{false, false},
		},
		{
			name:    "del one partition not applied",
			fail:    map[int][]step{1: {{err: replica.ErrNotApplied}}},
			cmd:     func(k []string) []string { return []string{"DEL", k[0], k[1]} },
			want:    "-ERR 1 of 2 partitions failed, so some keys may have been written and others not: " + strings.TrimPrefix(wantNotApplied, "-"),
			written: []bool{true, false}, // "written": k[0] deleted; checked below as absent
		},
		{
			name:    "mset one partition",
			fail:    map[int][]step{0: {{err: replica.ErrIndeterminate}}},
			cmd:     func(k []string) []string { return []string{"MSET", k[0], "new", k[0], "newer"} },
			want:    wantIndeterminate,
			written: []bool{false},
		},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys []string
			for i, k := range keysInDifferentPartitions(3) {
				keys = append(keys, fmt.Sprintf("{%s}case%d", k, n))
				if err := e.rdb.Set(ctx, keys[i], "old", 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			for i, steps := range tt.fail {
				e.b.scriptPropose(e.b.Partition([]byte(keys[i])), steps...)
			}
			before := e.b.totalProposes()
			args := tt.cmd(keys)
			if got := e.rawReplies(t, cmd(args...), 1)[0]; got != tt.want {
				t.Errorf("got %q,\nwant %q", got, tt.want)
			}
			parts := map[int]bool{}
			for i := 1; i < len(args); i++ {
				if slices.Contains(keys, args[i]) {
					parts[e.b.Partition([]byte(args[i]))] = true
				}
			}
			if n := e.b.totalProposes() - before; n != len(parts) {
				t.Errorf("%d Propose calls, want %d (one per partition)", n, len(parts))
			}
			for i, w := range tt.written {
				v, err := e.rdb.Get(ctx, keys[i]).Result()
				switch {
				case args[0] == "DEL" && w:
					if !errors.Is(err, redis.Nil) {
						t.Errorf("%s = %q, %v; want deleted", keys[i], v, err)
					}
				case w && v != "new", !w && v != "old":
					t.Errorf("%s = %q, %v; written %v", keys[i], v, err, w)
				}
			}
		})
	}
	t.Run("go-redis does not retry a partial failure", func(t *testing.T) {
		keys := keysInDifferentPartitions(2)
		e.b.scriptPropose(e.b.Partition([]byte(keys[1])), step{err: errNotLeader})
		before := e.b.totalProposes()
		err := e.rdb.MSet(ctx, keys[0], "1", keys[1], "2").Err()
		if err == nil || !strings.HasPrefix(err.Error(), "ERR 1 of 2 partitions failed, so some keys may have been written") {
			t.Fatalf("got %v", err)
		}
		if n := e.b.totalProposes() - before; n != 2 {
			t.Errorf("%d Propose calls, want 2 (no retry)", n)
		}
	})
}

// TestMetricsLabels: the RESP metrics exist in the Registry, are labelled
// by command name only (never by a key or other argument) and count failed
// commands too; the connection gauge follows open connections.
func TestMetricsLabels(t *testing.T) {
	e := startScripted(t, 0)
	const secret = "secret-key-7f3a"
	kp := e.b.Partition([]byte(secret))
	e.b.scriptPropose(kp, step{err: errNotLeader})
	sent := []struct {
		name, in, label string
		n               float64
	}{
		{"set failed", cmd("SET", secret, "v"), "set", 1},
		{"set", cmd("set", secret, "v"), "set", 1},
		{"get twice", cmd("GET", secret) + cmd("get", secret), "get", 2},
		{"mset", cmd("MSET", secret, "a", secret+"2", "b"), "mset", 1},
		{"unknown", cmd(secret, "x"), "unknown", 1},
		{"ping", cmd("PING"), "ping", 1},
	}
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	for _, s := range sent {
		io.WriteString(conn, s.in)
		for range int(s.n) {
			if _, err := readReply(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]float64{}
	for _, s := range sent {
		want[s.label] += s.n
	}
	fams, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "secret") || strings.Contains(l.GetName(), "secret") {
					t.Errorf("%s has a label %s=%q carrying a key", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	got := map[string]float64{}
	if f := byName["cairn_resp_commands_total"]; f == nil {
		t.Fatal("cairn_resp_commands_total not registered")
	} else {
		for _, m := range f.GetMetric() {
			ls := m.GetLabel()
			if len(ls) != 1 || ls[0].GetName() != "command" {
				t.Fatalf("cairn_resp_commands_total labels %v, want only command", ls)
			}
			if v := ls[0].GetValue(); v != "unknown" && lookup([]byte(v)) == nil {
				t.Errorf("label command=%q is not a command name", v)
			}
			got[ls[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	for _, s := range sent {
		t.Run(s.name, func(t *testing.T) {
			if got[s.label] != want[s.label] {
				t.Errorf("cairn_resp_commands_total{command=%q} = %v, want %v", s.label, got[s.label], want[s.label])
			}
		})
	}
	if f := byName["cairn_resp_command_seconds"]; f == nil {
		t.Error("cairn_resp_command_seconds not registered")
	}
	gauge := func() float64 {
		fams, err := e.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "cairn_resp_connections" {
				if len(f.GetMetric()) != 1 || len(f.GetMetric()[0].GetLabel()) != 0 {
					t.Fatalf("cairn_resp_connections: %v, want one unlabelled gauge", f.GetMetric())
				}
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("cairn_resp_connections not registered")
		return 0
	}
	t.Run("connections", func(t *testing.T) {
		if g := gauge(); g != 1 {
			t.Errorf("cairn_resp_connections = %v with one connection open, want 1", g)
		}
		conn.Close()
		deadline := time.Now().Add(5 * time.Second)
		for gauge() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("cairn_resp_connections = %v after the connection closed, want 0", gauge())
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// TestWriteAfterFailedFirstWrite: when a connection's first write to a
// partition fails (certainly not applied, or with an unknown outcome), its
// next write there still works and applies once: the door restarts or
// renews its session for that partition instead of answering "session
// expired" for ever.
func TestWriteAfterFailedFirstWrite(t *testing.T) {
	e := startScripted(t, 100*time.Millisecond)
	tests := []struct {
		name      string
		fail      step
		wantFirst string
		want      string // the next INCR's reply
		proposed  int    // Propose calls of the next INCR
	}{
		{"not leader", step{err: errNotLeader}, wantNotLeader, ":1\r\n", 1},
		{"not applied", step{err: replica.ErrNotApplied}, wantNotApplied, ":1\r\n", 1},
		{"nospace", step{err: errNoSpace}, wantNoSpace, ":1\r\n", 1},
		// kv never saw seq 1: it answers SessionExpired to low 2, and the
		// door proposes again under a fresh client ID.
		{"indeterminate not applied", step{err: replica.ErrIndeterminate}, wantIndeterminate, ":1\r\n", 2},
		{"deadline", step{block: true}, wantDeadline, ":1\r\n", 2},
		{"indeterminate applied", step{err: replica.ErrIndeterminate, apply: true}, wantIndeterminate, ":2\r\n", 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := i % e.b.Partitions()
			k := keyIn(e.b, p, "first")
			conn, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(conn)
			do := func(in string) string {
				t.Helper()
				io.WriteString(conn, in)
				got, err := readReply(r)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			e.b.scriptPropose(p, tt.fail)
			if got := do(cmd("INCR", k)); got != tt.wantFirst {
				t.Fatalf("first INCR: got %q, want %q", got, tt.wantFirst)
			}
			before, _ := e.b.counts(p)
			if got := do(cmd("INCR", k)); got != tt.want {
				t.Errorf("next INCR: got %q, want %q", got, tt.want)
			}
			if after, _ := e.b.counts(p); after-before != tt.proposed {
				t.Errorf("next INCR made %d Propose calls, want %d", after-before, tt.proposed)
			}
			if got := do(cmd("INCR", k)); got != fmt.Sprintf(":%d\r\n", mustInt(strings.Trim(tt.want, ":\r\n"))+1) {
				t.Errorf("third INCR: got %q", got)
			}
		})
	}
}
