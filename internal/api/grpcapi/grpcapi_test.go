package grpcapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/apitest"
	"github.com/cairnkv/cairn/internal/kv"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs a Server for b on a loopback port and returns a client of it;
// both stop when the test ends.
func serve(t testing.TB, b api.Backend, reg prometheus.Registerer) *Client {
	t.Helper()
	return serveConfig(t, Config{Backend: b, Registry: reg})
}

func serveConfig(t testing.TB, cfg Config) *Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	New(cfg).Register(gs)
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(lis) }()
	c, err := Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		gs.Stop()
		<-done
	})
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails unless err has code c and, when reason is set, a cairn
// ErrorInfo with that reason.
func wantCode(t *testing.T, err error, c codes.Code, reason string) {
	t.Helper()
	if got := status.Code(err); got != c {
		t.Fatalf("code: got %v (%v), want %v", got, err, c)
	}
	if reason != "" {
		if ei := Info(err); ei == nil || ei.Reason != reason {
			t.Fatalf("ErrorInfo: got %v, want reason %s (err %v)", ei, reason, err)
		}
	}
}

func TestUnary(t *testing.T) {
	ctx := ctxT(t)
	b := apitest.New(8)
	c := serve(t, b, nil)

	put, err := c.Put(ctx, &pb.PutRequest{Key: []byte("a"), Value: []byte("1"), ReturnPrev: true})
	if err != nil {
		t.Fatal(err)
	}
	if put.Version == 0 || put.Prev != nil || !put.GetCreated() || put.GroupTimeUnixNanos == 0 {
		t.Fatalf("first put: %v", put)
	}
	get, err := c.Get(ctx, &pb.GetRequest{Key: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	if !get.Found || string(get.Value) != "1" || get.Version != put.Version || get.TtlMs != nil || get.GroupTimeUnixNanos == 0 {
		t.Fatalf("get: %v", get)
	}
	put2, err := c.Put(ctx, &pb.PutRequest{Key: []byte("a"), Value: []byte("2"), ReturnPrev: true, TtlMs: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	if put2.Version <= put.Version || string(put2.Prev) != "1" || put2.GetCreated() {
		t.Fatalf("second put: %v", put2)
	}
	plain, err := c.Put(ctx, &pb.PutRequest{Key: []byte("plain"), Value: []byte("x")})
	if err != nil || plain.Created != nil {
		t.Fatalf("plain put: %v %v (created is unknown without return_prev or a condition)", plain, err)
	}
	for _, mode := range []pb.Consistency{pb.Consistency_CONSISTENCY_LINEARIZABLE, pb.Consistency_CONSISTENCY_FOLLOWER, pb.Consistency_CONSISTENCY_STALE} {
		get, err = c.Get(ctx, &pb.GetRequest{Key: []byte("a"), Consistency: mode})
		if err != nil {
			t.Fatal(err)
		}
		if string(get.Value) != "2" || get.TtlMs == nil || *get.TtlMs <= 0 || *get.TtlMs > 60_000 || get.DeadlineUnixNanos == 0 {
			t.Fatalf("get %v after put with ttl: %v", mode, get)
		}
	}
	_, err = c.Get(ctx, &pb.GetRequest{Key: []byte("a"), Consistency: 7})
	wantCode(t, err, codes.InvalidArgument, ReasonInvalid)

	miss, err := c.Get(ctx, &pb.GetRequest{Key: []byte("nope")})
	if err != nil || miss.Found {
		t.Fatalf("get absent: %v %v", miss, err)
	}

	inc, err := c.Incr(ctx, &pb.IncrRequest{Key: []byte("n"), Delta: 5})
	if err != nil || inc.Value != 5 || inc.Version == 0 {
		t.Fatalf("incr: %v %v", inc, err)
	}
	inc, err = c.Incr(ctx, &pb.IncrRequest{Key: []byte("n"), Delta: -7})
	if err != nil || inc.Value != -2 {
		t.Fatalf("incr: %v %v", inc, err)
	}

	del, err := c.Delete(ctx, &pb.DeleteRequest{Key: []byte("a"), ReturnPrev: true})
	if err != nil || !del.Deleted || string(del.Prev) != "2" {
		t.Fatalf("delete: %v %v", del, err)
	}
	del, err = c.Delete(ctx, &pb.DeleteRequest{Key: []byte("a")})
	if err != nil || del.Deleted {
		t.Fatalf("delete absent: %v %v", del, err)
	}

	info, err := c.GetCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Node != "test" || info.Settings.Partitions != 8 || len(info.Partitions) != 8 || !info.Ready ||
		info.Partitions[3].Leader != "test" || info.Partitions[3].Group != 4 || info.Partitions[3].Local.GetRole() != "leader" ||
		len(info.Checks) != 3 || len(info.Nodes) != 1 {
		t.Fatalf("cluster: %v", info)
	}
}

func TestConditions(t *testing.T) {
	ctx := ctxT(t)
	c := serve(t, apitest.New(8), nil)
	k := []byte("k")
	v1, err := c.Put(ctx, &pb.PutRequest{Key: k, Value: []byte("one"), IfAbsent: true})
	if err != nil || !v1.GetCreated() {
		t.Fatalf("put if_absent on absent: %v %v", v1, err)
	}
	wantVersion := func(err error) {
		t.Helper()
		wantCode(t, err, codes.FailedPrecondition, ReasonConditionFailed)
		if got := Info(err).Metadata["version"]; got != fmt.Sprint(v1.Version) {
			t.Fatalf("current version: got %q, want %d", got, v1.Version)
		}
		if !strings.Contains(status.Convert(err).Message(), fmt.Sprint(v1.Version)) {
			t.Fatalf("message does not name the version: %v", err)
		}
	}
	_, err = c.Put(ctx, &pb.PutRequest{Key: k, Value: []byte("x"), IfAbsent: true})
	wantVersion(err)
	_, err = c.Put(ctx, &pb.PutRequest{Key: k, Value: []byte("x"), IfVersion: ptr(v1.Version + 100)})
	wantVersion(err)
	_, err = c.Put(ctx, &pb.PutRequest{Key: k, Value: []byte("x"), IfValue: []byte("two")})
	wantVersion(err)
	_, err = c.Delete(ctx, &pb.DeleteRequest{Key: k, IfVersion: ptr(v1.Version + 1)})
	wantVersion(err)
	_, err = c.Put(ctx, &pb.PutRequest{Key: []byte("absent"), Value: []byte("x"), IfExists: true})
	wantCode(t, err, codes.FailedPrecondition, ReasonConditionFailed)
	if Info(err).Metadata["version"] != "0" {
		t.Fatalf("absent key's version: %v", Info(err).Metadata)
	}

	v2, err := c.Put(ctx, &pb.PutRequest{Key: k, Value: []byte("two"), IfVersion: ptr(v1.Version), IfValue: []byte("one")})
	if err != nil || v2.GetCreated() || v2.Created == nil {
		t.Fatalf("put if_version/if_value that hold: %v %v", v2, err)
	}
	if _, err := c.Delete(ctx, &pb.DeleteRequest{Key: k, IfVersion: ptr(v2.Version)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Incr(ctx, &pb.IncrRequest{Key: []byte("plain"), Delta: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, &pb.PutRequest{Key: []byte("s"), Value: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Incr(ctx, &pb.IncrRequest{Key: []byte("s"), Delta: 1})
	wantCode(t, err, codes.FailedPrecondition, ReasonNotInteger)
	if _, err := c.Put(ctx, &pb.PutRequest{Key: []byte("big"), Value: []byte("9223372036854775807")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Incr(ctx, &pb.IncrRequest{Key: []byte("big"), Delta: 1})
	wantCode(t, err, codes.OutOfRange, ReasonOverflow)
}

func TestInvalid(t *testing.T) {
	ctx := ctxT(t)
	c := serve(t, apitest.New(8), nil)
	big := bytes.Repeat([]byte("k"), api.DefaultLimits.MaxKeySize+1)
	huge := make([]byte, api.DefaultLimits.MaxValueSize+1)
	for _, tc := range []struct {
		name  string
		call  func() error
		limit string // the limit the error must name, if any
	}{
		{"put key over limit", func() error { _, err := c.Put(ctx, &pb.PutRequest{Key: big}); return err }, "--max-key-size"},
		{"get key over limit", func() error { _, err := c.Get(ctx, &pb.GetRequest{Key: big}); return err }, "--max-key-size"},
		{"delete key over limit", func() error { _, err := c.Delete(ctx, &pb.DeleteRequest{Key: big}); return err }, "--max-key-size"},
		{"incr key over limit", func() error { _, err := c.Incr(ctx, &pb.IncrRequest{Key: big}); return err }, "--max-key-size"},
		{"scan prefix over limit", func() error { _, err := c.Scan(ctx, &pb.ScanRequest{Prefix: big}); return err }, "--max-key-size"},
		{"value over limit", func() error { _, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: huge}); return err }, "--max-value-size"},
		{"empty key", func() error { _, err := c.Put(ctx, &pb.PutRequest{}); return err }, ""},
		{"negative ttl", func() error { _, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), TtlMs: -1}); return err }, ""},
		{"ttl and keep_ttl", func() error {
			_, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), TtlMs: 1, KeepTtl: true})
			return err
		}, ""},
		{"if_absent and if_exists", func() error {
			_, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), IfAbsent: true, IfExists: true})
			return err
		}, ""},
		{"session seq 0", func() error {
			_, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Session: &pb.Session{ClientId: 9}})
			return err
		}, ""},
		{"session low above seq", func() error {
			_, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Session: &pb.Session{ClientId: 9, Seq: 2, LowUnacked: 3}})
			return err
		}, ""},
		{"scan prefix and start", func() error {
			_, err := c.Scan(ctx, &pb.ScanRequest{Prefix: []byte("a"), Start: []byte("b")})
			return err
		}, ""},
		{"scan bad cursor", func() error { _, err := c.Scan(ctx, &pb.ScanRequest{Cursor: "!!"}); return err }, ""},
		{"scan cursor partition out of range", func() error {
			_, err := c.Scan(ctx, &pb.ScanRequest{Cursor: api.Cursor{Partition: 8}.String()})
			return err
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, err, codes.InvalidArgument, ReasonInvalid)
			if tc.limit != "" {
				if !strings.Contains(status.Convert(err).Message(), tc.limit) || Info(err).Metadata["limit"] != tc.limit {
					t.Fatalf("error does not name %s: %v %v", tc.limit, err, Info(err))
				}
			}
		})
	}
}

