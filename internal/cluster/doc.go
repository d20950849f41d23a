// Package cluster holds what a node knows about the cluster it belongs to:
// its own identity, the cluster's identity and creation settings, the
// incarnations of its peers, and the founding state of every group
// (DESIGN.md, Identity); the meta group's member records and the
// commands that change them under the placement epoch (membership.go);
// and the pure planner that turns a member list into every group's target
// nodes and the next move of each group (plan.go, DESIGN.md, Placement).
// A new node joins a running cluster with JoinVia (Admin.Join, then
// CreateJoined). internal/rebalance runs the rebalancer that acts on the
// plans.
//
// A cluster is created etcd's way: every founder starts with the same
// --initial-cluster and --initial-cluster-token, and derives from them alone
// the cluster ID (ClusterID), every group's first descriptor
// (FoundingDescriptors) and the meta group's first records (MetaSeed), so
// each founder writes the same bytes without waiting for the others. A
// server starts like this:
//
//	members, err := cluster.ParseInitialCluster(flagInitialCluster) // or DefaultInitialCluster(name, addr)
//	id, err := cluster.Open(store, cluster.Options{
//		Name: name, InitialCluster: members, Token: token, State: state,
//		Settings: cluster.Settings{Partitions: p, Replicas: r, Engine: engine},
//		Explicit: changedFlags, // e.g. {"partitions": true}
//	})
//	peers, err := cluster.NewPeerBook(store) // transport.Config.Peers
//	// transport.Config{ClusterID: id.ClusterID, Name: id.Name, Incarnation: id.Incarnation, ...}
//	if !id.Bootstrapped {
//		for _, d := range cluster.FoundingDescriptors(id.Founders, id.Settings) {
//			if _, ok := d.ReplicaOn(id.Name); !ok {
//				continue
//			}
//			var seed func(storage.Batch) error
//			if d.Group == 0 {
//				seed = cluster.MetaSeed(id.ClusterID, id.Founders, id.Settings)
//			}
//			host.Bootstrap(d, seed) // leaves a group already present alone
//		}
//		cluster.MarkBootstrapped(store)
//	}
//
// # Storage
//
// Node-local, never replicated (JSON with a version field, readable with
// any pebble tool):
//
//	/n/format         {format}: the storage format (storage.FormatVersion), written with
//	                  the first records; a directory without it is format 1
//	/n/identity       {name, incarnation (random, non-zero, made at first start), created}
//	/n/cluster        {cluster ID, settings, founding members, bootstrapped, joined}
//	/n/members        {epoch, members}: the newest member list this node has seen
//	/n/peers/<name>   the peer's last seen incarnation, 8 bytes big-endian
//
// In the meta group (group 0), as user keys of its kv state machine:
//
//	cluster/id        the cluster ID, hex
//	cluster/settings  Settings, JSON
//	members/<name>    Member, JSON (name, address, capacity, zone, state)
//	cluster/epoch     the placement epoch, decimal: every membership change
//	                  bumps it in the same command, conditioned on its version
//	nodes/<name>/advertise  the node's door addresses
//	engine/<key>      an engine's own configuration record, written only by
//	                  compare-and-swap on its version through the node's
//	                  replica.ConfigStore (primary-backup: one per partition)
//
// # Restarts
//
// Settings stored at creation win: a flag set explicitly to another value is
// refused with an error naming both; an unset flag takes the stored value.
// The same holds for --initial-cluster and --initial-cluster-token (an
// explicit pair giving another cluster ID is refused, naming both IDs) and
// --name (always compared). --initial-cluster-state existing with an empty
// data directory is refused: adding a node takes --join, with which an
// empty node asks a member to add it (CreateJoined writes its identity from
// the answer).
package cluster
