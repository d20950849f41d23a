package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cairnkv/cairn/internal/balance"
	"github.com/cairnkv/cairn/internal/clock"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// Options configures a Client. A zero field takes the default its comment
// names.
type Options struct {
	// Balance names the policy that chooses the entry node when a
	// partition's leader is unknown, and the replica for Follower and Stale
	// reads: one of BalancePolicies(). Default "round-robin": even, and
	// free of shared state between requests.
	Balance string
	// StreamsPerNode is the number of connections per node, each with one
	// Batch stream that many requests share, opened on first use. Default
	// 2: a stream's messages are handled in order on one HTTP/2
	// connection, and two keep both cores of a small node busy while
	// requests still batch.
	StreamsPerNode int
	// Unary sends every request as a unary call instead of on a Batch
	// stream (for comparison: the stream is faster). Default false.
	Unary bool
	// RefreshInterval is how often the routing table is fetched again.
	// Default 5s: leaders rarely move, and a request that meets a moved
	// leader refreshes at once anyway (the old leader's node forwards it
	// meanwhile, so nothing fails).
	RefreshInterval time.Duration
	// DialTimeout bounds New's first fetch of the routing table and every
	// later one. Default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds a request whose context has no deadline.
	// Default 5s: above the server's --request-timeout (2s), so that it is
	// the server that says "indeterminate", and there is time for a retry.
	RequestTimeout time.Duration
	// MaxAttempts bounds the attempts of one request (the first try and the
	// retries); the request's deadline bounds them too. Default 10: enough
	// to ride out a leader election with backoff.
	MaxAttempts int
	// DialOptions are added to every connection's options, after the
	// defaults (TLS per the TLS field, a 16 MiB receive limit).
	DialOptions []grpc.DialOption
	// TLS, when set, makes every connection TLS with this configuration
	// (a cluster started with --cert-file): RootCAs for the CA that signed
	// the nodes' certificates (cairn cert's ca.crt), Certificates for a
	// client certificate where the cluster asks for one. Each node is
	// verified against the address the routing table names for it. Nil:
	// plaintext.
	TLS *tls.Config
	// User and Password log in on a cluster with users (one created with
	// --initial-admin-password-file): sent with every call (BasicAuth).
	// Empty User: no login.
	User, Password string
}

// Defaults of Options.
const (
	DefaultBalance         = balance.NameRoundRobin
	DefaultStreamsPerNode  = 2
	DefaultRefreshInterval = 5 * time.Second
	DefaultDialTimeout     = 5 * time.Second
	DefaultRequestTimeout  = 5 * time.Second
	DefaultMaxAttempts     = 10
)

// maxRecvMsgSize is above the server's largest message (8 MiB), so that a
// large answer never breaks a stream that other requests share.
const maxRecvMsgSize = 16 << 20

// BalancePolicies lists the names Options.Balance accepts.
func BalancePolicies() []string { return balance.Names() }

