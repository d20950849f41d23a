package grpcapi

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/forward/mux"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// Client is a thin client of one node's cairn.v1 services: the calls as the
// proto defines them, plus Batch for a multiplexed stream. It does no
// routing, balancing or retrying; the public client/ package does.
type Client struct {
	conn    *grpc.ClientConn // nil when the caller owns the connection
	KV      pb.KVClient
	Cluster pb.ClusterClient
}

// Dial connects to addr (host:port). Without opts it dials without TLS.
// The connection is made lazily, on the first call.
func Dial(addr string, opts ...grpc.DialOption) (*Client, error) {
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpcapi: dial %s: %w", addr, err)
	}
	c := NewClient(conn)
	c.conn = conn
	return c, nil
}

// NewClient returns a Client on a connection the caller owns (Close leaves
// it open).
func NewClient(cc grpc.ClientConnInterface) *Client {
	return &Client{KV: pb.NewKVClient(cc), Cluster: pb.NewClusterClient(cc)}
}

// Close closes the connection Dial made.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

func (c *Client) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	return c.KV.Get(ctx, req)
}

// Put writes; without req.Session it applies once per call, no deduplication.
func (c *Client) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	return c.KV.Put(ctx, req)
}

func (c *Client) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	return c.KV.Delete(ctx, req)
}

func (c *Client) Incr(ctx context.Context, req *pb.IncrRequest) (*pb.IncrResponse, error) {
	return c.KV.Incr(ctx, req)
}

// Scan answers one page; see ScanAll for the whole range.
func (c *Client) Scan(ctx context.Context, req *pb.ScanRequest) (*pb.ScanResponse, error) {
	return c.KV.Scan(ctx, req)
}

// ScanAll calls fn for every item of the scan, page by page from
// req.Cursor, until the scan is complete or fn returns an error.
func (c *Client) ScanAll(ctx context.Context, req *pb.ScanRequest, fn func(*pb.KeyValue) error) error {
	r := &pb.ScanRequest{Prefix: req.Prefix, Start: req.Start, End: req.End, Limit: req.Limit,
		Cursor: req.Cursor, Consistency: req.Consistency}
	for {
		page, err := c.KV.Scan(ctx, r)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		r.Cursor = page.NextCursor
	}
}

func (c *Client) GetCluster(ctx context.Context) (*pb.ClusterInfo, error) {
	return c.Cluster.GetCluster(ctx, &pb.GetClusterRequest{})
}

