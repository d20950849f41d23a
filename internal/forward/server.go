package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// Local is what the server serves with: this node's own replicas, never
// another node (one hop). Router implements it.
type Local interface {
	// ProposeLocal proposes an encoded command on the local replica of
	// gid and returns its encoded result; ErrNoReplica when this node
	// holds none.
	ProposeLocal(ctx context.Context, gid replica.GroupID, cmd []byte) ([]byte, error)
	// ReadLocal evaluates q on the local replica of gid once a read in
	// mode is safe; ErrNoReplica when this node holds none.
	ReadLocal(ctx context.Context, gid replica.GroupID, mode replica.ReadMode, q kv.Query) (kv.Reply, error)
}

// replyTooLarge starts the message of an INVALID answer to a query whose
// reply does not fit in a message; the sender splits a get of several keys
// (Router.Read) rather than fail it. replyOverhead is room for the rest of
// the ForwardResponse.
const (
	replyTooLarge = "reply too large"
	replyOverhead = 1 << 10
)

// ErrNoReplica says this node holds no replica of a group.
var ErrNoReplica = errors.New("node holds no replica")

// ServerConfig configures a Server.
type ServerConfig struct {
	// Node is this node's name, for messages.
	Node string
	// ClusterID: calls from another cluster are refused (CheckCluster).
	ClusterID string
	// Partitions is P; a request for a partition at or above it is invalid.
	Partitions int
	// Local serves the requests.
	Local Local
	// NoSpace, if set, reports that writes are refused (below the
	// free-disk floor); reads are still served.
	NoSpace func() bool
	// MaxMessage is the largest answer the peer takes (transport's
	// MaxMessageSize); a larger read reply is answered INVALID. 0: none.
	MaxMessage int
}

// Server answers forwarded commands and queries on this node.
type Server struct {
	cairnv1.UnimplementedForwardServer
	cfg ServerConfig
}

// NewServer returns the Forward service of this node.
func NewServer(cfg ServerConfig) *Server { return &Server{cfg: cfg} }

// Batch serves one peer's stream: each request is handled on a goroutine
// of its own and answered by id, in whatever order they finish.
func (s *Server) Batch(stream cairnv1.Forward_BatchServer) error {
	if err := CheckCluster(stream.Context(), s.cfg.ClusterID, "forward"); err != nil {
		return err
	}
	var sendMu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		req, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := s.handle(stream.Context(), req)
			sendMu.Lock()
			defer sendMu.Unlock()
			_ = stream.Send(resp)
		}()
	}
}

func (s *Server) handle(ctx context.Context, req *cairnv1.ForwardRequest) *cairnv1.ForwardResponse {
	resp := &cairnv1.ForwardResponse{Id: req.GetId()}
	if d := req.GetDeadlineUnixNano(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, d))
		defer cancel()
	}
	read := req.GetQuery() != nil
	if !read && s.cfg.NoSpace != nil && s.cfg.NoSpace() {
		resp.Outcome = cairnv1.ForwardResponse_NO_SPACE
		return resp
	}
	gid := replica.GroupID(0)
	if !req.GetMeta() {
		if p := int(req.GetPartition()); p >= s.cfg.Partitions {
			resp.Outcome, resp.Message = cairnv1.ForwardResponse_INVALID, fmt.Sprintf("partition %d out of range", p)
			return resp
		}
		gid = replica.GroupID(req.GetPartition()) + 1
	}
	if read {
		return s.read(ctx, gid, req, resp)
	}
	res, err := s.cfg.Local.ProposeLocal(ctx, gid, req.GetCommand())
	switch {
	case errors.Is(err, ErrNoReplica):
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_NOT_APPLIED, fmt.Sprintf("node %s holds no replica of group %d", s.cfg.Node, gid)
		return resp
	}
	switch api.OutcomeOf(err) {
	case api.Done:
		resp.Result = res
	case api.NotApplied:
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_NOT_APPLIED, err.Error()
		var nl *replica.ErrNotLeader
		if errors.As(err, &nl) {
			resp.Leader = nl.HintNode
		}
	case api.Invalid:
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_INVALID, err.Error()
	case api.NoSpace:
		resp.Outcome = cairnv1.ForwardResponse_NO_SPACE
	default:
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_INDETERMINATE, err.Error()
	}
	return resp
}

// read serves a query: a read changes nothing, so whatever keeps it from
// being served here is NOT_APPLIED (the sender tries another replica),
// except a query or an answer that can never be served.
func (s *Server) read(ctx context.Context, gid replica.GroupID, req *cairnv1.ForwardRequest, resp *cairnv1.ForwardResponse) *cairnv1.ForwardResponse {
	mode := replica.ReadMode(req.GetMode())
	if mode < replica.Linearizable || mode > replica.Stale {
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_INVALID, fmt.Sprintf("read mode %d unknown", mode)
		return resp
	}
	q, err := kv.DecodeQuery(req.GetQuery())
	if err != nil {
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_INVALID, err.Error()
		return resp
	}
	rep, err := s.cfg.Local.ReadLocal(ctx, gid, mode, q)
	switch {
	case errors.Is(err, ErrNoReplica):
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_NOT_APPLIED, fmt.Sprintf("node %s holds no replica of group %d", s.cfg.Node, gid)
		return resp
	case errors.Is(err, kv.ErrMalformed):
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_INVALID, err.Error()
		return resp
	case err != nil:
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_NOT_APPLIED, err.Error()
		return resp
	}
	resp.Result = rep.AppendEncode(nil)
	if s.cfg.MaxMessage > 0 && len(resp.Result) > s.cfg.MaxMessage-replyOverhead {
		n := len(resp.Result)
		resp.Result = nil
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_INVALID,
			fmt.Sprintf("%s: %d bytes, over the %d-byte message limit between nodes", replyTooLarge, n, s.cfg.MaxMessage)
	}
	return resp
}