func (o *Options) setDefaults() {
	if o.Balance == "" {
		o.Balance = DefaultBalance
	}
	if o.StreamsPerNode == 0 {
		o.StreamsPerNode = DefaultStreamsPerNode
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
}

func (o *Options) validate() error {
	switch {
	case o.StreamsPerNode < 0:
		return fmt.Errorf("client: Options.StreamsPerNode %d: want 1 or more", o.StreamsPerNode)
	case o.RefreshInterval < 0:
		return fmt.Errorf("client: Options.RefreshInterval %v: want > 0", o.RefreshInterval)
	case o.DialTimeout < 0:
		return fmt.Errorf("client: Options.DialTimeout %v: want > 0", o.DialTimeout)
	case o.RequestTimeout < 0:
		return fmt.Errorf("client: Options.RequestTimeout %v: want > 0", o.RequestTimeout)
	case o.MaxAttempts < 0:
		return fmt.Errorf("client: Options.MaxAttempts %d: want 1 or more", o.MaxAttempts)
	}
	return nil
}

// Client is a connection to a Cairn cluster. It is safe for concurrent
// use, and meant to be shared: one per process is usual.
type Client struct {
	opts      Options
	endpoints []string
	dialOpts  []grpc.DialOption
	policy    balance.Policy
	sessions  []*session // by partition; fixed once New has the table

	ctx    context.Context // ended by Close: every stream and fetch ends with it
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the client starts

	// tbl is the routing table; tblMu serialises its copy-on-write
	// updates. Requests read it without a lock.
	tbl     atomic.Pointer[table]
	tblMu   sync.Mutex
	fetches atomic.Uint64 // routing tables fetched; a request compares it to skip a refresh someone else just made
	kick    chan struct{} // cap 1: ask the refresher for a fetch soon

	stats struct{ requests, retries, refreshes, redirects, indirect atomic.Uint64 }

	// conns holds a *nodeConn per gRPC address, made on first use under mu;
	// requests look them up without a lock.
	conns    sync.Map
	isClosed atomic.Bool // set under mu, with mu.closed

	mu struct {
		sync.Mutex
		closed     bool
		refreshing *refreshCall // the fetch in progress, nil when none
	}
}

// refreshCall is a fetch of the routing table that many requests may wait
// for; done is closed once err is set.
type refreshCall struct {
	done chan struct{}
	err  error
}

// New connects to the cluster that endpoints (gRPC addresses of some of its
// nodes, host:port) belong to: it fetches the routing table from the first
// endpoint that answers, within opts.DialTimeout, and fails if none does.
// Later requests go straight to the nodes the table names.
func New(endpoints []string, opts Options) (*Client, error) {
	return NewContext(context.Background(), endpoints, opts)
}

// NewContext is New, giving up on the first fetch when ctx ends.
func NewContext(ctx context.Context, endpoints []string, opts Options) (*Client, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	var eps []string
	for _, e := range endpoints {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("client: no endpoints: give the gRPC address of at least one node")
	}
	policy, err := balance.New(opts.Balance, balance.Options{})
	if err != nil {
		return nil, fmt.Errorf("client: Options.Balance: %w", err)
	}
	c := &Client{opts: opts, endpoints: eps, policy: policy, kick: make(chan struct{}, 1)}
	creds := insecure.NewCredentials()
	if opts.TLS != nil {
		creds = credentials.NewTLS(opts.TLS)
	}
	c.dialOpts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
	}, opts.DialOptions...)
	if opts.User != "" {
		c.dialOpts = append(c.dialOpts, grpc.WithPerRPCCredentials(BasicAuth(opts.User, opts.Password)))
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())

	fctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	err = c.fetch(fctx)
	cancel()
	if err != nil {
		c.Close()
		return nil, err
	}
	id := newClientID()
	c.sessions = make([]*session, c.tbl.Load().parts)
	for p := range c.sessions {
		c.sessions[p] = newSession(id)
	}
	c.goTracked(c.refresher)
	return c, nil
}

// Close ends every stream and connection and stops the refresher. Requests
// still in flight fail: with ErrClosed, or an *IndeterminateError for a
// write that was sent. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	c.isClosed.Store(true)
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	// NB: no conn is made once closed is set (conn checks it under mu).
	c.conns.Range(func(_, v any) bool {
		v.(*nodeConn).close()
		return true
	})
	return nil
}

func (c *Client) closed() bool { return c.isClosed.Load() }

// goTracked runs f on a goroutine that Close waits for, unless the client
// is closed.
func (c *Client) goTracked(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// Stats are counters since New, for tests and dashboards.
type Stats struct {
	// Requests counts the calls made: Get, Put, Delete, Incr, and each
	// page of a Scan.
	Requests uint64
	// Retries counts the attempts after a request's first.
	Retries uint64
	// Refreshes counts the routing tables fetched, New's included.
	Refreshes uint64
	// Redirects counts the times a node answered "not applied" naming
	// the leader and the client followed it.
	Redirects uint64
	// Indirect counts the attempts of writes and linearizable reads sent
	// to an entry node because the partition's leader was unknown or
	// unreachable: the node forwards a write to the leader (the server
	// counts it in cairn_forwarded_requests_total). With a fresh table and
	// stable leaders it stays still.
	Indirect uint64
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:  c.stats.requests.Load(),
		Retries:   c.stats.retries.Load(),
		Refreshes: c.stats.refreshes.Load(),
		Redirects: c.stats.redirects.Load(),
		Indirect:  c.stats.indirect.Load(),
	}
}

