package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// fake is a scripted cluster of fake nodes: every node answers GetCluster
// with table() and every Batch request with script(node, request). The
// script sees every attempt, so a test can assert what each carried.
type fake struct {
	t     *testing.T
	nodes map[string]*fakeNode
	mu    struct {
		sync.Mutex
		table  func() *pb.ClusterInfo
		script func(node string, req *pb.BatchRequest) fakeAnswer
		seen   []fakeCall
	}
}

// fakeAnswer is a node's answer: a response, an error status, or, with
// breakStream, the end of the stream (a bare UNAVAILABLE to the client).
type fakeAnswer struct {
	resp        *pb.BatchResponse
	err         *status.Status
	breakStream bool
	hang        bool // never answer
}

type fakeCall struct {
	node string
	req  *pb.BatchRequest
}

type fakeNode struct {
	name, addr string
	srv        *grpc.Server
	done       chan struct{}
}

// startFake starts one fake node per name on loopback. Its default table:
// 4 partitions, every one led by the first node, replicated on all.
func startFake(t *testing.T, names ...string) *fake {
	f := &fake{t: t, nodes: map[string]*fakeNode{}}
	for _, name := range names {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n := &fakeNode{name: name, addr: lis.Addr().String(), srv: grpc.NewServer(), done: make(chan struct{})}
		pb.RegisterKVServer(n.srv, &fakeKV{f: f, node: name})
		pb.RegisterClusterServer(n.srv, &fakeCluster{f: f, node: name})
		go func() { defer close(n.done); _ = n.srv.Serve(lis) }()
		f.nodes[name] = n
	}
	t.Cleanup(func() {
		for _, n := range f.nodes {
			n.srv.Stop()
			<-n.done
		}
	})
	f.setTable(func() *pb.ClusterInfo { return f.info(names[0], names...) })
	return f
}

// info is a table of 4 partitions led by leader, replicated on replicas.
func (f *fake) info(leader string, replicas ...string) *pb.ClusterInfo {
	info := &pb.ClusterInfo{ClusterId: "fake", Settings: &pb.ClusterSettings{Partitions: 4, Hash: "xxhash64"}}
	names := make([]string, 0, len(f.nodes))
	for name := range f.nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		info.Nodes = append(info.Nodes, &pb.NodeInfo{Name: name, State: "up", GrpcAddr: f.nodes[name].addr})
	}
	for p := range 4 {
		info.Partitions = append(info.Partitions, &pb.PartitionInfo{Partition: uint32(p), Group: uint64(p + 1),
			MembershipVersion: 1, Term: 1, Leader: leader, Replicas: replicas, Voters: replicas})
	}
	return info
}

func (f *fake) setTable(fn func() *pb.ClusterInfo) {
	f.mu.Lock()
	f.mu.table = fn
	f.mu.Unlock()
}

func (f *fake) setScript(fn func(node string, req *pb.BatchRequest) fakeAnswer) {
	f.mu.Lock()
	f.mu.script = fn
	f.mu.seen = nil
	f.mu.Unlock()
}

func (f *fake) calls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.mu.seen)
}

func (f *fake) endpoints() []string {
	var eps []string
	for _, n := range f.nodes {
		eps = append(eps, n.addr)
	}
	slices.Sort(eps)
	return eps
}

type fakeCluster struct {
	pb.UnimplementedClusterServer
	f    *fake
	node string
}

func (s *fakeCluster) GetCluster(context.Context, *pb.GetClusterRequest) (*pb.ClusterInfo, error) {
	s.f.mu.Lock()
	fn := s.f.mu.table
	s.f.mu.Unlock()
	info := fn()
	info.Node = s.node
	return info, nil
}

type fakeKV struct {
	pb.UnimplementedKVServer
	f    *fake
	node string
}

