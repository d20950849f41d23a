package grpcapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/guard"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// DefaultRequestTimeout is DESIGN.md's --request-timeout: below common
// client timeouts, so the server says "indeterminate" before a client gives
// up on its own.
const DefaultRequestTimeout = 2 * time.Second

// DefaultMaxBatchInFlight bounds the requests of one Batch stream being
// worked on at once; the stream stops reading while it is reached, so a
// client that sends faster than the node answers is pushed back by gRPC's
// flow control instead of growing the node's memory.
const DefaultMaxBatchInFlight = 256

// Config configures a Server.
type Config struct {
	// Backend is the node behind the door. Required.
	Backend api.Backend
	// Logger receives errors worth an operator's attention; never one line
	// per request at info level. Nil: discard.
	Logger *slog.Logger
	// Registry receives cairn_grpc_requests_total{method,code} and
	// cairn_grpc_request_seconds{method}. Nil: the metrics are kept but
	// registered nowhere. A registry that already holds them (a second
	// Server on one node) lends its collectors.
	Registry prometheus.Registerer
	// RequestTimeout bounds each request's work at the Backend
	// (--request-timeout). 0: DefaultRequestTimeout (2 s).
	RequestTimeout time.Duration
	// MaxBatchInFlight bounds the requests in flight per Batch stream. 0:
	// DefaultMaxBatchInFlight (256).
	MaxBatchInFlight int
	// Door contains a panic while serving one request of a Batch stream
	// (those run on goroutines of their own, outside the door's
	// interceptors): it is logged and counted, and that request answers
	// INTERNAL. Nil: private metrics.
	Door *guard.Door
}

// Server serves the cairn.v1 KV and Cluster services for a Backend.
type Server struct {
	b           api.Backend
	log         *slog.Logger
	timeout     time.Duration
	maxInFlight int
	door        *guard.Door
	m           metrics
}

// New returns a Server for cfg. It panics if cfg.Backend is nil (a
// programming error, as with http.Handle(nil)).
func New(cfg Config) *Server {
	if cfg.Backend == nil {
		panic("grpcapi: Config.Backend is nil")
	}
	s := &Server{b: cfg.Backend, log: cfg.Logger, timeout: cfg.RequestTimeout, maxInFlight: cfg.MaxBatchInFlight, door: cfg.Door}
	if s.door == nil {
		s.door = guard.NewMetrics(nil).Door(guard.Config{Name: "grpc", Logger: cfg.Logger})
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.maxInFlight <= 0 {
		s.maxInFlight = DefaultMaxBatchInFlight
	}
	s.m = newMetrics(cfg.Registry)
	return s
}

// Register adds the KV and Cluster services to r (usually the node's one
// *grpc.Server, which also serves the Peer service).
func (s *Server) Register(r grpc.ServiceRegistrar) {
	pb.RegisterKVServer(r, &kvService{s: s})
	pb.RegisterClusterServer(r, &clusterService{s: s})
}

type metrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_grpc_requests_total",
			Help: "cairn.v1 requests answered, by method (Batch.Get etc. for one request of a Batch stream) and gRPC code.",
		}, []string{"method", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cairn_grpc_request_seconds",
			Help:    "Time to answer a cairn.v1 request, by method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs .. 3.3s
		}, []string{"method"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.seconds = register(reg, m.seconds)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("grpcapi: registering metrics: " + err.Error())
	}
	return c
}

// observe counts one answered request. Labels are method names only, never
// keys, so the series stay few.
func (m *metrics) observe(method string, start time.Time, st *status.Status) {
	m.requests.WithLabelValues(method, st.Code().String()).Inc()
	m.seconds.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

type kvService struct {
	pb.UnimplementedKVServer
	s *Server
}

func (k *kvService) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	start := time.Now()
	resp, st := k.s.get(ctx, req)
	k.s.m.observe("Get", start, st)
	return resp, st.Err()
}

func (k *kvService) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	start := time.Now()
	resp, st := k.s.put(ctx, req, nil)
	k.s.m.observe("Put", start, st)
	return resp, st.Err()
}

func (k *kvService) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	start := time.Now()
	resp, st := k.s.delete(ctx, req, nil)
	k.s.m.observe("Delete", start, st)
	return resp, st.Err()
}