// Refresh fetches the routing table now, from the first node that
// answers, and merges it into the client's (the client also does so every
// Options.RefreshInterval, and when an answer says its table is stale).
func (c *Client) Refresh(ctx context.Context) error {
	return c.refresh(ctx, c.fetches.Load())
}

// refresh makes sure a fetch has completed since the caller read fetches
// as seen: it returns at once if one has, joins the fetch in progress if
// there is one, and starts one otherwise.
func (c *Client) refresh(ctx context.Context, seen uint64) error {
	if c.fetches.Load() != seen {
		return nil
	}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	rc := c.mu.refreshing
	if rc == nil {
		rc = &refreshCall{done: make(chan struct{})}
		c.mu.refreshing = rc
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			// NB: not under ctx: others may be waiting for this fetch.
			fctx, cancel := context.WithTimeout(c.ctx, c.opts.DialTimeout)
			rc.err = c.fetch(fctx)
			cancel()
			c.mu.Lock()
			c.mu.refreshing = nil
			c.mu.Unlock()
			close(rc.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-rc.done:
		return rc.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kickRefresh asks the refresher for a fetch soon, without waiting.
func (c *Client) kickRefresh() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// minKickGap spaces the fetches that answers ask for, so that a burst of
// failing requests costs the cluster a few fetches, not one each.
const minKickGap = 100 * time.Millisecond

// refresher fetches the table every RefreshInterval, and soon after a kick.
func (c *Client) refresher() {
	t := time.NewTicker(c.opts.RefreshInterval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
			if wait := minKickGap - time.Since(last); wait > 0 {
				select {
				case <-c.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		_ = c.refresh(c.ctx, c.fetches.Load())
		last = time.Now()
	}
}

// fetch asks the nodes for the routing table, one at a time, until one
// answers: the known nodes first (from a rotating start, so that
// successive fetches hear different nodes), then the endpoints given to
// New, and those recently unreachable last.
func (c *Client) fetch(ctx context.Context) error {
	var addrs, later []string
	seen := map[string]bool{}
	add := func(a string) {
		if a == "" || seen[a] {
			return
		}
		seen[a] = true
		if c.isDown(a) {
			later = append(later, a)
		} else {
			addrs = append(addrs, a)
		}
	}
	if t := c.tbl.Load(); t != nil && len(t.names) > 0 {
		start := int(c.fetches.Load() % uint64(len(t.names)))
		for i := range t.names {
			add(t.addr(t.names[(start+i)%len(t.names)]))
		}
	}
	for _, e := range c.endpoints {
		add(e)
	}
	addrs = append(addrs, later...)
	// Each node gets a share of the time, so that one that does not
	// answer (rather than refusing) leaves time to ask the others.
	per := time.Second
	if dl, ok := ctx.Deadline(); ok {
		per = max(time.Until(dl)/time.Duration(len(addrs)), time.Second)
	}
	var errs []error
	for _, a := range addrs {
		if ctx.Err() != nil {
			break
		}
		nc, err := c.conn(a)
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, per)
		info, err := nc.getCluster(actx)
		cancel()
		if err != nil {
			if nc.failing() {
				nc.markDown()
			}
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		nc.markUp()
		c.tblMu.Lock()
		nt, err := c.tbl.Load().merge(info, a)
		if err == nil {
			c.tbl.Store(nt)
		}
		c.tblMu.Unlock()
		if errors.Is(err, errForeignCluster) {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			return err
		}
		c.fetches.Add(1)
		c.stats.refreshes.Add(1)
		return nil
	}
	if len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	return fmt.Errorf("client: no node answered for the routing table: %w", errors.Join(errs...))
}

// conn returns the connection pool of the node at addr, made on first use.
func (c *Client) conn(addr string) (*nodeConn, error) {
	if v, ok := c.conns.Load(addr); ok && !c.closed() {
		return v.(*nodeConn), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, ErrClosed
	}
	if v, ok := c.conns.Load(addr); ok {
		return v.(*nodeConn), nil
	}
	nc, err := newNodeConn(c, addr)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", addr, err)
	}
	c.conns.Store(addr, nc)
	return nc, nil
}

// isDown reports whether the node at addr was unreachable just now.
func (c *Client) isDown(addr string) bool {
	v, ok := c.conns.Load(addr)
	return ok && v.(*nodeConn).down()
}

// setLeader records a leader that a not-applied answer named.
func (c *Client) setLeader(p int, node string) {
	c.tblMu.Lock()
	c.tbl.Store(c.tbl.Load().withLeader(p, node))
	c.tblMu.Unlock()
}

// partition is key's partition.
func (c *Client) partition(key []byte) int { return partitionOf(key, len(c.sessions)) }

// request is one call in the making, for do.
type request struct {
	p     int  // the key's partition; -1: any (a Scan page)
	write bool // a write, under a session
	mode  ReadMode
	// send makes one attempt on the node, under sess for a write (nil for
	// a read): sent reports whether the request may have reached the node.
	send func(ctx context.Context, nc *nodeConn, sess *pb.Session) (sent bool, err error)
}

// target is where an attempt goes.
type target struct {
	name string // node name, or the address for an endpoint not in the table
	nc   *nodeConn
}

// do runs a request: it chooses a node, sends, and retries what is safe to
// retry until an answer is definite, the attempts run out or ctx ends.
//
// A write keeps one (client ID, seq) from its session across every
// attempt, so the partition applies it at most once whatever happened to
// the earlier attempts, and answers a retry of an applied one with the
// result it stored. What the caller is told when retries stop: an
// *IndeterminateError if any attempt of the write may have applied, else a
// *NotAppliedError.
func (c *Client) do(ctx context.Context, r *request) error {
	if c.closed() {
		return ErrClosed
	}
	c.stats.requests.Add(1)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.RequestTimeout)
		defer cancel()
	}
	var (
		s  *session
		tk ticket
	)
	if r.write {
		s = c.sessions[r.p]
		tk = s.begin()
		defer func() { s.end(tk) }()
	}
	var (
		last         error
		leader       string // the last leader a node named
		override     string // where the next attempt goes, as a node said
		maybeApplied bool   // an attempt of this write may have applied
	)
	giveUp := func(attempts int, cause error) error {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(cause, cerr) {
			if cause == nil {
				cause = cerr
			} else {
				cause = fmt.Errorf("%w (last attempt: %w)", cerr, cause)
			}
		}
		if r.write && maybeApplied {
			return &IndeterminateError{Attempts: attempts, Err: cause}
		}
		return &NotAppliedError{Leader: leader, Attempts: attempts, Err: cause}
	}
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			c.stats.retries.Add(1)
		}
		var sess *pb.Session
		if r.write {
			sess = &pb.Session{ClientId: tk.client, Seq: tk.seq, LowUnacked: s.lowUnacked(tk)}
		}
		fetched := c.fetches.Load()
		tgt, pick, err := c.target(r, override)
		override = ""
		if err != nil {
			return giveUp(attempt, err)
		}
		start := time.Now()
		var served string
		sent, err := r.send(context.WithValue(ctx, servedKey{}, &served), tgt.nc, sess)
		a := classify(ctx, err, sent)
		var nodeErr error // what the balancer hears: failures of the node only
		switch a.v {
		case vNotApplied, vUnreachable, vIndeterminate:
			nodeErr = err
		}
		pick.Done(time.Since(start), nodeErr)
		if a.v == vDone {
			tgt.nc.markUp()
			if r.write && served != "" && served != tgt.name {
				// The node forwarded it: the leader moved since the table
				// was fetched. Go straight there next time.
				c.stats.redirects.Add(1)
				c.setLeader(r.p, served)
			}
			return nil
		}
		last = err
		wait := true
		switch a.v {
		case vFinal:
			if r.write && (a.mayApply && sent || a.weak && maybeApplied) {
				maybeApplied = true
				return giveUp(attempt, a.err)
			}
			return a.err
		case vCtx:
			maybeApplied = maybeApplied || r.write && sent
			if !sent {
				c.kickRefresh() // the node may be gone without a word
			}
			return giveUp(attempt, err)
		case vNotApplied:
			if a.leader != "" {
				leader = a.leader
			}
			if a.leader != "" && a.leader != tgt.name {
				// Follow the hint at once; the next fetch confirms it.
				if r.p >= 0 && (r.write || r.mode == Linearizable) {
					c.setLeader(r.p, a.leader)
				}
				override = a.leader
				c.stats.redirects.Add(1)
				c.kickRefresh()
				wait = false
			} else if rerr := c.refresh(ctx, fetched); rerr != nil && ctx.Err() != nil {
				return giveUp(attempt, err)
			}
		case vUnreachable:
			if tgt.nc.failing() { // not just a stream that ended under us
				tgt.nc.markDown()
			}
			if rerr := c.refresh(ctx, fetched); rerr != nil && ctx.Err() != nil {
				return giveUp(attempt, err)
			}
		case vIndeterminate:
			maybeApplied = maybeApplied || r.write
			if tgt.nc.failing() {
				tgt.nc.markDown()
			}
			c.kickRefresh()
		case vSessionExpired:
			if maybeApplied {
				return giveUp(attempt, err) // the earlier attempt's result went with the session
			}
			tk = s.renew(tk, newClientID())
			wait = false
		case vBelowWindow:
			return giveUp(attempt, err)
		}
		if attempt >= c.opts.MaxAttempts {
			return giveUp(attempt, last)
		}
		if wait && clock.Sleep(ctx, backoff(attempt)) != nil {
			return giveUp(attempt, last)
		}
	}
}

