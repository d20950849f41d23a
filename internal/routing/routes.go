package routing

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/prometheus/client_golang/prometheus"
)

// Route is one group's routing entry (DESIGN.md, Words: routing table).
type Route struct {
	Desc   replica.Descriptor
	Term   uint64
	Leader string    // node name; "" when unknown
	Seen   time.Time // when this node read or learned it
}

// newer reports whether r should replace old: a higher membership
// version, else a higher term, else a known leader over none.
func (r Route) newer(old Route) bool {
	switch {
	case r.Desc.Version != old.Desc.Version:
		return r.Desc.Version > old.Desc.Version
	case r.Term != old.Term:
		return r.Term > old.Term
	}
	return r.Leader != "" && old.Leader == ""
}

// Replicas is what routing reads of this node's replicas and asks of them
// (replica.Host, narrowed).
type Replicas interface {
	// Groups lists the local replicas' groups.
	Groups() []replica.GroupID
	// Status is the local replica of gid's status; ok false when none.
	Status(gid replica.GroupID) (st replica.Status, ok bool)
	// RemoveStale destroys the local replica of desc.Group when desc no
	// longer names it (replica.Host.RemoveStale).
	RemoveStale(desc replica.Descriptor) (removed bool, err error)
}

// MetaStore reads the meta group's records from this node's replica of it
// and saves the member list for the next start (StoreMeta in a node).
type MetaStore interface {
	// ReadLocal reads the records as far as the local replica has
	// applied; ok is false when this node holds none.
	ReadLocal() (m cluster.Meta, adv map[string]cluster.Advertised, ok bool, err error)
	// SaveMembers keeps the list at a change (cluster.SaveMembers);
	// LoadMembers reads what was kept (ok false: nothing).
	SaveMembers(epoch uint64, members []cluster.Member) error
	LoadMembers() (epoch uint64, members []cluster.Member, ok bool, err error)
}

// Config is what a Table needs.
type Config struct {
	// Node is this node's name.
	Node string
	// ClusterID is checked on every gossip call; a peer of another
	// cluster is refused.
	ClusterID cluster.ID
	// Settings give the partition count and the ring's parameters.
	Settings cluster.Settings
	Replicas Replicas
	Meta     MetaStore
	// MetaGroup is this node's replica of the meta group, if it holds
	// one: ChangeMeta, ReadMeta and LeadsMeta go through it. Nil: none.
	MetaGroup func() (MetaGroup, bool)
	// Peers carries gossip to other nodes (a gRPC client in production).
	Peers Peers
	// Addrs are the addresses known before any member list (founders,
	// this node); the member list adds to them.
	Addrs map[string]string
	// Clock times the gossip rounds. Default: clock.Real{}.
	Clock clock.Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registry takes cairn_routing_gossip_bytes_total; nil: not
	// registered.
	Registry prometheus.Registerer
}

// Table is one node's routing state: the member list, the route cache
// and the address book, kept fresh by Run.
type Table struct {
	cfg Config
	log *slog.Logger

	meta   atomic.Pointer[MetaView]
	metaMu sync.Mutex // orders LearnMeta

	addrMu sync.RWMutex
	addrs  map[string]string // node name → gRPC address

	mu     sync.Mutex
	routes map[replica.GroupID]Route // learned from peers

	gossipBytes prometheus.Counter
}

// New makes a Table; it knows no member list until LearnMeta or
// RefreshMeta.
func New(cfg Config) *Table {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Table{cfg: cfg, log: cfg.Logger, addrs: map[string]string{}, routes: map[replica.GroupID]Route{}}
	for name, a := range cfg.Addrs {
		t.addrs[name] = a
	}
	t.gossipBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cairn_routing_gossip_bytes_total",
		Help: "Bytes of descriptor gossip (Peer.SyncRoutes messages) this node sent and received."})
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(t.gossipBytes)
	}
	return t
}

// observe keeps r for gid when it is newer than what is known.
func (t *Table) observe(gid replica.GroupID, r Route) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.routes[gid]; !ok || r.newer(old) {
		t.routes[gid] = r
	}
}