func (s *fakeKV) Batch(stream pb.KV_BatchServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		s.f.mu.Lock()
		s.f.mu.seen = append(s.f.mu.seen, fakeCall{s.node, req})
		script := s.f.mu.script
		s.f.mu.Unlock()
		a := script(s.node, req)
		switch {
		case a.breakStream:
			return status.Error(codes.Unavailable, "fake: connection lost")
		case a.hang:
			continue
		case a.err != nil:
			p := a.err.Proto()
			a.resp = &pb.BatchResponse{Response: &pb.BatchResponse_Error{Error: &pb.ErrorStatus{Code: p.Code, Message: p.Message, Details: p.Details}}}
		}
		a.resp.RequestId = req.RequestId
		if err := stream.Send(a.resp); err != nil {
			return err
		}
	}
}

// cairnStatus is a status with a cairn ErrorInfo, as the server makes.
func cairnStatus(c codes.Code, reason string, md map[string]string) *status.Status {
	st, err := status.New(c, "fake: "+reason).WithDetails(&errdetails.ErrorInfo{Domain: "cairn", Reason: reason, Metadata: md})
	if err != nil {
		panic(err)
	}
	return st
}

func incrOK(v int64) fakeAnswer {
	return fakeAnswer{resp: &pb.BatchResponse{Response: &pb.BatchResponse_Incr{Incr: &pb.IncrResponse{Value: v, Version: 7}}}}
}

func putOK() fakeAnswer {
	return fakeAnswer{resp: &pb.BatchResponse{Response: &pb.BatchResponse_Put{Put: &pb.PutResponse{Version: 9}}}}
}

