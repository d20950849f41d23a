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
// Reads send a kv.Query and get its kv.Reply back, wherever the replica is:
//
//	rep, err := b.Read(ctx, p, replica.Linearizable, kv.GetQuery(key))
//	// rep.Responses[0]: CodeOK with Value, Version, Deadline, or CodeNotFound
//
// and a scan, whichever door asks, is ScanPage from a Cursor:
//
//	page, err := api.ScanPage(ctx, b, api.Scan{Start: a, End: z, Limit: 100}, cur)
//	// page.Items; page.Done, or page.Next.String() to hand the client
package api
