// Package forward sends writes and reads to the node that can serve them,
// over one multiplexed Forward.Batch stream per peer node, and serves the
// peers' on this node.
//
// A write (an encoded kv command, session included) goes to the node of the
// group's leader; a read (an encoded kv.Query) goes to a node that holds a
// replica, which evaluates it there and sends the kv.Reply back — the
// gateway never holds a view of another node's storage. One hop: the
// receiver proposes or reads locally, or answers NOT_APPLIED (with its
// leader hint for a write); it never forwards again.
//
//	c := forward.NewClient(forward.ClientConfig{ClusterID: id, Resolve: routes.Resolve, Links: tr})
//	r := forward.NewRouter(forward.RouterConfig{Node: name, Groups: host, Routes: routes, Client: c, Clock: clk})
//	rep, err := r.Propose(ctx, gid, cmd) // here if this node leads, else forwarded; retried while not applied
//	rep, err = r.Read(ctx, gid, mode, q) // the local replica, else a node that holds one
//	cairnv1.RegisterForwardServer(srv, forward.NewServer(forward.ServerConfig{Local: r, ...}))
//
// Outcomes follow DESIGN.md's table: anything that fails before a command
// left is ErrNotApplied (safe to retry); a stream that breaks with it in
// flight, or a deadline, is ErrIndeterminate. A read changes nothing, so
// every failed read is ErrNotApplied and is tried on the next replica.
//
// The streams are mux.Mux, the one multiplexer of the code base (the
// client's KV.Batch stream uses it too). Real time reaches the package
// only through a clock.Clock.
package forward
