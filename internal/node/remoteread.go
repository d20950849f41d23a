package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/metadata"
)

// readPage is how many pairs one page of a remote iterator carries.
const readPage = 256

// errNoReplica says this node holds no replica of a group.
var errNoReplica = errors.New("node holds no replica")

// metaPartition is the meta group (group 0) where a partition number is
// asked for (replica.GroupID(0).Partition()): readLocal and remoteRead
// read it for the config store. On the wire, in ReadRequest.partition, it
// is metaReadPartition: a node from before reads it as a partition out of
// range and refuses it, never as another partition.
const (
	metaPartition     = -1
	metaReadPartition = math.MaxUint32
)

// wirePartition is p as ReadRequest.partition carries it.
func wirePartition(p int) uint32 {
	if p == metaPartition {
		return metaReadPartition
	}
	return uint32(p)
}

// remoteRead runs fn against partition p on a node that holds a replica of
// it, over a Forward.Read stream: the holder waits until a read in mode is
// safe there (a linearizable read on a follower is a follower read, still
// linearizable), pins a snapshot, and serves fn's reads from it.
func (n *Node) remoteRead(ctx context.Context, p int, mode replica.ReadMode, fn func(v storage.View, group uint64) error) error {
	gid := replica.GroupID(p + 1)
	var last error = &replica.ErrNotLeader{Group: gid}
	for _, node := range n.replicaNodes(gid) {
		if n.faults != nil && n.tr.IsCut(node, transport.Outbound) {
			last = notApplied(node, transport.ErrLinkCut)
			continue
		}
		err := n.readFrom(ctx, node, p, mode, fn)
		if err == nil || api.OutcomeOf(err) != api.NotApplied || ctx.Err() != nil {
			return err
		}
		last = err
	}
	return last
}

func (n *Node) readFrom(ctx context.Context, node string, p int, mode replica.ReadMode, fn func(v storage.View, group uint64) error) error {
	peer, err := n.fwd.livePeer(ctx, node)
	if err != nil {
		return notApplied(node, err)
	}
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, forwardClusterHeader, n.id.ClusterID.String()))
	defer cancel()
	stream, err := cairnv1.NewForwardClient(peer.conn).Read(ctx)
	if err != nil {
		return notApplied(node, err)
	}
	dl, _ := ctx.Deadline()
	if err := stream.Send(&cairnv1.ReadRequest{Open: true, Partition: wirePartition(p), Mode: int32(mode), DeadlineUnixNano: dl.UnixNano()}); err != nil {
		return notApplied(node, err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return notApplied(node, err)
	}
	if err := readOutcome(node, resp); err != nil {
		return err
	}
	v := &remoteView{stream: stream, node: node}
	err = fn(v, uint64(p+1))
	_ = stream.CloseSend()
	if err == nil && v.err != nil {
		err = v.err
	}
	return err
}

// notApplied says a remote read of node failed before it read anything:
// certainly not applied (a read changes nothing), safe to try elsewhere.
func notApplied(node string, err error) error {
	return fmt.Errorf("%w: reading from %s: %w", replica.ErrNotApplied, node, err)
}

// readOutcome turns a ReadResponse's outcome into the api error it means.
func readOutcome(node string, r *cairnv1.ReadResponse) error {
	switch r.GetOutcome() {
	case cairnv1.ForwardResponse_DONE:
		return nil
	case cairnv1.ForwardResponse_INVALID:
		return fmt.Errorf("%w: %s", api.ErrInvalid, r.GetMessage())
	default:
		// A read changes nothing: whatever went wrong, it is safe to retry.
		return fmt.Errorf("%w: read on %s: %s", replica.ErrNotApplied, node, r.GetMessage())
	}
}

// remoteView is a storage.View over a Forward.Read stream. Reads are
// strictly one at a time (the stream is a conversation), as api read
// functions do them.
type remoteView struct {
	stream cairnv1.Forward_ReadClient
	node   string
	err    error // the first transport error; the read then fails
}

func (v *remoteView) call(req *cairnv1.ReadRequest) (*cairnv1.ReadResponse, error) {
	if v.err != nil {
		return nil, v.err
	}
	if err := v.stream.Send(req); err != nil {
		v.err = fmt.Errorf("%w: read on %s: %w", replica.ErrNotApplied, v.node, err)
		return nil, v.err
	}
	resp, err := v.stream.Recv()
	if err != nil {
		v.err = fmt.Errorf("%w: read on %s: %w", replica.ErrNotApplied, v.node, err)
		return nil, v.err
	}
	if err := readOutcome(v.node, resp); err != nil {
		v.err = err
		return nil, err
	}
	return resp, nil
}

func (v *remoteView) Get(key []byte) ([]byte, error) {
	resp, err := v.call(&cairnv1.ReadRequest{Get: key})
	if err != nil {
		return nil, err
	}
	if !resp.GetFound() {
		return nil, storage.ErrNotFound
	}
	return resp.GetValue(), nil
}

func (v *remoteView) NewIter(lower, upper []byte) (storage.Iterator, error) {
	if v.err != nil {
		return nil, v.err
	}
	return &remoteIter{v: v, lower: bytes.Clone(lower), upper: bytes.Clone(upper), pos: -1}, nil
}