func TestNoSpace(t *testing.T) {
	ctx := ctxT(t)
	b := apitest.New(8)
	c := serve(t, b, nil)
	if _, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	b.NoSpace.Store(true)
	_, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("w")})
	wantCode(t, err, codes.ResourceExhausted, ReasonNoSpace)
	_, err = c.Incr(ctx, &pb.IncrRequest{Key: []byte("n"), Delta: 1})
	wantCode(t, err, codes.ResourceExhausted, ReasonNoSpace)
	get, err := c.Get(ctx, &pb.GetRequest{Key: []byte("k")})
	if err != nil || string(get.Value) != "v" {
		t.Fatalf("get while NOSPACE: %v %v", get, err)
	}
	if _, err := c.Scan(ctx, &pb.ScanRequest{}); err != nil {
		t.Fatalf("scan while NOSPACE: %v", err)
	}
}

// failing answers every Propose and Read with err.
type failing struct {
	*apitest.Backend
	err error
}

func (f *failing) Propose(context.Context, int, kv.Command) (kv.Reply, error) {
	return kv.Reply{}, f.err
}

func TestBackendErrors(t *testing.T) {
	ctx := ctxT(t)
	notLeader := &failing{Backend: apitest.New(8), err: fmt.Errorf("forwarding: %w", &replicaErrNotLeader)}
	c := serve(t, notLeader, nil)
	_, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v")})
	wantCode(t, err, codes.Unavailable, ReasonNotApplied)
	if leader, ok := NotApplied(err); !ok || leader != "n2" {
		t.Fatalf("NotApplied(%v) = %q, %v; want n2, true", err, leader, ok)
	}
	bc, err := c.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bc.Incr(ctx, &pb.IncrRequest{Key: []byte("k"), Delta: 1})
	if leader, ok := NotApplied(err); !ok || leader != "n2" {
		t.Fatalf("batch: NotApplied(%v) = %q, %v; want n2, true", err, leader, ok)
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := NotApplied(status.Error(codes.Unavailable, "connection reset")); ok {
		t.Fatal("a bare UNAVAILABLE counted as not applied")
	}

	c = serve(t, &failing{Backend: apitest.New(8), err: replicaErrIndeterminate}, nil)
	_, err = c.Delete(ctx, &pb.DeleteRequest{Key: []byte("k")})
	wantCode(t, err, codes.DeadlineExceeded, ReasonIndeterminate)
	if !strings.Contains(status.Convert(err).Message(), "indeterminate") {
		t.Fatalf("message: %v", err)
	}
	if _, ok := NotApplied(err); ok {
		t.Fatal("indeterminate counted as not applied")
	}
}

func TestRetrySameSession(t *testing.T) {
	ctx := ctxT(t)
	c := serve(t, apitest.New(8), nil)
	sess := &pb.Session{ClientId: 4242, Seq: 1, LowUnacked: 1}
	first, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("first"), Session: sess})
	if err != nil {
		t.Fatal(err)
	}
	// The retry carries another value on purpose: it must not apply.
	again, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("second"), Session: sess})
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != first.Version || again.GroupTimeUnixNanos != first.GroupTimeUnixNanos {
		t.Fatalf("retry answered %v, first answer was %v", again, first)
	}
	get, err := c.Get(ctx, &pb.GetRequest{Key: []byte("k")})
	if err != nil || string(get.Value) != "first" || get.Version != first.Version {
		t.Fatalf("after the retry: %v %v", get, err)
	}
	// The next seq applies; acknowledging seq 1 drops it from the window.
	next, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("third"), Session: &pb.Session{ClientId: 4242, Seq: 2, LowUnacked: 2}})
	if err != nil || next.Version <= first.Version {
		t.Fatalf("seq 2: %v %v", next, err)
	}
	_, err = c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("late"), Session: sess})
	wantCode(t, err, codes.FailedPrecondition, ReasonSequenceBelowWindow)
}

