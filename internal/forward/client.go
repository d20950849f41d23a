package forward

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/forward/mux"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// ClusterHeader carries the sender's cluster ID on node-to-node calls; the
// receiver refuses a call from another cluster (CheckCluster).
const ClusterHeader = "cairn-cluster-id"

// CheckCluster refuses a call from outside the cluster clusterID: what
// names the call in the error.
func CheckCluster(ctx context.Context, clusterID, what string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get(ClusterHeader); len(got) != 1 || got[0] != clusterID {
		return status.Errorf(codes.FailedPrecondition, "%s: cluster ID %v does not match this node's %s; only nodes of this cluster may call it",
			what, got, clusterID)
	}
	return nil
}

// Links says whether fault injection has cut the link to a node.
type Links interface {
	// CutTo is the fault (transport.ErrLinkCut) when the link to node is
	// cut, else nil.
	CutTo(node string) error
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// ClusterID is sent in ClusterHeader.
	ClusterID string
	// Resolve gives a node's gRPC address.
	Resolve func(node string) (string, bool)
	// Links, if set, are checked before each send (fault injection).
	Links Links
	// DialOptions dial a peer (transport.DialOptions: message limits
	// matching the server's, keepalives).
	DialOptions []grpc.DialOption
	// MaxMessage is the largest message a peer takes (transport's
	// MaxMessageSize); a larger request is refused as too large before it
	// is sent. 0: no check.
	MaxMessage int
	// Sent, if set, is called once per command sent (a metric of
	// forwarded writes; queries are not counted).
	Sent func()
}

// Client keeps one Forward.Batch stream per peer node and multiplexes
// forwarded commands and queries over it. Safe for concurrent use.
type Client struct {
	cfg ClientConfig
	wg  sync.WaitGroup
	mu  struct {
		sync.Mutex
		peers  map[string]*peer
		closed bool
	}
}

// peer is the stream to one node. ready is closed once the stream is open
// or failed (err); it is dialled outside the client's lock, so a silent
// peer never holds up forwards to the others.
type peer struct {
	ready  chan struct{}
	err    error // set before ready closes
	m      *stream
	cancel context.CancelFunc // set at creation
}

type stream = mux.Mux[*cairnv1.ForwardRequest, *cairnv1.ForwardResponse]

// NewClient returns a Client; Close ends its streams.
func NewClient(cfg ClientConfig) *Client {
	c := &Client{cfg: cfg}
	c.mu.peers = map[string]*peer{}
	return c
}

// Propose sends an encoded command for group gid to node and waits for its
// encoded result. Anything that fails before the command left answers
// ErrNotApplied (a refusal by the receiver *replica.ErrNotLeader with its
// hint); a stream that breaks with it in flight, or ctx's end, makes the
// outcome ErrIndeterminate.
func (c *Client) Propose(ctx context.Context, node string, gid replica.GroupID, cmd []byte) ([]byte, error) {
	req := &cairnv1.ForwardRequest{Command: cmd}
	r, err := c.call(ctx, node, gid, req)
	if err != nil {
		return nil, err
	}
	switch r.GetOutcome() {
	case cairnv1.ForwardResponse_DONE:
		return r.GetResult(), nil
	case cairnv1.ForwardResponse_NOT_APPLIED:
		return nil, &replica.ErrNotLeader{Group: gid, HintNode: r.GetLeader()}
	case cairnv1.ForwardResponse_INVALID:
		return nil, fmt.Errorf("%w: %s", api.ErrInvalid, r.GetMessage())
	case cairnv1.ForwardResponse_NO_SPACE:
		return nil, fmt.Errorf("%w (on %s)", api.ErrNoSpace, node)
	}
	return nil, fmt.Errorf("%w: %s", replica.ErrIndeterminate, r.GetMessage())
}

// Read sends q for group gid to node, to evaluate on its replica once a
// read in mode is safe there, and returns the reply. A read changes
// nothing: every failure but a malformed query is ErrNotApplied.
func (c *Client) Read(ctx context.Context, node string, gid replica.GroupID, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	req := &cairnv1.ForwardRequest{Query: q.AppendEncode(nil), Mode: int32(mode)}
	r, err := c.call(ctx, node, gid, req)
	if err != nil {
		if api.OutcomeOf(err) == api.Invalid {
			return kv.Reply{}, err
		}
		return kv.Reply{}, fmt.Errorf("%w: reading from %s: %w", replica.ErrNotApplied, node, err)
	}
	switch r.GetOutcome() {
	case cairnv1.ForwardResponse_DONE:
		rep, err := kv.DecodeResult(r.GetResult())
		if err != nil {
			return kv.Reply{}, fmt.Errorf("%w: read on %s: %w", replica.ErrNotApplied, node, err)
		}
		return rep, nil
	case cairnv1.ForwardResponse_INVALID:
		if strings.HasPrefix(r.GetMessage(), replyTooLarge) {
			return kv.Reply{}, fmt.Errorf("%w: %w: read on %s: %s", api.ErrTooLarge, errReplyTooLarge, node, r.GetMessage())
		}
		return kv.Reply{}, fmt.Errorf("%w: %s", api.ErrInvalid, r.GetMessage())
	}
	return kv.Reply{}, fmt.Errorf("%w: read on %s: %s", replica.ErrNotApplied, node, r.GetMessage())
}