// remoteIter pages through a range of the remote snapshot.
type remoteIter struct {
	v            *remoteView
	lower, upper []byte
	keys, vals   [][]byte
	pos          int
	more         bool
	err          error
}

// fetch loads the page that starts at start (inclusive).
func (it *remoteIter) fetch(start []byte) bool {
	resp, err := it.v.call(&cairnv1.ReadRequest{Iter: true, Lower: it.lower, Upper: it.upper, Start: start, Limit: readPage})
	if err != nil {
		it.err, it.keys, it.vals = err, nil, nil
		return false
	}
	it.keys, it.vals, it.more, it.pos = resp.GetKeys(), resp.GetValues(), resp.GetMore(), 0
	return it.Valid()
}

func (it *remoteIter) First() bool { return it.fetch(it.lower) }

func (it *remoteIter) SeekGE(key []byte) bool {
	if bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	return it.fetch(key)
}

func (it *remoteIter) Next() bool {
	if !it.Valid() {
		return false
	}
	it.pos++
	if it.pos < len(it.keys) {
		return true
	}
	if !it.more {
		return false
	}
	last := it.keys[len(it.keys)-1]
	return it.fetch(append(bytes.Clone(last), 0))
}

func (it *remoteIter) Valid() bool   { return it.err == nil && it.pos >= 0 && it.pos < len(it.keys) }
func (it *remoteIter) Key() []byte   { return it.keys[it.pos] }
func (it *remoteIter) Value() []byte { return it.vals[it.pos] }
func (it *remoteIter) Error() error  { return it.err }
func (it *remoteIter) Close() error  { return nil }

// Read serves a Forward.Read stream (see remoteRead).
func (s *forwardServer) Read(stream cairnv1.Forward_ReadServer) error {
	n := s.n
	if err := n.fromCluster(stream.Context(), "forward"); err != nil {
		return err
	}
	open, err := stream.Recv()
	if err != nil {
		return err
	}
	fail := func(o cairnv1.ForwardResponse_Outcome, msg string) error {
		return stream.Send(&cairnv1.ReadResponse{Outcome: o, Message: msg})
	}
	p, mode := int(open.GetPartition()), replica.ReadMode(open.GetMode())
	if open.GetPartition() == metaReadPartition {
		p = metaPartition
	}
	switch {
	case !open.GetOpen():
		return fail(cairnv1.ForwardResponse_INVALID, "the first request must open the read")
	case p >= n.Partitions():
		return fail(cairnv1.ForwardResponse_INVALID, fmt.Sprintf("partition %d out of range", p))
	case mode < replica.Linearizable || mode > replica.Stale:
		return fail(cairnv1.ForwardResponse_INVALID, fmt.Sprintf("read mode %d unknown", mode))
	}
	ctx := stream.Context()
	if d := open.GetDeadlineUnixNano(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, d))
		defer cancel()
	}
	opened := false
	err = n.readLocal(ctx, p, mode, func(v storage.View, _ uint64) error {
		opened = true
		if err := stream.Send(&cairnv1.ReadResponse{}); err != nil {
			return err
		}
		for {
			req, err := stream.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := stream.Send(serveRead(v, req)); err != nil {
				return err
			}
		}
	})
	if err != nil && !opened {
		if errors.Is(err, errNoReplica) {
			return fail(cairnv1.ForwardResponse_NOT_APPLIED, fmt.Sprintf("node %s holds no replica of partition %d", n.cfg.Name, p))
		}
		return fail(cairnv1.ForwardResponse_NOT_APPLIED, err.Error())
	}
	return err
}

// serveRead answers one read of an open remote read from v.
func serveRead(v storage.View, req *cairnv1.ReadRequest) *cairnv1.ReadResponse {
	resp := &cairnv1.ReadResponse{}
	if !req.GetIter() {
		val, err := v.Get(req.GetGet())
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			resp.Outcome, resp.Message = cairnv1.ForwardResponse_NOT_APPLIED, err.Error()
		default:
			resp.Found, resp.Value = true, val
		}
		return resp
	}
	var upper []byte
	if len(req.GetUpper()) > 0 {
		upper = req.GetUpper()
	}
	it, err := v.NewIter(req.GetLower(), upper)
	if err != nil {
		resp.Outcome, resp.Message = cairnv1.ForwardResponse_NOT_APPLIED, err.Error()
		return resp
	}
	defer it.Close()
	limit := int(min(max(req.GetLimit(), 1), 4*readPage))
	for ok := it.SeekGE(req.GetStart()); ok; ok = it.Next() {
		if len(resp.Keys) == limit {
			resp.More = true
			break
		}
		resp.Keys = append(resp.Keys, bytes.Clone(it.Key()))
		resp.Values = append(resp.Values, bytes.Clone(it.Value()))
	}
	if err := it.Error(); err != nil {
		resp = &cairnv1.ReadResponse{Outcome: cairnv1.ForwardResponse_NOT_APPLIED, Message: err.Error()}
	}
	return resp
}