func TestScanPagination(t *testing.T) {
	ctx := ctxT(t)
	b := apitest.New(8)
	c := serve(t, b, nil)
	want := map[string]bool{}
	for i := range 300 {
		k := fmt.Sprintf("user/%04d", i)
		want[k] = true
		if _, err := c.Put(ctx, &pb.PutRequest{Key: []byte(k), Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 { // outside the prefix
		if _, err := c.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprintf("zz/%d", i)), Value: []byte("z")}); err != nil {
			t.Fatal(err)
		}
	}
	parts := map[int]bool{}
	for k := range want {
		parts[b.Partition([]byte(k))] = true
	}
	if len(parts) < 8 {
		t.Fatalf("the keys cover only %d of 8 partitions", len(parts))
	}
	for _, limit := range []uint32{1, 7, 64, 1000} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			seen := map[string]int{}
			pages := 0
			req := &pb.ScanRequest{Prefix: []byte("user/"), Limit: limit}
			for {
				page, err := c.Scan(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page.Items) > int(limit) {
					t.Fatalf("page of %d items with limit %d", len(page.Items), limit)
				}
				for _, it := range page.Items {
					seen[string(it.Key)]++
					if !bytes.Equal(it.Key, it.Value) || it.Version == 0 {
						t.Fatalf("item %v", it)
					}
				}
				if page.NextCursor == "" {
					break
				}
				req.Cursor = page.NextCursor
			}
			for k, n := range seen {
				if !want[k] || n != 1 {
					t.Fatalf("key %q seen %d times (in the prefix: %v)", k, n, want[k])
				}
			}
			if len(seen) != len(want) {
				t.Fatalf("saw %d keys, want %d", len(seen), len(want))
			}
			if limit == 1 && pages < 300 {
				t.Fatalf("%d pages of 1", pages)
			}
		})
	}
	// A range and the whole key space, through ScanAll.
	n := 0
	err := c.ScanAll(ctx, &pb.ScanRequest{Start: []byte("user/0100"), End: []byte("user/0200"), Limit: 9}, func(kv *pb.KeyValue) error {
		if string(kv.Key) < "user/0100" || string(kv.Key) >= "user/0200" {
			t.Fatalf("key %q outside the range", kv.Key)
		}
		n++
		return nil
	})
	if err != nil || n != 100 {
		t.Fatalf("range scan: %d keys, %v", n, err)
	}
	n = 0
	if err := c.ScanAll(ctx, &pb.ScanRequest{Limit: 50}, func(*pb.KeyValue) error { n++; return nil }); err != nil || n != 320 {
		t.Fatalf("full scan: %d keys, %v", n, err)
	}
	page, err := c.Scan(ctx, &pb.ScanRequest{Start: []byte("b"), End: []byte("a")})
	if err != nil || len(page.Items) != 0 || page.NextCursor != "" {
		t.Fatalf("empty range: %v %v", page, err)
	}
}

