package forward

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// Groups are this node's replicas (replica.Host).
type Groups interface {
	Group(replica.GroupID) (replica.Group, bool)
}

// Routes name the nodes of a group's replicas (routing.Table).
type Routes interface {
	// ReplicaNode is the node to send a write to when this node knows no
	// leader: the group's preferred leader, "" if unknown.
	ReplicaNode(replica.GroupID) string
	// ReplicaNodes are the nodes holding a replica, the likeliest to
	// serve first.
	ReplicaNodes(replica.GroupID) []string
}

// RouterConfig configures a Router.
type RouterConfig struct {
	Node   string // this node's name
	Groups Groups
	Routes Routes
	Client *Client
	// Clock paces the retries.
	Clock clock.Clock
	// Timeout bounds a Propose or a Read (--request-timeout): an outcome
	// still unknown then is indeterminate.
	Timeout time.Duration
	// Retry is the pause before trying again a write certainly not
	// applied, or a local read whose leader moved: half a tick, about how
	// long an election or a leader's news takes to land.
	Retry time.Duration
	// GroupTime, if set, is the group time of the local replica of gid
	// kept in memory (kv.Machine.GroupTime): a local read evaluates with it
	// (kv.EvalAt) instead of looking it up in the store; ok false: it looks.
	GroupTime func(gid replica.GroupID) (t int64, ok bool)
}

// Router sends a write to the group's leader and a read to a replica:
// here when this node can serve it, else forwarded once to a node that
// can. It serves the Forward service's local side too (Local).
type Router struct {
	cfg RouterConfig
}

var _ Local = (*Router)(nil)

// NewRouter returns a Router.
func NewRouter(cfg RouterConfig) *Router { return &Router{cfg: cfg} }

func (r *Router) groupTime(gid replica.GroupID) (int64, bool) {
	if r.cfg.GroupTime == nil {
		return 0, false
	}
	return r.cfg.GroupTime(gid)
}

// Propose replicates cmd in group gid, here or on the leader's node, and
// retries it while it was certainly not applied (no leader yet, a leader
// change; a leader hint aims the next attempt) until the deadline. It
// notes the node that served it in ctx's api.Route, if any.
func (r *Router) Propose(ctx context.Context, gid replica.GroupID, cmd kv.Command) (kv.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	enc := cmd.Encode()
	hint := ""
	for {
		res, served, err := r.proposeOnce(ctx, gid, enc, hint)
		if err == nil {
			if rt := api.RouteFrom(ctx); rt != nil {
				rt.Leader = served
			}
			return kv.DecodeResult(res)
		}
		if api.OutcomeOf(err) != api.NotApplied || ctx.Err() != nil {
			return kv.Reply{}, err
		}
		var nl *replica.ErrNotLeader
		hint = ""
		if errors.As(err, &nl) && nl.HintNode != r.cfg.Node {
			hint = nl.HintNode
		}
		if r.pause(ctx) != nil {
			return kv.Reply{}, err
		}
	}
}