// errReplyTooLarge: a query's reply does not fit in a message between
// nodes (a get of many large values).
var errReplyTooLarge = errors.New("forward: " + replyTooLarge)

// call sends req for gid to node and waits for the answer.
func (c *Client) call(ctx context.Context, node string, gid replica.GroupID, req *cairnv1.ForwardRequest) (*cairnv1.ForwardResponse, error) {
	notApplied := func(err error) error {
		return fmt.Errorf("%w: forwarding to %s: %w", replica.ErrNotApplied, node, err)
	}
	if c.cfg.Links != nil {
		if err := c.cfg.Links.CutTo(node); err != nil {
			return nil, notApplied(err)
		}
	}
	if gid == 0 {
		req.Meta = true
	} else {
		req.Partition = uint32(gid - 1)
	}
	dl, _ := ctx.Deadline()
	req.DeadlineUnixNano = dl.UnixNano()
	if c.cfg.MaxMessage > 0 && proto.Size(req) > c.cfg.MaxMessage {
		return nil, fmt.Errorf("%w: forwarding to %s: a request of %d bytes, over the %d-byte message limit between nodes",
			api.ErrTooLarge, node, proto.Size(req), c.cfg.MaxMessage)
	}
	p, err := c.livePeer(ctx, node)
	if err != nil {
		return nil, notApplied(err)
	}
	if ctx.Err() != nil {
		return nil, notApplied(ctx.Err())
	}
	if c.cfg.Sent != nil && req.Query == nil {
		c.cfg.Sent()
	}
	r, sent, err := p.m.Call(ctx, req)
	switch {
	case err == nil:
		return r, nil
	case !sent:
		c.drop(node, p) // broke since livePeer looked
		return nil, notApplied(err)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: forwarded to %s: %w", replica.ErrIndeterminate, node, ctx.Err())
	}
	return nil, fmt.Errorf("%w: the stream to %s broke with the request in flight: %w", replica.ErrIndeterminate, node, err)
}

// livePeer is peer, except that a peer whose stream broke (its connection
// is closed with it) is dropped and dialled again, so a forward does not
// fail once on a break it could have seen.
func (c *Client) livePeer(ctx context.Context, node string) (*peer, error) {
	p, err := c.peer(ctx, node)
	if err != nil {
		return nil, err
	}
	if p.m.Err() == nil {
		return p, nil
	}
	c.drop(node, p)
	return c.peer(ctx, node)
}

// peer returns the open stream to node, dialling it if needed; it waits at
// most until ctx ends.
func (c *Client) peer(ctx context.Context, node string) (*peer, error) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil, errors.New("node stopping")
	}
	p := c.mu.peers[node]
	if p == nil {
		addr, ok := c.cfg.Resolve(node)
		if !ok {
			c.mu.Unlock()
			return nil, fmt.Errorf("no address for node %s", node)
		}
		sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), ClusterHeader, c.cfg.ClusterID))
		p = &peer{ready: make(chan struct{}), cancel: cancel}
		c.mu.peers[node] = p
		c.wg.Add(1)
		go c.connect(sctx, p, addr)
	}
	c.mu.Unlock()
	select {
	case <-p.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if p.err != nil {
		c.drop(node, p)
		return nil, p.err
	}
	return p, nil
}

// connect opens the stream and then receives on it until it breaks. ctx
// lives as long as the stream; p.cancel ends both (even mid-dial).
func (c *Client) connect(ctx context.Context, p *peer, addr string) {
	defer c.wg.Done()
	conn, err := grpc.NewClient(addr, c.cfg.DialOptions...)
	if err != nil {
		p.err = err
		close(p.ready)
		return
	}
	defer conn.Close()
	bs, err := cairnv1.NewForwardClient(conn).Batch(ctx)
	if err != nil {
		p.err = err
		close(p.ready)
		return
	}
	p.m = mux.New(bs, mux.Config[*cairnv1.ForwardRequest, *cairnv1.ForwardResponse]{
		SetID:  func(r *cairnv1.ForwardRequest, id uint64) { r.Id = id },
		ID:     (*cairnv1.ForwardResponse).GetId,
		Closed: errors.New("stream closed"),
	})
	close(p.ready)
	p.m.Receive()
}

func (c *Client) drop(node string, p *peer) {
	c.mu.Lock()
	if c.mu.peers[node] == p {
		delete(c.mu.peers, node)
	}
	c.mu.Unlock()
	p.cancel()
}

// Close ends every stream (and dial in progress) and waits for their
// goroutines; later calls fail as not applied.
func (c *Client) Close() {
	c.mu.Lock()
	c.mu.closed = true
	peers := c.mu.peers
	c.mu.peers = nil
	c.mu.Unlock()
	for _, p := range peers {
		p.cancel()
	}
	c.wg.Wait()
}
