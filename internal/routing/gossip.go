package routing

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/fnv"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Peers carries gossip to the other nodes.
type Peers interface {
	// SyncRoutes calls Peer.SyncRoutes on node.
	SyncRoutes(ctx context.Context, node string, req *cairnv1.SyncRoutesRequest) (*cairnv1.SyncRoutesResponse, error)
}

// callTimeout bounds one gossip call: a peer that does not answer within
// it is asked again next round.
const callTimeout = time.Second

// Run keeps the view fresh until stop is closed: the local meta replica
// every interval, the peers every other interval, both at once first.
// Every wait is on Config.Clock.
func (t *Table) Run(stop <-chan struct{}, interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := t.cfg.Clock.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		t.RefreshMeta()
		if i%2 == 0 {
			t.gossip(ctx)
		}
		select {
		case <-stop:
			return
		case <-tick.C():
		}
	}
}

// gossip runs one round: it syncs with every member but this node and the
// removed ones, all at once, and then removes the local replicas that a
// newer descriptor no longer names.
func (t *Table) gossip(ctx context.Context) {
	mv := t.Meta()
	if mv == nil {
		return
	}
	mine := t.snapshot()
	var wg sync.WaitGroup
	for _, m := range mv.Members {
		if m.Name == t.cfg.Node || m.StateOf() == cluster.NodeRemoved {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			if err := t.syncWith(cctx, m.Name, mv.Epoch, mine); err != nil {
				t.log.Debug("route gossip", "peer", m.Name, "err", err)
			}
		})
	}
	wg.Wait()
	t.removeStale()
}

// entry is one group's place in a table snapshot.
type entry struct {
	route Route
	ok    bool
}

// snapshot is every group's entry, by group ID.
func (t *Table) snapshot() []entry {
	out := make([]entry, t.groups())
	for gid := range out {
		r, ok := t.Route(replica.GroupID(gid))
		out[gid] = entry{r, ok && r.Desc.Version > 0}
	}
	return out
}

// versionOf is an entry as the digest and the version vector see it.
func versionOf(e entry) (version, term uint64) {
	if !e.ok {
		return 0, 0
	}
	term = e.route.Term << 1
	if e.route.Leader != "" {
		term |= 1
	}
	return e.route.Desc.Version, term
}

// Digest hashes a table: every group's (membership version, term, leader
// known), in group order. Two tables with the same digest need nothing
// from each other.
func digest(tab []entry) uint64 {
	h := fnv.New64a()
	var b [16]byte
	for _, e := range tab {
		v, term := versionOf(e)
		binary.LittleEndian.PutUint64(b[:8], v)
		binary.LittleEndian.PutUint64(b[8:], term)
		h.Write(b[:])
	}
	return h.Sum64()
}

// syncWith asks node for what it knows newer: the digest first, the
// version vector only when the digests differ.
func (t *Table) syncWith(ctx context.Context, node string, epoch uint64, mine []entry) error {
	req := &cairnv1.SyncRoutesRequest{ClusterId: t.cfg.ClusterID[:], Epoch: epoch, Digest: digest(mine)}
	resp, err := t.call(ctx, node, req)
	if err != nil {
		return err
	}
	t.learn(resp)
	if !resp.GetDiffers() {
		return nil
	}
	req.Versions, req.Terms = make([]uint64, len(mine)), make([]uint64, len(mine))
	for gid, e := range mine {
		req.Versions[gid], req.Terms[gid] = versionOf(e)
	}
	if resp, err = t.call(ctx, node, req); err != nil {
		return err
	}
	t.learn(resp)
	return nil
}

func (t *Table) call(ctx context.Context, node string, req *cairnv1.SyncRoutesRequest) (*cairnv1.SyncRoutesResponse, error) {
	t.gossipBytes.Add(float64(proto.Size(req)))
	resp, err := t.cfg.Peers.SyncRoutes(ctx, node, req)
	if err != nil {
		return nil, err
	}
	t.gossipBytes.Add(float64(proto.Size(resp)))
	return resp, nil
}

// learn merges a peer's answer.
func (t *Table) learn(resp *cairnv1.SyncRoutesResponse) {
	now := t.cfg.Clock.Now()
	for _, e := range resp.GetRoutes() {
		d, err := replica.DecodeDescriptor(e.GetEncoded())
		if err != nil || d.Version == 0 {
			t.log.Warn("route gossip: a descriptor that does not decode", "err", err)
			continue
		}
		t.observe(d.Group, Route{Desc: d, Term: e.GetTerm(), Leader: e.GetLeader(), Seen: now})
	}
	if resp.GetEpoch() == 0 || len(resp.GetMembers()) == 0 {
		return
	}
	members := make([]cluster.Member, 0, len(resp.GetMembers()))
	adv := map[string]cluster.Advertised{}
	for _, m := range resp.GetMembers() {
		members = append(members, cluster.Member{Name: m.GetName(), Addr: m.GetAddr(), Capacity: m.GetCapacity(), Zone: m.GetZone(), State: m.GetState()})
		if len(m.GetAdvertised()) > 0 {
			if a, err := cluster.DecodeAdvertised(m.GetAdvertised()); err == nil {
				adv[m.GetName()] = a
			}
		}
	}
	t.LearnMeta(resp.GetEpoch(), members, adv, false)
}

// SyncRoutes answers a peer's gossip (Peer.SyncRoutes, through the
// transport's RouteServer): its member list when this node's epoch is
// higher; then, to a digest, whether this table hashes otherwise, and to a
// version vector, the entries held newer than the caller's.
func (t *Table) SyncRoutes(_ context.Context, req *cairnv1.SyncRoutesRequest) (*cairnv1.SyncRoutesResponse, error) {
	t.gossipBytes.Add(float64(proto.Size(req)))
	if !bytes.Equal(req.GetClusterId(), t.cfg.ClusterID[:]) {
		return nil, status.Errorf(codes.FailedPrecondition, "route gossip from another cluster (this is %s)", t.cfg.ClusterID)
	}
	resp := &cairnv1.SyncRoutesResponse{}
	if mv := t.Meta(); mv != nil && mv.Epoch > req.GetEpoch() {
		resp.Epoch = mv.Epoch
		for _, m := range mv.Members {
			rm := &cairnv1.RouteMember{Name: m.Name, Addr: m.Addr, Capacity: m.Capacity, Zone: m.Zone, State: m.State}
			if a, ok := mv.Adv[m.Name]; ok {
				rm.Advertised = a.Encode()
			}
			resp.Members = append(resp.Members, rm)
		}
	}
	tab := t.snapshot()
	vs, terms := req.GetVersions(), req.GetTerms()
	switch {
	case len(vs) == 0:
		resp.Differs = digest(tab) != req.GetDigest()
	default:
		for gid, e := range tab {
			if !e.ok {
				continue
			}
			var theirs Route
			if gid < len(vs) && gid < len(terms) {
				theirs.Desc.Version, theirs.Term = vs[gid], terms[gid]>>1
				if terms[gid]&1 != 0 {
					theirs.Leader = "?"
				}
			}
			if e.route.newer(theirs) {
				resp.Routes = append(resp.Routes, &cairnv1.RouteEntry{
					Encoded: e.route.Desc.Encode(nil), Term: e.route.Term, Leader: e.route.Leader})
			}
		}
	}
	t.gossipBytes.Add(float64(proto.Size(resp)))
	return resp, nil
}