func newFakeClient(t *testing.T, f *fake, opts Options) *Client {
	t.Helper()
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = time.Hour // only the fetches the test causes
	}
	c, err := New(f.endpoints(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sessionOf(req *pb.BatchRequest) *pb.Session {
	switch r := req.Request.(type) {
	case *pb.BatchRequest_Put:
		return r.Put.Session
	case *pb.BatchRequest_Delete:
		return r.Delete.Session
	case *pb.BatchRequest_Incr:
		return r.Incr.Session
	}
	return nil
}

// A "not applied" answer that names the leader is followed at once, and
// the table remembers the leader for the next request.
func TestFollowsLeaderHint(t *testing.T) {
	f := startFake(t, "a", "b")
	f.setScript(func(node string, req *pb.BatchRequest) fakeAnswer {
		if node == "a" {
			return fakeAnswer{err: cairnStatus(codes.Unavailable, reasonNotApplied, map[string]string{"leader": "b"})}
		}
		return putOK()
	})
	c := newFakeClient(t, f, Options{})
	ctx := context.Background()
	for range 3 {
		if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	var nodes []string
	for _, call := range f.calls() {
		nodes = append(nodes, call.node)
	}
	if want := []string{"a", "b", "b", "b"}; !slices.Equal(nodes, want) {
		t.Fatalf("attempts went to %v, want %v (one hint, then straight to b)", nodes, want)
	}
	if st := c.Stats(); st.Redirects != 1 || st.Retries != 1 || st.Requests != 3 || st.Indirect != 0 {
		t.Fatalf("stats %+v, want 1 redirect, 1 retry, 3 requests, 0 indirect", st)
	}
	calls := f.calls()
	if a, b := sessionOf(calls[0].req), sessionOf(calls[1].req); a.ClientId != b.ClientId || a.Seq != b.Seq {
		t.Fatalf("the retry's session %v differs from the first attempt's %v", b, a)
	}
}

// An attempt whose answer is lost (the stream breaks after the node got
// it) is retried under the same client ID and seq, so the partition can
// answer it from its session instead of applying it again.
func TestIndeterminateRetryKeepsSession(t *testing.T) {
	f := startFake(t, "a")
	var mu sync.Mutex
	attempts := 0
	f.setScript(func(_ string, req *pb.BatchRequest) fakeAnswer {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			return fakeAnswer{breakStream: true}
		}
		return incrOK(5)
	})
	c := newFakeClient(t, f, Options{})
	v, err := c.Incr(context.Background(), []byte("n"), 5)
	if err != nil || v != 5 {
		t.Fatalf("Incr = %d, %v; want 5", v, err)
	}
	calls := f.calls()
	if len(calls) != 2 {
		t.Fatalf("%d attempts, want 2", len(calls))
	}
	s1, s2 := sessionOf(calls[0].req), sessionOf(calls[1].req)
	if s1.ClientId == 0 || s1.ClientId != s2.ClientId || s1.Seq != s2.Seq || s2.LowUnacked > s2.Seq {
		t.Fatalf("sessions %v then %v: want the same non-zero client and seq, low <= seq", s1, s2)
	}
	if st := c.Stats(); st.Retries != 1 {
		t.Fatalf("stats %+v, want 1 retry", st)
	}
	// The next write of the partition moves on: seq+1, and the answered
	// seq is acknowledged.
	if _, err := c.Incr(context.Background(), []byte("n"), 1); err != nil {
		t.Fatal(err)
	}
	s3 := sessionOf(f.calls()[2].req)
	if s3.ClientId != s1.ClientId || s3.Seq != s1.Seq+1 || s3.LowUnacked != s3.Seq {
		t.Fatalf("next write's session %v after %v: want seq+1 with low_unacked = seq", s3, s1)
	}
}

// Each partition has its own sequence space under the one client ID.
func TestSessionPerPartition(t *testing.T) {
	f := startFake(t, "a")
	f.setScript(func(string, *pb.BatchRequest) fakeAnswer { return putOK() })
	c := newFakeClient(t, f, Options{})
	keys := map[int][]byte{}
	for i := 0; len(keys) < 4; i++ {
		k := []byte{byte('a' + i)}
		keys[partitionOf(k, 4)] = k
	}
	for p := range 4 {
		if _, err := c.Put(context.Background(), keys[p], nil); err != nil {
			t.Fatal(err)
		}
	}
	var id uint64
	for _, call := range f.calls() {
		s := sessionOf(call.req)
		if s.Seq != 1 || s.LowUnacked != 1 || (id != 0 && s.ClientId != id) {
			t.Fatalf("first write of a partition carried %v, want seq 1, low 1, one client ID", s)
		}
		id = s.ClientId
	}
}

// A partition that forgot the session gets a new one: a new client ID from
// seq 1.
func TestSessionExpiredRenews(t *testing.T) {
	f := startFake(t, "a")
	first := true
	var mu sync.Mutex
	f.setScript(func(string, *pb.BatchRequest) fakeAnswer {
		mu.Lock()
		defer mu.Unlock()
		if first {
			first = false
			return fakeAnswer{err: cairnStatus(codes.FailedPrecondition, reasonSessionExpired, nil)}
		}
		return putOK()
	})
	c := newFakeClient(t, f, Options{})
	if _, err := c.Put(context.Background(), []byte("k"), nil); err != nil {
		t.Fatal(err)
	}
	calls := f.calls()
	s1, s2 := sessionOf(calls[0].req), sessionOf(calls[1].req)
	if s2.ClientId == s1.ClientId || s2.ClientId == 0 || s2.Seq != 1 || s2.LowUnacked != 1 {
		t.Fatalf("after SESSION_EXPIRED to %v the retry carried %v; want a new client ID, seq 1, low 1", s1, s2)
	}
}

// What a call returns when its retries stop, and for definite answers.
func TestOutcomes(t *testing.T) {
	notApplied := fakeAnswer{err: cairnStatus(codes.Unavailable, reasonNotApplied, nil)}
	for _, tc := range []struct {
		name    string
		answers []fakeAnswer // in turn; the last repeats
		timeout time.Duration
		is      []error
		isNot   []error
	}{
		{"not applied throughout", []fakeAnswer{notApplied}, 0, []error{ErrNotApplied}, []error{ErrIndeterminate}},
		{"lost then not applied", []fakeAnswer{{breakStream: true}, notApplied}, 0, []error{ErrIndeterminate}, []error{ErrNotApplied}},
		{"server timeout", []fakeAnswer{{err: cairnStatus(codes.DeadlineExceeded, "INDETERMINATE", nil)}}, 0, []error{ErrIndeterminate}, nil},
		{"no answer by the deadline", []fakeAnswer{{hang: true}}, 200 * time.Millisecond, []error{ErrIndeterminate, context.DeadlineExceeded}, nil},
		{"condition", []fakeAnswer{{err: cairnStatus(codes.FailedPrecondition, reasonConditionFailed, map[string]string{"version": "42"})}}, 0,
			[]error{ErrConditionFailed}, []error{ErrIndeterminate, ErrNotApplied}},
		{"lost then condition", []fakeAnswer{{breakStream: true}, {err: cairnStatus(codes.FailedPrecondition, reasonConditionFailed, nil)}}, 0,
			[]error{ErrConditionFailed}, []error{ErrIndeterminate}},
		{"invalid", []fakeAnswer{{err: cairnStatus(codes.InvalidArgument, "INVALID", nil)}}, 0, []error{ErrInvalid}, nil},
		{"no space", []fakeAnswer{{err: cairnStatus(codes.ResourceExhausted, reasonNoSpace, nil)}}, 0, []error{ErrNoSpace}, []error{ErrIndeterminate}},
		{"lost then no space", []fakeAnswer{{breakStream: true}, {err: cairnStatus(codes.ResourceExhausted, reasonNoSpace, nil)}}, 0,
			[]error{ErrIndeterminate, ErrNoSpace}, nil},
		{"not an integer", []fakeAnswer{{err: cairnStatus(codes.FailedPrecondition, reasonNotInteger, nil)}}, 0, []error{ErrNotInteger}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, "a")
			var mu sync.Mutex
			i := 0
			f.setScript(func(string, *pb.BatchRequest) fakeAnswer {
				mu.Lock()
				defer mu.Unlock()
				a := tc.answers[min(i, len(tc.answers)-1)]
				i++
				return a
			})
			c := newFakeClient(t, f, Options{MaxAttempts: 4})
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := c.Put(ctx, []byte("k"), nil)
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("Put: %v; want errors.Is %v", err, want)
				}
			}
			for _, not := range tc.isNot {
				if errors.Is(err, not) {
					t.Errorf("Put: %v; want not errors.Is %v", err, not)
				}
			}
			var ce *ConditionError
			if errors.As(err, &ce) && tc.name == "condition" && ce.Version != 42 {
				t.Errorf("condition error's version %d, want 42", ce.Version)
			}
		})
	}
}

