// Package cairnv1 is the Go code generated from Cairn's .proto files, the
// wire contract of every gRPC service: KV and Cluster for clients
// (kv.proto), Admin for operators (admin.proto), Forward between a gateway
// and the node that serves a request (forward.proto), Peer between nodes
// for the replicas' messages and route gossip (transport.proto), and
// FaultInjection for tests (faults.proto). The .pb.go files are generated
// (each .proto's header says how) and committed; only this file is
// written by hand.
package cairnv1