// pause waits Retry by the clock, or until ctx ends.
func (r *Router) pause(ctx context.Context) error {
	t := r.cfg.Clock.NewTicker(r.cfg.Retry)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// proposeOnce makes one attempt and names the node whose replica served it
// (the receiver of a forward proposes locally or refuses: one hop).
func (r *Router) proposeOnce(ctx context.Context, gid replica.GroupID, enc []byte, hint string) ([]byte, string, error) {
	forward := func(to string) ([]byte, string, error) {
		res, err := r.cfg.Client.Propose(ctx, to, gid, enc)
		return res, to, err
	}
	g, ok := r.cfg.Groups.Group(gid)
	if !ok {
		// No replica here: send it to the leader we were told of, or to the
		// group's preferred leader.
		if hint == "" {
			hint = r.cfg.Routes.ReplicaNode(gid)
		}
		if hint == "" {
			return nil, "", &replica.ErrNotLeader{Group: gid}
		}
		return forward(hint)
	}
	// NB: IsLeader, not Status, on every request: Status takes the group's
	// lock, which a round holds across its fsync. Status is asked only
	// when IsLeader says no (a replica elected in this very round may not
	// have published it yet).
	if !g.IsLeader() {
		if st := g.Status(); st.State != replica.StateLeader {
			to := st.LeaderNode
			if to == "" {
				to = hint
			}
			if to == "" || to == r.cfg.Node {
				return nil, "", &replica.ErrNotLeader{Group: st.Group}
			}
			return forward(to)
		}
	}
	res, _, err := g.Propose(ctx, enc)
	var nl *replica.ErrNotLeader
	if errors.As(err, &nl) && nl.HintNode != "" && nl.HintNode != r.cfg.Node {
		return forward(nl.HintNode)
	}
	return res, r.cfg.Node, err
}

// ProposeLocal implements Local: the local replica only.
func (r *Router) ProposeLocal(ctx context.Context, gid replica.GroupID, cmd []byte) ([]byte, error) {
	g, ok := r.cfg.Groups.Group(gid)
	if !ok {
		return nil, ErrNoReplica
	}
	res, _, err := g.Propose(ctx, cmd)
	return res, err
}

// Read evaluates q on group gid: on the local replica (a linearizable read
// on a follower is a follower read, still linearizable, where the engine
// serves those; where it does not — primary-backup — the read goes to the
// leader's node), else on the nodes holding one, in turn, while each
// certainly could not serve it.
func (r *Router) Read(ctx context.Context, gid replica.GroupID, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	rep, err := r.ReadLocal(ctx, gid, mode, q)
	var nl *replica.ErrNotLeader
	for mode == replica.Linearizable && errors.As(err, &nl) && ctx.Err() == nil {
		// The local replica leads not and serves no follower reads.
		if to := nl.HintNode; to != "" && to != r.cfg.Node {
			rep, err = r.cfg.Client.Read(ctx, to, gid, mode, q)
			if err == nil || api.OutcomeOf(err) != api.NotApplied {
				return rep, err
			}
		}
		if r.pause(ctx) != nil {
			return kv.Reply{}, fmt.Errorf("%w: read: %w", replica.ErrNotApplied, err)
		}
		rep, err = r.ReadLocal(ctx, gid, mode, q)
	}
	if !errors.Is(err, ErrNoReplica) && !errors.Is(err, replica.ErrDiverged) {
		return rep, err
	}
	// NB: a replica a consistency check found to differ serves nothing;
	// the leader (never such a replica) serves the read.
	return r.readRemote(ctx, gid, mode, q)
}

// readRemote sends q to the nodes holding a replica of gid, in turn, while
// each certainly could not serve it. A get whose reply is too large for one
// message is split in two halves, each read on its own (NB: then not one
// snapshot: a rare MGET of many large values through a node without the
// partition, which Redis Cluster would refuse outright).
func (r *Router) readRemote(ctx context.Context, gid replica.GroupID, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	var last error = &replica.ErrNotLeader{Group: gid}
	for _, node := range r.cfg.Routes.ReplicaNodes(gid) {
		if node == r.cfg.Node {
			continue
		}
		rep, err := r.cfg.Client.Read(ctx, node, gid, mode, q)
		if errors.Is(err, errReplyTooLarge) && q.Kind == kv.QueryGet && len(q.Keys) > 1 {
			return r.readHalves(ctx, gid, mode, q)
		}
		if err == nil || api.OutcomeOf(err) != api.NotApplied || ctx.Err() != nil {
			return rep, err
		}
		last = err
	}
	return kv.Reply{}, last
}

func (r *Router) readHalves(ctx context.Context, gid replica.GroupID, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	half := len(q.Keys) / 2
	a, err := r.readRemote(ctx, gid, mode, kv.GetQuery(q.Keys[:half]...))
	if err != nil {
		return kv.Reply{}, err
	}
	b, err := r.readRemote(ctx, gid, mode, kv.GetQuery(q.Keys[half:]...))
	if err != nil {
		return kv.Reply{}, err
	}
	a.Responses = append(a.Responses, b.Responses...)
	a.GroupTime = max(a.GroupTime, b.GroupTime)
	return a, nil
}

// ReadLocal implements Local: q on the local replica, retried while its
// leader moves under it, until ctx ends. A linearizable read on a replica
// that does not lead and whose engine serves no follower reads fails at
// once with *replica.ErrNotLeader naming the leader, so that the caller
// sends it there.
func (r *Router) ReadLocal(ctx context.Context, gid replica.GroupID, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	if err := q.Check(); err != nil {
		return kv.Reply{}, err
	}
	for {
		g, ok := r.cfg.Groups.Group(gid)
		if !ok {
			return kv.Reply{}, ErrNoReplica
		}
		m := mode
		if m == replica.Linearizable && !g.IsLeader() {
			m = replica.Follower
		}
		var rep kv.Reply
		err := g.Read(ctx, m, func(v storage.View) error {
			var err error
			if t, ok := r.groupTime(gid); ok {
				rep, err = kv.EvalAt(v, uint64(gid), q, t)
			} else {
				rep, err = kv.Eval(v, uint64(gid), q)
			}
			if err != nil {
				return fmt.Errorf("%w: group %d on %s: %w", api.ErrRead, gid, r.cfg.Node, err)
			}
			return nil
		})
		if m != mode && errors.Is(err, replica.ErrUnsupported) {
			st := g.Status()
			return kv.Reply{}, &replica.ErrNotLeader{Group: gid, Hint: st.Leader, HintNode: st.LeaderNode}
		}
		var nl *replica.ErrNotLeader
		if !errors.As(err, &nl) || ctx.Err() != nil {
			if ctx.Err() != nil && err != nil {
				return kv.Reply{}, fmt.Errorf("%w: read: %w", replica.ErrNotApplied, err)
			}
			return rep, err
		}
		// The leader moved between the check and the read.
		if r.pause(ctx) != nil {
			return kv.Reply{}, fmt.Errorf("%w: read: %w", replica.ErrNotApplied, ctx.Err())
		}
	}
}