func (k *kvService) Incr(ctx context.Context, req *pb.IncrRequest) (*pb.IncrResponse, error) {
	start := time.Now()
	resp, st := k.s.incr(ctx, req, nil)
	k.s.m.observe("Incr", start, st)
	return resp, st.Err()
}

func (k *kvService) Scan(ctx context.Context, req *pb.ScanRequest) (*pb.ScanResponse, error) {
	start := time.Now()
	resp, st := k.s.scan(ctx, req)
	k.s.m.observe("Scan", start, st)
	return resp, st.Err()
}

func (k *kvService) Batch(stream pb.KV_BatchServer) error {
	start := time.Now()
	st := k.s.batch(stream)
	k.s.m.observe("Batch", start, st)
	return st.Err()
}

func readMode(c pb.Consistency) (replica.ReadMode, *status.Status) {
	switch c {
	case pb.Consistency_CONSISTENCY_LINEARIZABLE:
		return replica.Linearizable, nil
	case pb.Consistency_CONSISTENCY_FOLLOWER:
		return replica.Follower, nil
	case pb.Consistency_CONSISTENCY_STALE:
		return replica.Stale, nil
	}
	return 0, invalidf("unknown consistency %d", int32(c))
}

func (s *Server) readStatus(err error) *status.Status {
	if errors.Is(err, api.ErrRead) {
		s.log.Error("grpcapi: read failed", "err", err)
		return status.New(codes.Internal, "grpcapi: read failed: "+err.Error())
	}
	return backendStatus(err)
}

