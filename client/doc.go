// Package client is the Go client of Cairn: it keeps the cluster's routing
// table, sends each request straight to the node that leads its key's
// partition over a multiplexed Batch stream, and retries what is safe to
// retry, with every write under a session so that it applies at most once.
//
//	c, err := client.New([]string{"10.0.0.1:7379", "10.0.0.2:7379"}, client.Options{})
//	if err != nil { ... }                    // no endpoint answered
//	defer c.Close()
//	_, err = c.Put(ctx, []byte("color"), []byte("blue"), client.WithTTL(time.Hour))
//	item, found, err := c.Get(ctx, []byte("color"))                        // at the leader
//	item, found, err = c.Get(ctx, []byte("color"), client.WithReadMode(client.Follower))
//	n, err := c.Incr(ctx, []byte("visits"), 1)
//	switch {
//	case errors.Is(err, client.ErrIndeterminate): // may or may not have applied: read to find out
//	case errors.Is(err, client.ErrNotApplied):    // certainly not applied: safe to try again later
//	}
//
// # Routing
//
// New fetches the routing table (the Cluster service's GetCluster: the
// cluster's settings, its nodes with their gRPC addresses, and per
// partition its membership version, term, leader and replicas) from the
// first endpoint that answers. The client maps a key to its partition
// exactly as the server does (xxhash64 of the key, or of its {hash tag},
// mod P) and keeps, per partition, the entry with the highest (membership
// version, term) it has heard from any node: there is no global epoch. It
// fetches again every Options.RefreshInterval (5s), from a different node
// each time, and sooner when an answer says its table is stale: a node
// unreachable, a "not applied" answer, a broken stream. Refresh fetches at
// once.
//
// Writes and Linearizable reads go to the partition's leader, so with a
// fresh table no node forwards anything (cairn_forwarded_requests_total
// stays still; Stats().Indirect counts the exceptions). When the leader is
// unknown or unreachable the request goes to an entry node that the
// balancing policy (Options.Balance, internal/balance: random, round-robin,
// weighted-round-robin, least-outstanding, p2c) chooses among the nodes; the
// node forwards a write to the leader. Follower reads (ReadIndex at a
// follower: still linearizable) and Stale reads go to a replica of the
// partition the policy chooses, which spreads reads over the replicas. A
// node that cannot be reached is left out of the choices for a second.
//
// Each node gets Options.StreamsPerNode connections (2), each with one Batch
// stream that every request sharing it multiplexes (TiKV's BatchCommands
// shape), opened on first use and again after it breaks; Close ends them.
// Options.Unary sends unary calls instead, for comparison.
//
// # Sessions and retries
//
// Every write carries a session (DESIGN.md, The flow of a write): a random
// non-zero client ID made by New and, per partition (the state machine
// keeps sessions per partition), a sequence number and the lowest sequence
// number not yet answered. Every attempt of one write sends the same
// (client ID, seq), on whichever node and connection, so the partition
// applies it at most once and answers a retry of an applied one with the
// result it stored; the lowest unanswered number moves past a write once it
// is answered or abandoned, which lets the partition forget its result. A
// partition that has forgotten the client (idle past its session TTL, 1h)
// says so before applying anything, and the client starts a new session
// for it under a new client ID.
//
// A request is retried, up to Options.MaxAttempts (10) attempts and within
// its context's deadline (Options.RequestTimeout, 5s, when it has none),
// with a short randomised backoff, when the answer allows it:
//
//	answer                                  read        write
//	certainly not applied (NOT_APPLIED)     retry       retry; at the leader it names at once
//	node unreachable, nothing sent          retry       retry, after a refresh
//	outcome unknown (broken stream,         retry       retry under the same session: it
//	  the server's --request-timeout)                   applies at most once
//	anything else                           return it   return it
//
// When retries stop, a write any attempt of which may have applied fails
// with an *IndeterminateError (errors.Is ErrIndeterminate): it applied once
// or not at all. Otherwise the request fails with a *NotAppliedError
// (errors.Is ErrNotApplied, and context.DeadlineExceeded when the deadline
// ended it): it had no effect. A definite answer maps to its own error:
// ErrConditionFailed (a *ConditionError with the key's current version),
// ErrNotInteger, ErrOverflow, ErrInvalid, ErrNoSpace.
//
// Stats counts requests, retries, routing fetches, redirects and indirect
// attempts.
package client
