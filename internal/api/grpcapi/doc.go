// Package grpcapi is the cairn.v1 gRPC front door (proto/cairn/v1/kv.proto
// and admin.proto) and a thin Go client of it. The door only translates: it checks limits,
// builds a kv command under a session, hands it to the api.Backend for the
// key's partition and renders the answer.
//
//	s := grpcapi.New(grpcapi.Config{Backend: b, Registry: reg})
//	s.Register(grpcServer) // KV and Cluster, next to the node's Peer service
//	grpcapi.NewAdmin(grpcapi.AdminConfig{Node: adminNode, Rebalancer: rebalancer}).Register(grpcServer)
//
//	c, _ := grpcapi.Dial("127.0.0.1:7379")
//	resp, err := c.Put(ctx, &cairnv1.PutRequest{Key: k, Value: v})
//	bc, _ := c.Batch(ctx) // one stream, many goroutines
//	resp, err = bc.Put(ctx, &cairnv1.PutRequest{Key: k, Value: v})
//	bc.Close()
//
// # Services
//
// KV has Get, Put, Delete, Incr and Scan as unary calls, and Batch, a
// bidirectional stream on which a client multiplexes many Get, Put, Delete
// and Incr requests (TiKV's BatchCommands shape). Each BatchRequest carries
// a caller-chosen request_id; the server works on up to
// Config.MaxBatchInFlight (256) requests of a stream at once, each in its own
// goroutine, and one sender goroutine writes the answers as they are ready,
// out of order, each with its request_id and either the response or an
// ErrorStatus (a google.rpc.Status: code, message, ErrorInfo). When the
// client closes its send side, the stream ends after every request received
// is answered. Cluster.GetCluster answers api.ClusterView (settings, nodes,
// the routing table per partition) and the readiness checks.
//
// Admin (cairn admin, cairn server --join) changes and shows the
// membership: Join, Drain, Remove, Status and UnsafeRecover are answered
// by the meta group's leader; any other node passes such a call on to the
// leader once (a header marks it passed on) and answers UNAVAILABLE, saying
// why, when it cannot. A drain or removal is refused, with nothing changed,
// when it would leave a group without enough live voters; it waits up to 5 s
// for a new meta leader to learn every group's descriptor first. Verify runs
// a consistency check of every partition (or of those asked) on its leader,
// eight at a time, following a leader that moves, and returns every
// verdict. ChangeReplicas, ForceRecover and CheckGroup are node-to-node:
// only calls carrying this cluster's ID are served. Ping answers the
// node's name and incarnation. The node behind the service is an AdminNode
// (internal/node); the meta leader's Rebalancer (internal/rebalance)
// answers Status and orchestrates UnsafeRecover.
//
// Scan walks the partitions in order and, within each, the keys in order;
// its cursor is an opaque base64url string of (partition, key to resume
// at). A page holds at most limit items (0: 100, capped at 10000) and about
// 3 MiB. Each partition's page is read at the requested consistency; the
// whole scan is not a snapshot: a key present for the whole scan is
// returned exactly once.
//
// # Sessions
//
// A write carries a Session (client_id, seq, low_unacked) for exactly-once
// application: a retry with the same (client_id, seq) answers the first
// attempt's result, byte for byte, and applies nothing. NB: the state machine
// keeps a session per partition, so a client keeps one sequence space per
// partition under one client ID; sharing one sequence across partitions makes
// a partition that first hears of the client with low_unacked > 1 answer
// SESSION_EXPIRED. A unary write without a session is applied without one
// (the node retries only what was certainly not applied, so a one-shot
// session would dedupe nothing and cost an hour of replicated state); on
// Batch it gets the stream's own session (one client ID, a sequence per
// partition). BatchClient keeps its own sessions on the client side with a
// random client ID, so its writes can be retried on another stream.
//
// # Errors
//
// Backend errors are classified by api.OutcomeOf into DESIGN.md's table;
// every error carries a google.rpc.ErrorInfo with domain "cairn" (see Info,
// NotApplied):
//
//	certainly not applied   UNAVAILABLE          NOT_APPLIED, metadata leader=<node> when known
//	outcome unknown         DEADLINE_EXCEEDED    INDETERMINATE, message "indeterminate: ..."
//	condition failed        FAILED_PRECONDITION  CONDITION_FAILED, metadata version=<current, 0: absent>
//	Incr on a non-integer   FAILED_PRECONDITION  NOT_INTEGER
//	Incr overflow           OUT_OF_RANGE         OVERFLOW
//	session gone            FAILED_PRECONDITION  SESSION_EXPIRED, SEQUENCE_BELOW_WINDOW
//	too large, malformed    INVALID_ARGUMENT     INVALID, metadata limit=--max-key-size|--max-value-size
//	disk nearly full        RESOURCE_EXHAUSTED   NOSPACE (writes only; reads still served)
//
// A bare UNAVAILABLE (a broken connection or stream) is outcome unknown.
// Every request's work is bounded by Config.RequestTimeout
// (--request-timeout, 2 s), below common client timeouts, so the server says
// "indeterminate" before the client gives up. Metrics:
// cairn_grpc_requests_total{method,code} and cairn_grpc_request_seconds{method};
// a Batch stream counts as method "Batch" when it ends and each of its
// requests as "Batch.Get", "Batch.Put", ...; no label ever holds a key.
package grpcapi