func TestScanPageBytes(t *testing.T) {
	ctx := ctxT(t)
	c := serve(t, apitest.New(2), nil)
	val := make([]byte, 1<<20)
	for i := range 8 {
		if _, err := c.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprint("big", i)), Value: val}); err != nil {
			t.Fatal(err)
		}
	}
	n, pages := 0, 0
	req := &pb.ScanRequest{Limit: 1000}
	for {
		page, err := c.Scan(ctx, req) // fails if a page exceeds gRPC's 4 MiB default
		if err != nil {
			t.Fatal(err)
		}
		n, pages = n+len(page.Items), pages+1
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	if n != 8 || pages < 3 {
		t.Fatalf("%d items in %d pages", n, pages)
	}
}

// TestBatchStream drives one raw Batch stream with 1000 requests in flight
// at once and checks every answer by its request ID.
func TestBatchStream(t *testing.T) {
	ctx := ctxT(t)
	c := serve(t, apitest.New(8), nil)
	for i := range 250 {
		if _, err := c.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprint("pre", i)), Value: []byte(fmt.Sprint("v", i))}); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := c.KV.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	got := make(chan error, 1)
	go func() {
		seen := map[uint64]bool{}
		for range n {
			resp, err := stream.Recv()
			if err != nil {
				got <- err
				return
			}
			if seen[resp.RequestId] {
				got <- fmt.Errorf("request %d answered twice", resp.RequestId)
				return
			}
			seen[resp.RequestId] = true
			checkBatch(t, resp)
		}
		if _, err := stream.Recv(); err != io.EOF {
			got <- fmt.Errorf("after %d answers: %v, want EOF", n, err)
			return
		}
		got <- nil
	}()
	for i := range n {
		id := uint64(1_000_000 + i*7) // any IDs the caller likes
		var req *pb.BatchRequest
		switch i % 4 {
		case 0:
			req = &pb.BatchRequest{RequestId: id, Request: &pb.BatchRequest_Put{Put: &pb.PutRequest{Key: []byte(fmt.Sprint("b", i)), Value: []byte(fmt.Sprint(id))}}}
		case 1:
			req = &pb.BatchRequest{RequestId: id, Request: &pb.BatchRequest_Get{Get: &pb.GetRequest{Key: []byte(fmt.Sprint("pre", i/4))}}}
		case 2:
			req = &pb.BatchRequest{RequestId: id, Request: &pb.BatchRequest_Incr{Incr: &pb.IncrRequest{Key: []byte(fmt.Sprint("c", i)), Delta: int64(id)}}}
		case 3:
			req = &pb.BatchRequest{RequestId: id, Request: &pb.BatchRequest_Put{Put: &pb.PutRequest{Key: []byte(fmt.Sprint("b", i)), IfExists: true}}}
		}
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// checkBatch checks one answer of TestBatchStream against what its ID asked.
func checkBatch(t *testing.T, resp *pb.BatchResponse) {
	id := resp.RequestId
	if id < 1_000_000 || (id-1_000_000)%7 != 0 {
		t.Errorf("unknown request id %d", id)
		return
	}
	i := int(id-1_000_000) / 7
	switch i % 4 {
	case 0:
		if resp.GetPut().GetVersion() == 0 {
			t.Errorf("put %d: %v", id, resp)
		}
	case 1:
		if g := resp.GetGet(); !g.GetFound() || string(g.Value) != fmt.Sprint("v", i/4) {
			t.Errorf("get %d: %v", id, resp)
		}
	case 2:
		if resp.GetIncr().GetValue() != int64(id) {
			t.Errorf("incr %d: %v", id, resp)
		}
	case 3:
		if e := resp.GetError(); e == nil || codes.Code(e.Code) != codes.FailedPrecondition {
			t.Errorf("put if_exists %d: %v", id, resp)
		}
	}
}

func TestBatchRequestWithoutBody(t *testing.T) {
	ctx := ctxT(t)
	c := serve(t, apitest.New(2), nil)
	stream, err := c.KV.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.BatchRequest{RequestId: 5}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.RequestId != 5 || codes.Code(resp.GetError().GetCode()) != codes.InvalidArgument {
		t.Fatalf("answer %v", resp)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
}

// TestBatchClient runs many goroutines over one BatchClient: every write
// applies once, in its own session sequence per partition.
func TestBatchClient(t *testing.T) {
	ctx := ctxT(t)
	b := apitest.New(8)
	c := serve(t, b, nil)
	bc, err := c.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				k := []byte(fmt.Sprintf("w%d/%d", w, i))
				if _, err := bc.Put(ctx, &pb.PutRequest{Key: k, Value: k}); err != nil {
					errs <- fmt.Errorf("put %s: %w", k, err)
					return
				}
				g, err := bc.Get(ctx, &pb.GetRequest{Key: k})
				if err != nil || !bytes.Equal(g.Value, k) {
					errs <- fmt.Errorf("get %s: %v %v", k, g, err)
					return
				}
				if _, err := bc.Incr(ctx, &pb.IncrRequest{Key: []byte("counter"), Delta: 1}); err != nil {
					errs <- fmt.Errorf("incr: %w", err)
					return
				}
				if i%10 == 0 {
					if d, err := bc.Delete(ctx, &pb.DeleteRequest{Key: k}); err != nil || !d.Deleted {
						errs <- fmt.Errorf("delete %s: %v %v", k, d, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	g, err := bc.Get(ctx, &pb.GetRequest{Key: []byte("counter")})
	if err != nil || string(g.Value) != fmt.Sprint(workers*each) {
		t.Fatalf("counter: %v %v, want %d", g, err, workers*each)
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Get(ctx, &pb.GetRequest{Key: []byte("counter")}); status.Code(err) != codes.Unavailable {
		t.Fatalf("call after Close: %v", err)
	}
}

// TestBatchClientRetry resends a write under the session the first attempt
// used, on another stream: it answers the first result and applies nothing.
func TestBatchClientRetry(t *testing.T) {
	ctx := ctxT(t)
	c := serve(t, apitest.New(8), nil)
	bc, err := c.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	sess := &pb.Session{ClientId: bc.ClientID() ^ 1<<63, Seq: 1, LowUnacked: 1}
	first, err := bc.Incr(ctx, &pb.IncrRequest{Key: []byte("n"), Delta: 10, Session: sess})
	if err != nil {
		t.Fatal(err)
	}
	bc2, err := c.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer bc2.Close()
	again, err := bc2.Incr(ctx, &pb.IncrRequest{Key: []byte("n"), Delta: 10, Session: sess})
	if err != nil || again.Value != first.Value || again.Version != first.Version {
		t.Fatalf("retry: %v %v, first %v", again, err, first)
	}
}

func TestBatchClientContext(t *testing.T) {
	ctx := ctxT(t)
	c := serve(t, apitest.New(2), nil)
	bc, err := c.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err = bc.Get(done, &pb.GetRequest{Key: []byte("k")})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled call: %v", err)
	}
	// The stream still works.
	if _, err := bc.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	ctx := ctxT(t)
	reg := prometheus.NewRegistry()
	b := apitest.New(2)
	c := serve(t, b, reg)
	New(Config{Backend: b, Registry: reg}) // a second Server on the same registry reuses the collectors
	if _, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Put(ctx, &pb.PutRequest{Key: []byte("k"), IfAbsent: true})
	bc, err := c.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Get(ctx, &pb.GetRequest{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "cairn_grpc_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var method, code string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "method":
					method = l.GetValue()
				case "code":
					code = l.GetValue()
				}
			}
			got[method+" "+code] = m.GetCounter().GetValue()
		}
	}
	for _, k := range []string{"Put OK", "Put FailedPrecondition", "Batch.Get OK", "GetCluster OK"} {
		if got[k] != 1 {
			t.Errorf("%s: %v (all: %v)", k, got[k], got)
		}
	}
	// The stream's own count lands when its handler returns, just after the
	// client saw the end of the stream.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs, _ := reg.Gather()
		if hasSeries(mfs, "Batch", "OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("waited 10s for the Batch stream to be counted")
		}
		time.Sleep(time.Millisecond)
	}
}

func hasSeries(mfs []*dto, method, code string) bool {
	for _, mf := range mfs {
		if mf.GetName() != "cairn_grpc_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ok1, ok2 bool
			for _, l := range m.GetLabel() {
				ok1 = ok1 || l.GetName() == "method" && l.GetValue() == method
				ok2 = ok2 || l.GetName() == "code" && l.GetValue() == code
			}
			if ok1 && ok2 {
				return true
			}
		}
	}
	return false
}

// blocking holds every Propose until its context ends, as a partition
// without a quorum would, and then answers indeterminate.
type blocking struct {
	*apitest.Backend
	started chan struct{}
}

func (b *blocking) Propose(ctx context.Context, _ int, _ kv.Command) (kv.Reply, error) {
	b.started <- struct{}{}
	<-ctx.Done()
	return kv.Reply{}, replicaErrIndeterminate
}

func TestRequestTimeout(t *testing.T) {
	ctx := ctxT(t)
	b := &blocking{Backend: apitest.New(2), started: make(chan struct{}, 100)}
	c := serveConfig(t, Config{Backend: b, RequestTimeout: 20 * time.Millisecond})
	_, err := c.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v")})
	wantCode(t, err, codes.DeadlineExceeded, ReasonIndeterminate)
}

// TestBatchStreamCancelled cancels a stream with requests in flight: every
// call returns, the server's workers stop, and goleak finds nothing left.
func TestBatchStreamCancelled(t *testing.T) {
	ctx := ctxT(t)
	b := &blocking{Backend: apitest.New(2), started: make(chan struct{}, 100)}
	c := serveConfig(t, Config{Backend: b, RequestTimeout: time.Hour})
	sctx, cancel := context.WithCancel(ctx)
	bc, err := c.Batch(sctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := bc.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
			errs <- err
		}()
	}
	for range n {
		<-b.started // every request reached the backend
	}
	cancel()
	for range n {
		if err := <-errs; status.Code(err) != codes.Canceled {
			t.Errorf("call on a cancelled stream: %v", err)
		}
	}
	_ = bc.Close()
}
