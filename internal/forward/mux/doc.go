// Package mux multiplexes calls from many goroutines over one bidirectional
// gRPC stream whose messages carry a request ID (TiKV's BatchCommands
// shape): each call gets a fresh ID, is sent at once, and returns when the
// answer with its ID arrives, in whatever order the other side answers.
// One implementation serves every such stream: the node's forwarding
// stream to its peers (internal/forward) and the client's KV.Batch stream
// (client, and grpcapi's test client). It is a leaf (gRPC's status only),
// so the public client uses it without pulling in the server.
//
//	m := mux.New(stream, mux.Config[*Req, *Resp]{SetID: ..., ID: ..., Closed: err})
//	go m.Receive()                   // until the stream ends
//	resp, sent, err := m.Call(ctx, req)
package mux
