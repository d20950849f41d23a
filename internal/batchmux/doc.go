// Package batchmux multiplexes calls from many goroutines over one
// cairn.v1 KV.Batch stream (TiKV's BatchCommands shape): each call gets a
// request ID, is sent at once, and returns when its answer arrives, in
// whatever order the node answers. It is a leaf (proto and gRPC only), so
// both the server-side test client (internal/api/grpcapi) and the public
// client use it without the public client pulling in the server.
package batchmux
