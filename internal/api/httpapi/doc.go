// Package httpapi is Cairn's HTTP front door: keys as resources for curl
// and browsers, a paged listing, the cluster view, Prometheus metrics and
// the Kubernetes probes. Like every door it only translates (DESIGN.md,
// Front doors): it parses, checks limits, builds one kv command, hands it
// to the api.Backend for the key's partition and renders the answer.
//
//	srv, err := httpapi.New(httpapi.Config{Backend: node, Registry: reg, Gatherer: reg,
//		RequestTimeout: 2 * time.Second, Draining: node.Draining})
//	http.Serve(ln, srv)
//
// # Routes
//
//	GET    /v1/kv/{key}  ?consistency=linearizable|follower|stale
//	       200 raw value (application/octet-stream), X-Cairn-Version, and
//	       X-Cairn-TTL-Ms when the key has a deadline; 404 when absent.
//	PUT    /v1/kv/{key}  body = raw value; ?ttl=10s ?if_version=N (0: must be
//	       absent) ?if_absent=true ?if_value=V (compare-and-swap)
//	       201 {"version":N} created, 200 {"version":N} replaced,
//	       409 {"error","code":"condition_failed","version":current (0: absent)}.
//	DELETE /v1/kv/{key}  ?if_version=N   204; 404 absent; 409 as PUT.
//	POST   /v1/kv/{key}?op=incr&by=N    200 {"value":N,"version":V}: Redis
//	       INCRBY (by defaults to 1, may be negative; an absent key counts as
//	       0; the deadline is kept); 400 "not_integer"/"overflow" with
//	       Redis's error text.
//	GET    /v1/kv        ?prefix=P | ?start=A&end=B, ?limit=N (default 100,
//	       1..1000), ?cursor=C, ?consistency=
//	       200 {"items":[{"key","value","version"}],"next":C}
//	GET    /v1/cluster   200 api.ClusterView in DESIGN.md's shape (lists never null, time UTC);
//	       ?pretty indents it for a person
//	GET    /version      200 internal/buildinfo.Info: version, revision, go_version, platform
//	GET    /livez        200 "ok" while the process serves (alias /healthz)
//	GET    /readyz       200 "ok" | 503 failed checks; ?verbose: every check as
//	       "[+]storage ok" / "[-]caught-up failed: reason", then "readyz check
//	       passed|failed"; ?exclude=name skips a check. A "shutdown" check
//	       fails while Config.Draining returns true.
//	GET    /metrics      Prometheus exposition of Config.Gatherer
//
// Any other path answers 404, a known path with another method 405 with
// Allow; both as JSON errors. GET routes answer HEAD too.
//
// Keys: the key is the whole path after /v1/kv/, percent-decoded, taken
// verbatim (the path is not cleaned, so "a//b" and "x/../y" are keys like
// any other; send '?', '#' and '%' percent-encoded, and any byte as %XX).
// An empty key is 400; one over --max-key-size is 413.
//
// Query parameters: a route rejects a parameter it does not know, and one
// given twice, with 400 naming it, so a typo such as if_verison never turns
// a conditional write into an unconditional one. /readyz ignores unknown
// parameters, as probes expect.
//
// Listings: keys and values are JSON strings when valid UTF-8, otherwise
// standard base64 with "key_encoding":"base64" / "encoding":"base64" on the
// item. A listing walks the partitions in order, each page of each
// partition a read in the asked consistency (linearizable by default); the
// whole listing is not a snapshot (a key present throughout is listed
// exactly once). next is an opaque base64url cursor of (partition, key to
// resume at), api.Cursor as every door's scan uses it; pass it back
// unchanged with the same prefix or range; "" when the listing is done. A
// page holds at most limit items and may hold fewer only when it is the
// last.
//
// # Status codes
//
// Every error body is {"error":"<message naming the parameter or limit>","code":"<code>"}.
//
//	200/201/204   done
//	400 invalid_argument  bad parameter, empty key, malformed request
//	400 not_integer, overflow  INCR on a non-integer / past int64
//	404 not_found  absent key (GET, DELETE) or unknown route
//	405 method_not_allowed  with Allow
//	409 condition_failed  if_version / if_absent / if_value did not hold
//	413 too_large  key over --max-key-size, value over --max-value-size
//	503 not_applied + Retry-After: 1  certainly not applied; retry is safe
//	504 indeterminate  outcome unknown by --request-timeout; read before retrying
//	507 no_space  the node is below --min-free-disk: writes refused, reads served
//
// The mapping is api.OutcomeOf's, DESIGN.md's error table.
//
// # Exactly once
//
// Each HTTP request is one kv command without a session: the node retries
// a command only when it was certainly not applied, so a one-shot session
// would dedupe nothing and cost an hour of replicated state per write. A
// client's own retry is a new request: a PUT retried after a 504 or a lost connection can apply twice,
// as with any HTTP PUT without idempotency keys (POST ?op=incr then counts
// twice). Use if_version to make a retry safe. The gRPC door and the Go
// client keep sessions across requests; RESP keeps one per connection.
//
// # Metrics
//
// cairn_http_requests_total{route,method,code} and
// cairn_http_request_seconds{route,method}; route is the mux pattern
// ("/v1/kv/{key...}", or "unmatched"), never a key.
package httpapi
