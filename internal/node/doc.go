// Package node is the composition root of a `cairn server` process: it
// opens the data directory (one Pebble), establishes the node's identity
// (internal/cluster), creates the cluster's groups when founding it, starts
// the transport and the Raft host, serves peers on the gRPC port, and is
// the Backend that every front door talks to (internal/api).
//
//	n, err := node.Start(cfg)          // storage, identity, groups, transport, gRPC
//	grpcapi.New(...).Register(n.GRPCServer()); http.Serve(httpLis, httpapi.New(...)); resp.New(...).Serve(redisLis)
//	n.Stop(ctx)                        // fail /readyz, hand leadership away, drain, sync, close
//
// Routing is internal/forward's (router.go wires it): a write goes to the
// key's partition; proposed here when this node leads it, otherwise
// forwarded once, with its session, to the leader's node over one
// Forward.Batch stream per peer (the receiver proposes or answers
// NOT_APPLIED with its leader; never a second hop). A write certainly not
// applied is retried until --request-timeout. A read is a kv.Query: a
// linearizable read on a node that does not lead is a follower read
// (ReadIndex confirmed by the leader, evaluated locally), and a node with
// no replica of the partition sends the query on the same stream to a node
// that has one and gets the reply back. A local read reports the group
// time its state machine keeps in memory (kv.Machine.GroupTime), so it
// costs one lookup in the store, the key's.
//
// Below --min-free-disk (sampled every second) writes get NOSPACE and reads
// go on.
//
// Membership (DESIGN.md, Membership and failure): the member list lives in
// the meta group; a node holding a replica of it reads its own, the others
// learn it from their peers by descriptor gossip (internal/routing, on
// Peer.SyncRoutes), which also carries every group's routing entry, so
// every node can route every key and compute the ring's placement of the
// list; routing also changes the member list on the meta leader
// (ChangeMeta) and makes the clients' view (ClusterView, GetCluster). The
// Admin service (internal/api/grpcapi's Admin, given the node in admin.go)
// joins, drains and removes nodes on the meta leader, reaching peers on
// the node's connections (transport.Conns); a new node with --join asks
// it to be added (join.go, cluster.JoinVia). On the meta leader
// the rebalancer (internal/rebalance, wired in rebalance.go) pings every
// member, marks silent ones down after --dead-after, and moves replicas,
// one change per group and at most --max-concurrent-moves at once, by
// asking each group's leader to change its membership
// (Admin.ChangeReplicas); the same package balances leaders and
// orchestrates the unsafe recovery of a partition that lost its quorum
// (the Admin service answers its ForceRecover calls); a stopping node
// hands its leaderships away with it (rebalance.HandOff).
//
// The engines' configuration store is internal/configstore's (the
// replica.ConfigStore the node hands its host, on the meta group through
// the node's router); the node starts it once it can propose and closes
// it first when it stops.
//
// Consistency checks (DESIGN.md, Engines) are the engine's: the node sets
// their interval (--consistency-check-interval), fails /readyz while a
// local replica differs from its group's majority, reads such a partition
// from the leader instead, asks the leader to replace such a replica
// (internal/rebalance; the rebalancer adds the new one), and runs checks on demand
// for cairn admin verify (the Admin service: Verify on any node,
// CheckGroup on each partition's leader).
package node
