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
// Routing: a write goes to the key's partition; proposed here when this
// node leads it, otherwise forwarded once, with its session, to the
// leader's node over one Forward.Batch stream per peer (the receiver
// proposes or answers NOT_APPLIED with its leader; never a second hop).
// A write certainly not applied is retried until --request-timeout. A
// linearizable read on a node that does not lead is a follower read
// (ReadIndex confirmed by the leader, served locally), so reads are never
// forwarded while every node holds every partition.
//
// Below --min-free-disk (sampled every second) writes get NOSPACE and reads
// go on.
package node