// Batch opens a Batch stream that lives until Close or until ctx ends. It
// asks the node for the cluster's partition count first: the stream's
// session keeps one sequence space per partition.
func (c *Client) Batch(ctx context.Context) (*BatchClient, error) {
	info, err := c.GetCluster(ctx)
	if err != nil {
		return nil, err
	}
	if h := info.GetSettings().GetHash(); h != cluster.HashXXHash64 {
		return nil, fmt.Errorf("grpcapi: cluster uses partition hash %q, this client knows only %q", h, cluster.HashXXHash64)
	}
	parts := int(info.GetSettings().GetPartitions())
	if parts <= 0 {
		return nil, errors.New("grpcapi: cluster reports no partitions")
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := c.KV.Batch(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	b := &BatchClient{mux: mux.New(stream, mux.Config[*pb.BatchRequest, *pb.BatchResponse]{
		SetID:  func(r *pb.BatchRequest, id uint64) { r.RequestId = id },
		ID:     (*pb.BatchResponse).GetRequestId,
		Closed: status.Error(codes.Unavailable, "grpcapi: batch stream closed"),
	}), cancel: cancel, parts: parts,
		client: binary.BigEndian.Uint64(id[:]) | 1}
	b.mu.sessions = make(map[int]*api.Session)
	go b.mux.Receive()
	return b, nil
}

// BatchClient multiplexes calls from many goroutines over one Batch stream:
// each call gets a request ID, is sent at once, and returns when its answer
// arrives, in whatever order the node answers. Writes that carry no
// session get the BatchClient's own: a random client ID with one sequence
// space per partition, Begin before sending and End when answered or
// abandoned. Safe for concurrent use.
type BatchClient struct {
	mux    *mux.Mux[*pb.BatchRequest, *pb.BatchResponse]
	cancel context.CancelFunc
	parts  int
	client uint64
	mu     struct {
		sync.Mutex
		sessions map[int]*api.Session
	}
}

// ClientID is the client ID of the BatchClient's session.
func (b *BatchClient) ClientID() uint64 { return b.client }

// call sends req and waits for its answer. An error from the stream itself
// (not from the request) is a bare status such as UNAVAILABLE: the outcome
// of a write is then unknown.
func (b *BatchClient) call(ctx context.Context, req *pb.BatchRequest) (*pb.BatchResponse, error) {
	resp, _, err := b.mux.Call(ctx, req)
	if err == nil {
		if e := resp.GetError(); e != nil {
			// The answer carries the request's error: its gRPC status.
			return nil, status.FromProto(&spb.Status{Code: e.Code, Message: e.Message, Details: e.Details}).Err()
		}
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = status.FromContextError(ctx.Err()).Err()
	}
	return resp, err
}

// session returns the session of key's partition.
func (b *BatchClient) session(key []byte) *api.Session {
	p := cluster.PartitionOf(key, b.parts)
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.mu.sessions[p]
	if !ok {
		s = api.NewSession(b.client)
		b.mu.sessions[p] = s
	}
	return s
}

// begin returns a session for a write of key: sess itself when the caller
// gave one, else the next of the BatchClient's own, with end to call when
// the write is answered or abandoned.
func (b *BatchClient) begin(key []byte, sess *pb.Session) (*pb.Session, func()) {
	if sess != nil {
		return sess, func() {}
	}
	s := b.session(key)
	seq, low := s.Begin()
	return &pb.Session{ClientId: b.client, Seq: seq, LowUnacked: low}, func() { s.End(seq) }
}

func (b *BatchClient) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	resp, err := b.call(ctx, &pb.BatchRequest{Request: &pb.BatchRequest_Get{Get: req}})
	if err != nil {
		return nil, err
	}
	return resp.GetGet(), nil
}

// Put writes under req.Session, or the BatchClient's own session when nil
// (req itself is not changed).
func (b *BatchClient) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	sess, end := b.begin(req.Key, req.Session)
	defer end()
	r := &pb.PutRequest{Key: req.Key, Value: req.Value, TtlMs: req.TtlMs, IfAbsent: req.IfAbsent, IfExists: req.IfExists,
		IfVersion: req.IfVersion, IfValue: req.IfValue, ReturnPrev: req.ReturnPrev, KeepTtl: req.KeepTtl, Session: sess}
	resp, err := b.call(ctx, &pb.BatchRequest{Request: &pb.BatchRequest_Put{Put: r}})
	if err != nil {
		return nil, err
	}
	return resp.GetPut(), nil
}

// Delete deletes under req.Session, or the BatchClient's own session.
func (b *BatchClient) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	sess, end := b.begin(req.Key, req.Session)
	defer end()
	r := &pb.DeleteRequest{Key: req.Key, IfVersion: req.IfVersion, IfValue: req.IfValue, ReturnPrev: req.ReturnPrev, Session: sess}
	resp, err := b.call(ctx, &pb.BatchRequest{Request: &pb.BatchRequest_Delete{Delete: r}})
	if err != nil {
		return nil, err
	}
	return resp.GetDelete(), nil
}

// Incr adds under req.Session, or the BatchClient's own session.
func (b *BatchClient) Incr(ctx context.Context, req *pb.IncrRequest) (*pb.IncrResponse, error) {
	sess, end := b.begin(req.Key, req.Session)
	defer end()
	r := &pb.IncrRequest{Key: req.Key, Delta: req.Delta, Session: sess}
	resp, err := b.call(ctx, &pb.BatchRequest{Request: &pb.BatchRequest_Incr{Incr: r}})
	if err != nil {
		return nil, err
	}
	return resp.GetIncr(), nil
}

// Close ends the stream once every call in flight is answered, and waits
// for that.
func (b *BatchClient) Close() error {
	err := b.mux.CloseSend()
	<-b.mux.Done()
	b.cancel()
	return err
}

// Info returns err's cairn ErrorInfo (reason, metadata), nil when it has
// none: NOT_APPLIED with the "leader" hint, CONDITION_FAILED with the
// current "version", INVALID with the "limit", and so on.
func Info(err error) *errdetails.ErrorInfo {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.Domain == Domain {
			return ei
		}
	}
	return nil
}

// NotApplied reports whether err says the request was certainly not
// applied, so a retry (same session) is safe, and the leader's node when
// the answering node knew it.
func NotApplied(err error) (leader string, ok bool) {
	if status.Code(err) != codes.Unavailable {
		return "", false
	}
	ei := Info(err)
	if ei == nil || ei.Reason != ReasonNotApplied {
		return "", false // a bare UNAVAILABLE is indeterminate
	}
	return ei.Metadata["leader"], true
}
