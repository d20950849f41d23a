// Package routing is what a node knows of where everything is: the member
// list (the meta group's records and the ring's placement of them), the
// route cache (every group's descriptor, term and leader), the descriptor
// gossip that keeps both fresh on nodes without a replica, and the removal
// of local replicas that a newer descriptor no longer names.
//
//	t := routing.New(routing.Config{Node: name, ClusterID: id, Settings: s,
//		Replicas: r, Meta: m, Peers: p, Clock: clk})
//	t.InitMeta(founders)        // the local meta replica's list, else the saved one, else founders
//	go t.Run(stop, interval)    // meta every interval, peers every other one
//	r, ok := t.Route(gid)       // the newest entry: the local replica's or learned
//
// Gossip (Peer.SyncRoutes): once a round the node sends every peer its
// member-list epoch and a 64-bit digest of its routing table, a hash of
// every group's (membership version, term, leader known). A peer whose
// table hashes the same answers with nothing; one whose table differs
// says so, and the node asks again with its per-group versions, to which
// the peer answers with the entries it holds newer, as encoded descriptors
// (replica.Descriptor.Encode), exactly as the group wrote them. A peer with
// a higher epoch adds its member list. So a quiet cluster's gossip is a few
// dozen bytes per peer per round whatever the partition count; the
// cairn_routing_gossip_bytes_total counter shows it.
//
// The member list is changed only on the meta group's leader, through the
// local replica of group 0 (Config.MetaGroup): ChangeMeta reads the records
// linearizably, lets the caller compute the changed members and proposes
// them as a compare-and-swap on the epoch, computing again when another
// change came first. ClusterView and PartitionView are the clients' view
// of all this (GET /v1/cluster, Cluster.GetCluster); gossip never uses it.
//
// There is no global epoch for routes: each group's entry stands alone,
// ordered by (membership version, term), then a known leader over none.
//
// The package takes its replicas, the local meta records and replica, its
// peers and its clock as interfaces (Replicas, MetaStore, MetaGroup, Peers,
// clock.Clock): it
// imports no engine and no node, and a test drives it with fakes.
package routing