func (s *Server) get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, *status.Status) {
	if err := s.b.Limits().CheckKey(req.Key); err != nil {
		return nil, invalidStatus(err)
	}
	mode, st := readMode(req.Consistency)
	if st != nil {
		return nil, st
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rep, err := s.b.Read(ctx, s.b.Partition(req.Key), mode, kv.GetQuery(req.Key))
	if err != nil {
		return nil, s.readStatus(err)
	}
	if len(rep.Responses) != 1 {
		return nil, status.New(codes.Internal, "grpcapi: read answered the wrong number of responses")
	}
	r := &rep.Responses[0]
	out := &pb.GetResponse{Found: r.Code == kv.CodeOK, GroupTimeUnixNanos: rep.GroupTime}
	if out.Found {
		out.Value, out.Version, out.DeadlineUnixNanos = r.Value, r.Version, r.Deadline
		if out.Value == nil {
			out.Value = []byte{}
		}
		if r.Deadline != 0 {
			ttl := max(0, (r.Deadline-s.b.Now().UnixNano())/int64(time.Millisecond))
			out.TtlMs = &ttl
		}
	}
	return out, nil
}

// sessionSource hands out sessions for writes that carry none: nil for a
// unary call (none: applied without a session), a *streamSession on Batch.
type sessionSource interface {
	begin(p int) (client, seq, low uint64)
	end(p int, seq uint64)
}

// propose runs one request for key under the request's session (or one from
// src) and returns the command's reply and the request's response, or the
// status to answer.
func (s *Server) propose(ctx context.Context, key []byte, r kv.Request, sess *pb.Session, src sessionSource) (kv.Reply, *kv.Response, *status.Status) {
	p := s.b.Partition(key)
	cmd := kv.Command{Requests: []kv.Request{r}}
	switch {
	case sess != nil:
		if sess.ClientId == 0 || sess.Seq == 0 || sess.LowUnacked == 0 || sess.LowUnacked > sess.Seq {
			return kv.Reply{}, nil, invalidf("session: need client_id != 0 and 1 <= low_unacked <= seq, got client_id %d seq %d low_unacked %d",
				sess.ClientId, sess.Seq, sess.LowUnacked)
		}
		cmd.Client, cmd.Seq, cmd.LowUnacked = sess.ClientId, sess.Seq, sess.LowUnacked
	case src != nil:
		cmd.Client, cmd.Seq, cmd.LowUnacked = src.begin(p)
		defer src.end(p, cmd.Seq)
	default:
		// NB: no session. The node retries a command only when it was
		// certainly not applied, so a one-shot session would dedupe nothing
		// and sit in the replicated state for an hour. A client that retries
		// sends its own session (the Go client and Batch do).
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rep, err := s.b.Propose(ctx, p, cmd)
	if err != nil {
		return rep, nil, backendStatus(err)
	}
	if rep.Code != kv.CodeOK {
		return rep, nil, codeStatus(rep.Code, nil)
	}
	if len(rep.Responses) != 1 {
		s.log.Error("grpcapi: state machine answered the wrong number of responses", "want", 1, "got", len(rep.Responses))
		return rep, nil, status.New(codes.Internal, "grpcapi: state machine answered the wrong number of responses")
	}
	resp := &rep.Responses[0]
	if resp.Code.Failed() {
		return rep, resp, codeStatus(resp.Code, resp)
	}
	return rep, resp, nil
}

// maxTTLMillis keeps ttl_ms * time.Millisecond within a time.Duration.
const maxTTLMillis = math.MaxInt64 / int64(time.Millisecond)

func (s *Server) put(ctx context.Context, req *pb.PutRequest, src sessionSource) (*pb.PutResponse, *status.Status) {
	lim := s.b.Limits()
	if err := lim.CheckKey(req.Key); err != nil {
		return nil, invalidStatus(err)
	}
	if err := lim.CheckValue(req.Value); err != nil {
		return nil, invalidStatus(err)
	}
	if req.IfValue != nil {
		if err := lim.CheckValue(req.IfValue); err != nil {
			return nil, invalidStatus(err)
		}
	}
	switch {
	case req.TtlMs < 0 || req.TtlMs > maxTTLMillis:
		return nil, invalidf("ttl_ms %d out of range (0: no deadline, else 1..%d)", req.TtlMs, maxTTLMillis)
	case req.TtlMs > 0 && req.KeepTtl:
		return nil, invalidf("ttl_ms and keep_ttl together")
	case req.IfAbsent && req.IfExists:
		return nil, invalidf("if_absent and if_exists together")
	}
	r := kv.Put(req.Key, req.Value)
	if req.TtlMs > 0 {
		r = r.WithTTL(time.Duration(req.TtlMs) * time.Millisecond)
	}
	if req.KeepTtl {
		r = r.KeepTTL()
	}
	if req.IfAbsent {
		r = r.IfAbsent()
	}
	if req.IfExists {
		r = r.IfExists()
	}
	if req.IfVersion != nil {
		r = r.IfVersion(*req.IfVersion)
	}
	if req.IfValue != nil {
		r = r.IfValue(req.IfValue)
	}
	if req.ReturnPrev {
		r = r.ReturnPrev()
	}
	rep, resp, st := s.propose(ctx, req.Key, r, req.Session, src)
	if st != nil {
		return nil, st
	}
	out := &pb.PutResponse{Version: resp.Version, GroupTimeUnixNanos: rep.GroupTime}
	if resp.HasValue {
		out.Prev = nonNil(resp.Value)
	}
	var created *bool
	switch {
	case req.ReturnPrev:
		created = ptr(!resp.HasValue)
	case req.IfAbsent:
		created = ptr(true)
	case req.IfVersion != nil:
		created = ptr(*req.IfVersion == 0)
	case req.IfExists, req.IfValue != nil:
		created = ptr(false)
	}
	out.Created = created
	return out, nil
}

func (s *Server) delete(ctx context.Context, req *pb.DeleteRequest, src sessionSource) (*pb.DeleteResponse, *status.Status) {
	lim := s.b.Limits()
	if err := lim.CheckKey(req.Key); err != nil {
		return nil, invalidStatus(err)
	}
	if req.IfValue != nil {
		if err := lim.CheckValue(req.IfValue); err != nil {
			return nil, invalidStatus(err)
		}
	}
	r := kv.Delete(req.Key)
	if req.IfVersion != nil {
		r = r.IfVersion(*req.IfVersion)
	}
	if req.IfValue != nil {
		r = r.IfValue(req.IfValue)
	}
	if req.ReturnPrev {
		r = r.ReturnPrev()
	}
	_, resp, st := s.propose(ctx, req.Key, r, req.Session, src)
	if st != nil {
		return nil, st
	}
	out := &pb.DeleteResponse{Deleted: resp.Code == kv.CodeOK, Version: resp.Version}
	if resp.HasValue {
		out.Prev = nonNil(resp.Value)
	}
	return out, nil
}

func (s *Server) incr(ctx context.Context, req *pb.IncrRequest, src sessionSource) (*pb.IncrResponse, *status.Status) {
	if err := s.b.Limits().CheckKey(req.Key); err != nil {
		return nil, invalidStatus(err)
	}
	_, resp, st := s.propose(ctx, req.Key, kv.IncrBy(req.Key, req.Delta), req.Session, src)
	if st != nil {
		return nil, st
	}
	return &pb.IncrResponse{Value: resp.Int, Version: resp.Version}, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func ptr[T any](v T) *T { return &v }

type clusterService struct {
	pb.UnimplementedClusterServer
	s *Server
}

func (c *clusterService) GetCluster(ctx context.Context, _ *pb.GetClusterRequest) (*pb.ClusterInfo, error) {
	start := time.Now()
	info := clusterInfo(c.s.b.Cluster(), c.s.b.Ready())
	c.s.m.observe("GetCluster", start, nil)
	return info, nil
}

func partitionInfo(p api.PartitionView) *pb.PartitionInfo {
	pi := &pb.PartitionInfo{Partition: uint32(max(p.Partition, 0)), Group: p.Group, MembershipVersion: p.MembershipVersion,
		Term: p.Term, Leader: p.Leader, Replicas: p.Replicas, Voters: p.Voters, Learners: p.Learners,
		VotersOutgoing: p.VotersOutgoing, ReplicaIds: p.ReplicaIDs, NextReplicaId: p.NextReplicaID}
	if p.Local != nil {
		pi.Local = &pb.LocalReplica{Role: p.Local.Role, Applied: p.Local.Applied, Commit: p.Local.Commit}
		if p.Local.Engine != nil {
			// The section's values are JSON-encodable by contract
			// (replica.EngineStatus); one that is not is left out.
			if b, err := json.Marshal(p.Local.Engine); err == nil {
				pi.Local.EngineJson = string(b)
			}
		}
		for _, pr := range p.Local.Progress {
			pi.Local.Progress = append(pi.Local.Progress, &pb.PeerProgress{Replica: pr.Replica, Node: pr.Node, Match: pr.Match,
				LagEntries: pr.LagEntries, LagSeconds: pr.LagSeconds, CaughtUp: pr.CaughtUp, Active: pr.Active})
		}
	}
	return pi
}

func clusterInfo(v api.ClusterView, checks []api.Check) *pb.ClusterInfo {
	out := &pb.ClusterInfo{
		ClusterId:     v.ClusterID,
		Node:          v.Node,
		TimeUnixNanos: v.Time.UnixNano(),
		Settings: &pb.ClusterSettings{
			Partitions: uint32(v.Settings.Partitions),
			Replicas:   uint32(v.Settings.Replicas),
			Engine:     v.Settings.Engine,
			Hash:       v.Settings.Hash,
			Vnodes:     uint32(v.Settings.VNodes),
			LoadFactor: v.Settings.LoadFactor,
			PbMode:     v.Settings.PBMode,
			// The view keeps seconds; a client only shows them.
			PbMinInSync: uint32(v.Settings.PBMinInSync),
			PbMaxLagNs:  int64(v.Settings.PBMaxLagS * 1e9),
			PbLeaseNs:   int64(v.Settings.PBLeaseS * 1e9),
		},
		Ready: true,
	}
	for _, n := range v.Nodes {
		out.Nodes = append(out.Nodes, &pb.NodeInfo{Name: n.Name, State: n.State, GrpcAddr: n.GRPC, HttpAddr: n.HTTP,
			RedisAddr: n.Redis, Zone: n.Zone, Capacity: n.Capacity})
	}
	out.Epoch = v.Epoch
	if v.Meta != nil {
		out.MetaGroup = partitionInfo(*v.Meta)
	}
	for _, p := range v.Partitions {
		out.Partitions = append(out.Partitions, partitionInfo(p))
	}
	for _, c := range checks {
		out.Checks = append(out.Checks, &pb.ReadyCheck{Name: c.Name, Ok: c.OK, Reason: c.Reason})
		out.Ready = out.Ready && c.OK
	}
	return out
}
