// Package resp is Cairn's RESP2 front door: Redis clients (redis-cli,
// go-redis, redis-benchmark) talk to any node, for any key, with Redis's
// command semantics made strongly consistent. Like every door it only
// translates: it parses (with its own reader), checks limits, builds
// kv commands under the connection's session, calls the api.Backend for the
// key's partition and renders Redis's exact replies.
//
//	srv := resp.New(resp.Config{Backend: node, Registry: reg, NodeName: "n1"})
//	go srv.Serve(ln)   // returns nil after Close
//	...
//	srv.Close()        // closes every connection, waits for every goroutine
//
// # Commands
//
// Connection and server: PING, ECHO, QUIT, HELLO [2 [AUTH u p] [SETNAME n]]
// as Redis 6+ answers it in RESP2 (any other version "-NOPROTO", so RESP3
// clients fall back to RESP2), AUTH (no password is configured: Redis's
// error; "AUTH default <anything>" is OK, as with Redis's nopass user),
// SELECT 0, COMMAND [COUNT|DOCS|INFO|LIST], CONFIG GET (databases, save,
// timeout, proto-max-bulk-len; SET/REWRITE answer an error), INFO [server|
// clients|replication|keyspace], CLIENT ID|GETNAME|SETNAME|SETINFO|INFO|LIST,
// DBSIZE, FLUSHALL, FLUSHDB.
//
// Keys: GET, SET [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL], SETNX, SETEX,
// PSETEX, GETSET, GETDEL, GETEX [EX|PX|EXAT|PXAT|PERSIST], DEL, UNLINK,
// EXISTS, MGET, MSET, MSETNX, INCR, INCRBY, DECR, DECRBY, APPEND, STRLEN,
// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT [NX|XX|GT|LT], TTL, PTTL, EXPIRETIME,
// PEXPIRETIME, PERSIST, TYPE, SCAN [MATCH] [COUNT] [TYPE], KEYS.
//
// What differs from Redis:
//
//   - Strong consistency: every write is replicated before its reply and
//     every read is linearizable (the node routes it to the leader).
//   - Only strings: no lists, sets, hashes, zsets, streams, no Lua, no
//     MULTI/EXEC/WATCH, no pub/sub, no RESP3, one database (0).
//   - Errors outside Redis's vocabulary follow DESIGN.md's table:
//     -TRYAGAIN (certainly not applied; go-redis retries it), -TIMEOUT
//     outcome unknown (go-redis does not retry it), -NOSPACE (writes refused
//     below the free-disk floor; reads still work), and -ERR naming the
//     limit for an oversized key or value ("-ERR key is 9000 bytes, over
//     --max-key-size 8192"). Empty keys are refused.
//   - Multi-key commands: MSET, MGET, DEL, UNLINK, EXISTS are atomic within
//     one partition (keep keys together with a {hash tag}) and applied per
//     partition across partitions; when a part fails the reply is an error
//     saying some keys may have been written. MSETNX must stay in one
//     partition, else -CROSSSLOT.
//   - EXPIRE with NX/XX/GT/LT and GETEX with an option are one replicated
//     command each: kv judges the condition against the key's deadline
//     when the command applies, by group time, never by this node's clock.
//   - Times are int64 nanoseconds: a TTL above ~292 years or a deadline
//     after 2262 is "invalid expire time". A key past its deadline exists
//     until the leader's expiry sweep deletes it (precision ~100ms); TTL
//     reports 0 for it.
//   - SCAN cursors are numbers naming an entry of a node-local table
//     (partition, key to resume from) that expires after 10 minutes: resume
//     a scan on the node that started it. Partitions are walked in order,
//     each page is linearizable, the whole scan is not a snapshot: a key
//     present for the whole scan is returned exactly once, as Redis
//     promises at least once. COUNT is the number of keys examined.
//   - INFO keyspace reports keys from the replicated counts and expires by
//     walking each partition's expiry index (avg_ttl is 0: not sampled);
//     INFO server's process_id is the node's.
//   - Exactly once holds per connection: the connection's client ID is a
//     session; a client that retries on a new connection after its own
//     timeout can apply a command twice, as with Redis.
//
// # Sessions
//
// A connection has one client ID (Backend.NewClientID) and one api.Session
// per partition it writes to. NB: one Session for all partitions would not
// do: kv judges a session it has never seen whose lowest unacknowledged
// sequence is above 1 as expired, which is what a connection's second
// partition would send.
//
// # Reading, and what a connection may hold
//
// Each connection has one goroutine: it reads every complete command that
// has arrived, runs them as one pipeline and writes the replies at once.
// The reader is ours (reader.go): every length a client declares is
// checked before anything is allocated or buffered for it, and the
// buffer grows only as bytes arrive. Over a limit the connection gets
// Redis's error and is closed; the node goes on:
//
//	bulk over proto-max-bulk-len (--max-value-size + 64 KiB)  -ERR Protocol error: invalid bulk length
//	array over 1,048,576 elements                            -ERR Protocol error: invalid multibulk length
//	inline or length line over 64 KiB without a newline      -ERR Protocol error: too big inline request
//	                                                          (too big mbulk|bulk count string)
//	over 64 MiB held for one connection (client-query-buffer-limit)
//	over --max-connections open                              -ERR max number of clients reached
//
// CONFIG GET reports the real figures (proto-max-bulk-len,
// client-query-buffer-limit, maxclients, timeout). A connection idle for
// --client-idle-timeout is closed (off by default, as Redis's timeout 0).
// A panic while serving a connection closes that connection only (see
// package guard).
//
// # Pipelining
//
// The commands read together run as a group:
//
//  1. plan every command in order: local commands (PING, CLIENT, ...) and
//     errors are answered at once; others become parts, one per partition
//     they touch (a write: kv requests; a read: keys to kv.Get or a
//     kv.Count; a read-modify-write loop).
//  2. queue the parts per partition in command order and run the
//     partitions concurrently. On one partition, consecutive writes share
//     one kv.Command (one log entry, one sequence number; kv evaluates its
//     requests in order, each with its own answer, so SET k 1; INCR k in
//     one command is SET then INCR), bounded by 256 requests and by the
//     size of the largest legal single command; FLUSH and MSETNX's
//     all-or-nothing command go alone. Consecutive reads share one
//     linearizable Backend.Read. A read runs only after the earlier writes
//     of the connection to its partition have been answered (so pipelined
//     SET k 1; GET k sees 1), and a write after the earlier reads.
//     Partitions are independent: commands to different partitions of one
//     pipeline are concurrent, and any order of them is linearizable.
//  3. SCAN and KEYS are barriers: they run after everything before them
//     and before anything after them.
//  4. render the replies in command order and write them at once.
//
// If a write's outcome is unknown (-TIMEOUT), the connection's later
// commands of that pipeline to the same partition are not sent (it could
// still apply, after them); they answer -TRYAGAIN. QUIT answers OK and
// drops the commands after it.
package resp