// A leader that cannot be reached is left out: the request goes to an entry
// node (which would forward it), and a fetch is made.
func TestUnreachableLeader(t *testing.T) {
	f := startFake(t, "a", "b")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	f.setTable(func() *pb.ClusterInfo {
		info := f.info("c", "a", "b", "c")
		info.Nodes = append(info.Nodes, &pb.NodeInfo{Name: "c", State: "up", GrpcAddr: deadAddr})
		return info
	})
	f.setScript(func(string, *pb.BatchRequest) fakeAnswer { return putOK() })
	c := newFakeClient(t, f, Options{})
	if _, err := c.Put(context.Background(), []byte("k"), nil); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Indirect != 1 || st.Retries != 1 || st.Refreshes < 2 {
		t.Fatalf("stats %+v; want the leader's refusal, one indirect retry and a fetch", st)
	}
	// Within downFor the dead leader is not tried again.
	if _, err := c.Put(context.Background(), []byte("k"), nil); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Retries != 1 || st.Indirect != 2 {
		t.Fatalf("stats %+v; want the second put sent to an entry node at once", st)
	}
}

// New fails when no endpoint answers, naming why; a closed client says so.
func TestNewAndClose(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.Addr().String()
	dead.Close()
	if _, err := New([]string{addr}, Options{DialTimeout: 2 * time.Second}); err == nil ||
		!strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("New against a closed port: %v; want an error naming it and the refusal", err)
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("New without endpoints succeeded")
	}
	if _, err := New([]string{addr}, Options{Balance: "fastest"}); err == nil || !strings.Contains(err.Error(), "round-robin") {
		t.Fatalf("New with an unknown policy: %v; want the list of known ones", err)
	}
	f := startFake(t, "a")
	c := newFakeClient(t, f, Options{})
	c.Close()
	if _, _, err := c.Get(context.Background(), []byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
