// Package balance holds the load-balancing policies the client uses to choose
// an entry node and, for follower and stale reads, a replica: random,
// round-robin, smooth weighted round-robin, least-outstanding requests, and
// power of two choices (p2c) on in-flight requests and a moving average of
// latency. Each is safe for concurrent use and allocation-free on the pick
// path once it has seen a candidate's name.
//
// A policy chooses among the candidates it is handed on each call; the caller
// reports how the request went, and the policies that learn from it do:
//
//	p, err := balance.New("p2c", balance.Options{})
//	...
//	pk, ok := p.Pick(nodes)            // nodes: the names of the candidates
//	if !ok { /* no candidate */ }
//	start := clk.Now()
//	err = send(pk.Name, req)           // pk.Name == nodes[pk.Index]
//	pk.Done(clk.Now().Sub(start), err) // exactly once per Pick
//
// Like the other pure packages (DESIGN.md "Layout and the direction of
// imports") it starts no goroutine, reads no clock and does no I/O: latency
// is measured by the caller and handed to Done, and randomness comes from a
// seed source the caller passes in Options, or from math/rand/v2's
// runtime-seeded generator when it passes none.
//
// # Candidates
//
// Candidates are identified by name (a node name or an address). The set may
// change from one call to the next — a node leaves, a partition's replicas
// differ from another's — and a policy keeps what it has learnt about a name
// (in-flight count, latency estimate, weights) across calls in which the name
// is absent, so a node that comes back is not treated as new. The first call
// that sees a name allocates its state; later calls do not allocate. Once a
// policy tracks 1024 names, a new one makes it forget those that are neither
// candidates of that call nor (for least-outstanding and p2c) have picks in
// flight, which bounds its memory when names churn; a caller that really
// uses more names than that in turn pays an allocation per new name.
//
// # Policies
//
//   - random: uniform over the candidates.
//   - round-robin: the next candidate in turn, from a random start so that
//     many clients do not all begin on the first node.
//   - weighted-round-robin: nginx's smooth weighted round-robin. Weights
//     5, 1, 1 give a a b a c a a, repeating. An error drops the candidate's
//     effective weight to zero, from which it climbs back by one per pick,
//     as nginx does with its default max_fails=1.
//   - least-outstanding: the candidate with the fewest picks not yet Done;
//     ties go to the tied candidates in turn.
//   - p2c: two distinct candidates at random, and of those the one with the
//     lower cost (in-flight+1) × latency estimate, as in Finagle's and
//     Linkerd's peak-EWMA balancers. The estimate is an exponentially
//     weighted moving average of the latencies handed to Done, where an
//     error counts as Options.ErrorPenalty so that a node which fails fast
//     does not look fast. Without a clock, the estimate ages in samples: it
//     decays toward zero by half for every Options.HalfLife Done calls the
//     policy sees for other candidates, so a node it has shunned is probed
//     again after a while and can win its traffic back. A node never
//     measured costs nothing while idle (it is probed at once) and a large
//     penalty while its first request is out (it is not flooded before it
//     has answered).
//
// The policies only balance; they do not decide that a node is down. A
// caller that knows (from membership, or a failed connection) leaves the node
// out of the candidates.
package balance
