// Package bench is the load generator behind `cairn bench`: Config.Clients
// clients, each issuing one request at a time (a read with probability
// ReadRatio, else a write of ValueSize bytes) on a key drawn uniformly from
// Keys keys of exactly KeySize bytes, through the Go client (package
// client, over gRPC) or the RESP front door. Latencies go into HDR
// histograms (1 µs .. 60 s, 3 significant digits), one per client and side,
// merged for the summary; a third per client, the window, holds the
// requests completed since the last progress line, whose p99 that line
// shows before it empties the window.
//
// Without a Rate the clients are a closed loop: each sends its next
// request when the last one answers. With Rate r they share one schedule:
//
//	k := issued.Add(1) - 1              // the next request number
//	intended := start + k/r             // when it is due
//	sleep until intended                // unless ctx ends or the run's end passes
//	send; latency = answered - intended // not answered - sent
//
// Latency counts from the intended start (coordinated-omission correction,
// as wrk2 does): a client held up by a slow answer sends late, and the
// delay it caused is charged to the delayed requests instead of vanishing
// from the figures. Clients that cannot keep up show as Result.IssueRate
// below the rate, and WriteRateWarning says so.
//
//	cfg := bench.DefaultConfig()
//	cfg.Endpoints = []string{"127.0.0.1:7379"}
//	cfg.Progress, cfg.Terminal = os.Stderr, true
//	res, err := bench.Run(ctx, cfg) // preload (not counted), then the timed run
//	res.WriteJSON(os.Stdout)        // DESIGN.md's shape; or WriteTable
//	res.WriteErrors(os.Stderr)      // the first few distinct error messages
//	res.WriteRateWarning(os.Stderr) // with a Rate the clients fell behind
//
// Choices worth knowing:
//
//   - ops counts successful requests; a failed one counts in errors only and
//     is never in the latencies. With --requests N, ops+errors == N.
//   - A request in flight when the run is cancelled (Ctrl-C) is neither an
//     op nor an error: the run ends, and the summary covers what completed.
//     At the end of --duration no request is cut short: clients stop issuing
//     (with a Rate, requests due after the end are never sent) and the ones
//     in flight finish and count.
//   - gRPC goes through the Go client: Endpoints are where it fetches the
//     routing table, and then every write and linearizable read goes
//     straight to its key's leader, so no node forwards (with a fresh
//     table); follower and stale reads, and requests whose leader is
//     unknown, go where the Balance policy chooses. Writes carry the
//     client's sessions, and the client retries what is safe to retry (a
//     retried request counts once, its latency including the retries).
//     Batch (the default): all clients share one Go client, which
//     multiplexes their requests TiKV-style on --streams Batch streams per
//     node, each on its own connection. --batch=false: every client has its
//     own Go client making unary calls, as separate processes would. A Go
//     client that cannot reach the cluster at the start is made again by
//     the next request, which counts an error if it fails.
//   - RESP: every client is one go-redis connection (PoolSize 1), with
//     retries off (MaxRetries -1) so that errors are counted, not hidden,
//     and RESP2 without HELLO or CLIENT SETINFO (the door speaks RESP2).
//     The RESP door only serves linearizable reads, so --read-mode must be
//     linearizable with --protocol resp.
//   - Progress lines: on a terminal one line redrawn in place; else one
//     line per ProgressInterval stamped with the time of day, so a log of
//     them is a time series of ops/s and the interval's p99.
//   - Keys are the key's index in decimal, zero-padded to KeySize bytes
//     ("00012345"), so redis-cli can read them back.
package bench