// backoff is the pause after the given attempt: 5ms doubling to 250ms,
// from half to all of it at random so that clients that failed together
// do not retry together.
func backoff(attempt int) time.Duration {
	d := min(5*time.Millisecond<<min(attempt-1, 10), 250*time.Millisecond)
	return d/2 + rand.N(d/2+1)
}

// target chooses the node for an attempt: the node a not-applied answer
// named; else for a write or a linearizable read the partition's leader
// when known and reachable; else for a follower or stale read one of the
// partition's replicas by the balancing policy; else an entry node by the
// policy. The Pick is finished by the caller (the zero Pick when the policy
// did not choose).
func (c *Client) target(r *request, override string) (target, balance.Pick, error) {
	t := c.tbl.Load()
	if override != "" {
		if a := t.addr(override); a != "" {
			nc, err := c.conn(a)
			return target{override, nc}, balance.Pick{}, err
		}
	}
	if r.p >= 0 {
		rt := &t.routes[r.p]
		if r.write || r.mode == Linearizable {
			if a := t.addr(rt.leader); rt.leader != "" && a != "" && !c.isDown(a) {
				nc, err := c.conn(a)
				return target{rt.leader, nc}, balance.Pick{}, err
			}
			c.stats.indirect.Add(1)
			c.kickRefresh()
		} else {
			names := rt.replicas
			if r.mode == Follower && len(rt.voters) > 0 {
				names = rt.voters
			}
			if tgt, pk, ok, err := c.pick(t, names); ok || err != nil {
				return tgt, pk, err
			}
		}
	}
	if tgt, pk, ok, err := c.pick(t, t.names); ok || err != nil {
		return tgt, pk, err
	}
	// No node in the table has an address: the endpoints themselves.
	pk, _ := c.policy.Pick(c.endpoints)
	nc, err := c.conn(pk.Name)
	if err != nil {
		pk.Done(0, nil)
		return target{}, balance.Pick{}, err
	}
	return target{pk.Name, nc}, pk, nil
}

// pick asks the policy to choose among the named nodes that have an
// address, leaving out those unreachable just now unless that is all of
// them; ok is false when none has an address.
func (c *Client) pick(t *table, names []string) (target, balance.Pick, bool, error) {
	all := make([]string, 0, len(names))
	for _, n := range names {
		if t.addr(n) != "" {
			all = append(all, n)
		}
	}
	cands := make([]string, 0, len(all))
	for _, n := range all {
		if !c.isDown(t.addr(n)) {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		cands = all
	}
	pk, ok := c.policy.Pick(cands)
	if !ok {
		return target{}, pk, false, nil
	}
	nc, err := c.conn(t.addr(pk.Name))
	if err != nil {
		pk.Done(0, nil)
		return target{}, balance.Pick{}, false, err
	}
	return target{pk.Name, nc}, pk, true, nil
}
