// Package api is the contract between Cairn's front doors (gRPC in
// grpcapi, HTTP in httpapi, RESP in resp) and the node behind them. A door
// only translates: it parses, checks limits, builds a kv command under a
// session, hands it to the Backend for the key's partition and renders the
// answer. Nothing about replication leaks into a door.
//
//	p := b.Partition(key)
//	seq, low := sess[p].Begin() // a session per partition: each group keeps its own window
//
//	rep, err := b.Propose(ctx, p, kv.NewCommand(kv.Put(key, val)).WithSession(sess.Client, seq, low))
//	sess.End(seq)
//	switch api.OutcomeOf(err) { ... } // DESIGN.md's error table
//
// Reads: b.Read(ctx, p, mode, func(v storage.View, group uint64) error {
// item, ok, err := kv.Get(v, group, key) ... }).
package api
