// Package transport moves engine messages and snapshots between the nodes of
// a cluster. The engine drivers see only the Transport interface
// (transport.go); GRPC implements it between processes and LocalNetwork
// inside one, for engine tests and the simulation.
//
// # Messages
//
// Each node dials one bidirectional Peer.Stream to each peer node it sends
// to, on the first Send, and redials with backoff (50ms doubling to 2s)
// after a failure. Send appends to the destination's bounded queue
// (Config.QueueSize messages) and returns; the destination's sender
// goroutine writes everything queued as one frame (up to MaxFrameBytes), so
// messages of many groups share a frame. A full queue drops the excess, a
// broken stream drops what is queued, and both call the Handler's
// ReportUnreachable, from the transport's own goroutine, never inside Send.
// Messages to one node are written in order; the receiver hands each frame to
// Handler.HandleMessages as it arrives. A message's Kind says who reads its
// payload on the receiving host (the engine, or the driver beside it); the
// receiver drops a kind newer than it knows.
//
//	caller → callee  PeerFrame{hello: {cluster_id, name, incarnation, target}}
//	callee → caller  PeerFrame{hello: {cluster_id, name, incarnation, target}}
//	caller → callee  PeerFrame{messages: [{group, from, to, kind, payload}, ...]}
//	caller → callee  PeerFrame{ping: {sent, offset}}   every PingInterval
//	callee → caller  PeerFrame{pong: {ping sent, callee's clock}}
//
// # Handshake
//
// Each side checks the other's hello: the same cluster ID, the name the
// caller meant to reach, and the incarnation its PeerBook remembers for that
// name (remembered on first contact). The callee refuses with
// FAILED_PRECONDITION and says what differs; a node whose data was wiped
// comes back with a new incarnation and is refused with "node X lost its
// data (incarnation A, known B); add it back with --join". Refusals show in
// the log and in Peers().
//
// # Clock offsets
//
// The pongs measure each peer's clock NTP-style, offset = theirs −
// (sent+received)/2, smoothed; pings carry the caller's estimate back so the
// callee learns it too. ClockHealthy is true while this node agrees within
// MaxClockOffset with a majority of the nodes it knows (itself included):
// a node that is not healthy must refuse to lead (DESIGN.md "Expiry").
//
// # Snapshots
//
// SendSnapshot opens its own Peer.Snapshot call: the first request carries
// the hello and the header, the callee answers the hello in its response
// headers once one of its MaxSnapshots inbound slots is free, the caller then
// sends the chunks (each at most MaxChunkSize, 1 MiB) and the callee ends the
// call with the error of Handler.HandleSnapshot. Outbound snapshots also wait
// for one of MaxSnapshots slots.
//
// # Use
//
//	t, err := transport.New(transport.Config{ClusterID: id, Name: "n1",
//		Incarnation: inc, Resolve: addrs, Handler: h, Registry: reg, Peers: book})
//	srv := grpc.NewServer(transport.ServerOptions()...) // the node's one server
//	t.Register(srv)
//	go srv.Serve(lis)
//	t.Send("n2", msgs) // from the engine driver's Ready handling
//	...
//	t.Close() // then srv.Stop()
package transport