// learned is the newest entry of gid learned from peers.
func (t *Table) learned(gid replica.GroupID) (Route, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.routes[gid]
	return r, ok
}

// Route returns group gid's routing entry: the local replica's when this
// node holds an initialised one and it is at least as new as what peers
// told, else the newest learned.
func (t *Table) Route(gid replica.GroupID) (Route, bool) {
	r, _, ok := t.RouteAndStatus(gid)
	return r, ok
}

// RouteAndStatus is Route, and the local replica's status when this node
// holds one (nil otherwise).
func (t *Table) RouteAndStatus(gid replica.GroupID) (Route, *replica.Status, bool) {
	r, ok := t.learned(gid)
	st, held := t.cfg.Replicas.Status(gid)
	if !held {
		return r, nil, ok
	}
	if st.Descriptor.Version > 0 {
		local := Route{Desc: st.Descriptor, Term: st.Term, Leader: st.LeaderNode, Seen: t.cfg.Clock.Now()}
		if !ok || !r.newer(local) {
			return local, &st, true
		}
	}
	return r, &st, ok
}

// groups is the number of groups: the meta group and the partitions.
func (t *Table) groups() int { return t.cfg.Settings.Partitions + 1 }

// DescriptorsKnown returns the newest descriptor known of every group
// (the meta group first), and how many groups are unknown.
func (t *Table) DescriptorsKnown() (descs []replica.Descriptor, missing int) {
	for gid := range t.groups() {
		r, ok := t.Route(replica.GroupID(gid))
		if !ok || r.Desc.Version == 0 {
			missing++
			continue
		}
		descs = append(descs, r.Desc)
	}
	return descs, missing
}

// PreferredNode is the first node of group gid's placement under the
// member list: its preferred leader.
func (t *Table) PreferredNode(gid replica.GroupID) string {
	if nodes := t.targetOf(gid); len(nodes) > 0 {
		return nodes[0]
	}
	return ""
}

// MetaLeader names the meta group's leader as far as this node knows.
func (t *Table) MetaLeader() string {
	if r, ok := t.Route(0); ok {
		return r.Leader
	}
	return ""
}

// ReplicaNodes lists the nodes other than this one that hold group gid,
// its known leader first, then its preferred leader, then the rest; the
// placement's nodes when no entry is known.
func (t *Table) ReplicaNodes(gid replica.GroupID) []string {
	var nodes []string
	add := func(node string) {
		if node != "" && node != t.cfg.Node && !slices.Contains(nodes, node) {
			nodes = append(nodes, node)
		}
	}
	r, ok := t.Route(gid)
	if ok {
		add(r.Leader)
		if pref := t.PreferredNode(gid); pref != "" {
			if _, held := r.Desc.ReplicaOn(pref); held {
				add(pref)
			}
		}
		for _, m := range r.Desc.Replicas {
			add(m.Node)
		}
		return nodes
	}
	for _, node := range t.targetOf(gid) {
		add(node)
	}
	return nodes
}

// ReplicaNode names a node that holds group gid when this one does not:
// its leader when known, else its preferred leader.
func (t *Table) ReplicaNode(gid replica.GroupID) string {
	if nodes := t.ReplicaNodes(gid); len(nodes) > 0 {
		return nodes[0]
	}
	return ""
}

// removeStale deletes local replicas that a newer descriptor, learned from
// a peer, no longer names: this node was away (or cut off) while its
// replica was moved, so no message will ever tell it. The descriptor
// handed to the host is the one the peer sent, byte for byte.
func (t *Table) removeStale() {
	for _, gid := range t.cfg.Replicas.Groups() {
		r, ok := t.learned(gid)
		if !ok {
			continue
		}
		removed, err := t.cfg.Replicas.RemoveStale(r.Desc)
		if err != nil {
			t.log.Warn("removing a stale replica", "group", gid, "err", err)
		} else if removed {
			t.log.Info("removed a replica that its group no longer names", "group", gid, "version", r.Desc.Version)
		}
	}
}
