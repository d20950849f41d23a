package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

type opKind int

const (
	opIncr   opKind = iota // INCRBY 1 on one of the group's counters
	opAppend               // APPEND a unique token to one of the group's logs
	opPut                  // PUT a unique value to one of the client's keys
	opDel                  // DELETE one of the client's keys
	opTTL                  // PUT with a TTL, which the leader's sweep deletes
)

func (k opKind) String() string {
	return [...]string{"incr", "append", "put", "del", "ttl"}[k]
}

// op is one client command: one session sequence number, tried as many
// times as it takes (attempts), the same (client, seq) each time.
type op struct {
	c      *client
	seq    uint64
	kind   opKind
	key    string
	ttl    time.Duration // opTTL's
	invoke int64         // when the client first sent it
	// Set once acknowledged.
	acked    bool
	ackAt    int64
	ackedBy  *node  // the node whose replica acknowledged it
	index    uint64 // the index the acknowledging attempt got
	reply    kv.Reply
	attempts []*attempt
}

// attempt is one try of an op. Each carries a distinct command (the
// attempt number is in its token, value or marker key), so the checker
// can tell which attempt the log committed.
type attempt struct {
	op      *op
	n       int
	node    *node
	nodeInc int
	cmd     []byte
	cancel  func() bool
	settled bool // answered, timed out or its node crashed
	// notApplied: answered "certainly not applied".
	notApplied bool
}

// read is one linearizable or follower read of a counter or a log. A read
// that fails or times out is dropped: it changed nothing.
type read struct {
	c            *client
	n            uint64
	key          string
	mode         replica.ReadMode
	node         *node
	nodeInc      int
	invoke, resp int64
	value        string
	found        bool
	settled      bool
}

// client runs one command or read at a time against one group; commands
// go under one kv session and are retried until acknowledged.
type client struct {
	s       *world
	id      uint64
	g       *groupInfo
	seq     uint64
	cur     *op
	ops     []*op
	reading *read
	reads   []*read // completed
	nreads  uint64
	target  *node // where it believes the leader is
	stopped bool  // the heal phase: finish cur, start nothing new
	// renewals counts the kv sessions the client started after a failover
	// lost its session (Config.AsyncLoss); from sessionFrom on its
	// commands carry session sessionID(id, renewals).
	renewals    uint64
	sessionFrom uint64
}

// sessionBits: a client's renewed sessions are its id with the renewal
// count above them.
const sessionBits = 48

func sessionID(id, renewals uint64) uint64 { return id | renewals<<sessionBits }

func newClient(s *world, g *groupInfo, id uint64) *client {
	return &client{s: s, id: id, g: g}
}

// next starts the client's next command or read.
func (c *client) next() {
	if c.stopped || c.cur != nil || c.reading != nil {
		return
	}
	s := c.s
	if s.chance(0.25) {
		c.read()
		return
	}
	c.seq++
	o := &op{c: c, seq: c.seq, invoke: s.now}
	switch r := s.rng.IntN(10); {
	case r < 4:
		o.kind, o.key = opIncr, fmt.Sprintf("ctr/%d", s.rng.IntN(2))
	case r < 7:
		o.kind, o.key = opAppend, fmt.Sprintf("log/%d", s.rng.IntN(2))
	case r < 8:
		o.kind, o.key = opPut, fmt.Sprintf("put/%d/%d", c.id, s.rng.IntN(3))
	case r < 9:
		o.kind, o.key = opDel, fmt.Sprintf("put/%d/%d", c.id, s.rng.IntN(3))
	default:
		o.kind, o.key = opTTL, fmt.Sprintf("ttl/%d/%d", c.id, s.rng.IntN(2))
		o.ttl = time.Duration(s.between(50, 3000)) * time.Millisecond
	}
	c.cur = o
	c.ops = append(c.ops, o)
	s.stats.Ops++
	c.try()
}

// command encodes attempt n of o. LowUnacked is o's own seq: the client
// has had every earlier answer.
func (o *op) command(n int) []byte {
	tag := fmt.Sprintf("%d.%d.%d", o.c.id, o.seq, n)
	var reqs []kv.Request
	switch o.kind {
	case opIncr:
		// PERSIST of an absent key changes nothing: it only makes the
		// attempt's command unique in the log (as the token and the value
		// do for APPEND and PUT).
		reqs = []kv.Request{kv.IncrBy([]byte(o.key), 1), kv.Persist([]byte("attempt/" + tag))}
	case opAppend:
		reqs = []kv.Request{kv.Append([]byte(o.key), []byte(tag+";"))}
	case opPut:
		reqs = []kv.Request{kv.Put([]byte(o.key), []byte(tag))}
	case opDel:
		reqs = []kv.Request{kv.Delete([]byte(o.key)), kv.Persist([]byte("attempt/" + tag))}
	case opTTL:
		reqs = []kv.Request{kv.Put([]byte(o.key), []byte(tag)).WithTTL(o.ttl)}
	}
	sid, low := sessionID(o.c.id, o.c.renewals), o.seq
	if o.c.renewals > 0 && o.seq == o.c.sessionFrom {
		low = 1 // the first command of a new session: it had no answers
	}
	cmd := kv.NewCommand(reqs...).WithSession(sid, o.seq, low)
	return cmd.Encode()
}

// try sends the next attempt of the current op to the node the client
// believes leads, or to a random replica of the group.
func (c *client) try() {
	s := c.s
	o := c.cur
	n := c.target
	if n == nil || !n.up || s.chance(0.1) {
		n = pick(s, c.g.nodes)
	}
	a := &attempt{op: o, n: len(o.attempts) + 1, node: n, nodeInc: n.incarnation}
	a.cmd = o.command(a.n)
	o.attempts = append(o.attempts, a)
	s.stats.Attempts++
	s.detail("client %d op %d (%s %s of group %d) attempt %d to %s", c.id, o.seq, o.kind, o.key, c.g.id, a.n, n.name)
	grp, ok := n.group(c.g.id)
	if !ok {
		// Connection refused, or no replica there yet: never sent.
		a.settled = true
		c.target = nil
		c.retry()
		return
	}
	a.cancel = grp.ProposeAsync(a.cmd, func(res []byte, index uint64, err error) {
		// Called inside a round, or by Close, or right here.
		s.callback(callbackKey{c.id, o.seq, uint64(a.n)}, func() { c.answer(a, res, index, err) })
	})
	n.dirty = true
	s.after(requestTimeout, func() { c.timeout(a) })
}

func (c *client) retry() {
	s := c.s
	s.after(s.between(10, 150), func() {
		if c.cur != nil {
			c.try()
		}
	})
}

// answer handles what the engine said about attempt a.
func (c *client) answer(a *attempt, res []byte, index uint64, err error) {
	if a.settled {
		return
	}
	a.settled = true
	s := c.s
	o := a.op
	var nl *replica.ErrNotLeader
	switch {
	case err == nil:
		rep, derr := kv.DecodeResult(res)
		if derr != nil {
			s.failf(KindBadReply, "client %d op %d: undecodable result: %v", c.id, o.seq, derr)
			return
		}
		if rep.Code == kv.CodeSessionExpired && s.cfg.AsyncLoss > 0 {
			// A failover lost the commands that made the session (the
			// checker judges those losses): the attempt is in the log but
			// changed nothing (not "not applied": its entry committed);
			// the client starts a new session and tries again.
			c.renewals, c.sessionFrom = c.renewals+1, o.seq
			s.detail("client %d op %d attempt %d on %s: session lost (SessionExpired); a new session", c.id, o.seq, a.n, a.node.name)
			c.retry()
			return
		}
		if rep.Code == kv.CodeSessionExpired {
			// Sessions expire after an hour of group time; a run is shorter.
			// The session the client's acknowledged commands made is gone.
			s.failf(KindLostAck, "client %d op %d (%s %s) attempt %d at index %d: answered SessionExpired: the session its acknowledged commands made is lost",
				c.id, o.seq, o.kind, o.key, a.n, index)
			return
		}
		if msg := o.checkReply(rep, index); msg != "" {
			s.failf(KindBadReply, "client %d op %d (%s %s) attempt %d at index %d: %s", c.id, o.seq, o.kind, o.key, a.n, index, msg)
			return
		}
		o.acked, o.ackAt, o.ackedBy, o.index, o.reply = true, s.now, a.node, index, rep
		s.mix(c.id<<32 ^ o.seq)
		s.mix(index)
		s.detail("client %d op %d (%s %s) attempt %d on %s: ok at index %d (version %d, int %d)",
			c.id, o.seq, o.kind, o.key, a.n, a.node.name, index, rep.Responses[0].Version, rep.Responses[0].Int)
		s.stats.Acked++
		s.check.acked(o, a)
		c.cur = nil
		if !c.stopped {
			s.after(s.between(0, s.think), c.next)
		}
	case errors.As(err, &nl) || errors.Is(err, replica.ErrNotApplied):
		s.stats.NotApplied++
		a.notApplied = true
		s.check.notApplied(a)
		s.detail("client %d op %d attempt %d on %s: not applied: %v", c.id, o.seq, a.n, a.node.name, err)
		c.target = nil
		if nl != nil && nl.HintNode != "" {
			c.target = s.nodeNamed(nl.HintNode)
		}
		c.retry()
	default:
		s.stats.Indeterminate++
		s.detail("client %d op %d attempt %d on %s: indeterminate: %v", c.id, o.seq, a.n, a.node.name, err)
		c.retry()
	}
}

// timeout gives up waiting for attempt a (the request deadline): certainly
// not applied if the engine never took it, else indeterminate.
func (c *client) timeout(a *attempt) {
	if a.settled {
		return
	}
	a.settled = true
	s := c.s
	if a.cancel() {
		s.stats.NotApplied++
		a.notApplied = true
		s.check.notApplied(a)
		s.detail("client %d op %d attempt %d on %s: timed out, never proposed", c.id, a.op.seq, a.n, a.node.name)
	} else {
		s.stats.Indeterminate++
		s.detail("client %d op %d attempt %d on %s: timed out, indeterminate", c.id, a.op.seq, a.n, a.node.name)
	}
	c.target = nil
	c.retry()
}

// read reads a counter or a log: linearizably on the node it believes
// leads, or as a follower read on any replica.
func (c *client) read() {
	s := c.s
	c.nreads++
	r := &read{c: c, n: c.nreads, invoke: s.now, mode: replica.Linearizable}
	if s.chance(0.5) {
		r.key = fmt.Sprintf("ctr/%d", s.rng.IntN(2))
	} else {
		r.key = fmt.Sprintf("log/%d", s.rng.IntN(2))
	}
	n := c.target
	if n == nil || !n.up || s.chance(0.3) {
		n = pick(s, c.g.nodes)
	}
	if s.chance(0.4) {
		r.mode = replica.Follower
		n = pick(s, c.g.nodes)
	}
	r.node, r.nodeInc = n, n.incarnation
	grp, ok := n.group(c.g.id)
	if !ok {
		s.after(s.between(0, s.think), c.next)
		return
	}
	c.reading = r
	s.detail("client %d read %d (%s %s of group %d) to %s", c.id, r.n, r.mode, r.key, c.g.id, n.name)
	gid := uint64(c.g.id)
	grp.ReadAsync(r.mode, func(err error) {
		// From the round that applied the read index, the group locked:
		// the store holds what the read must see. Read it now.
		var value string
		var found bool
		if err == nil {
			it, ok, gerr := kv.Get(n.mem, gid, []byte(r.key))
			value, found, err = string(it.Value), ok, gerr
		}
		s.callback(callbackKey{c.id, 0, r.n}, func() { c.readDone(r, value, found, err) })
	})
	n.dirty = true
	s.after(requestTimeout, func() { c.readDone(r, "", false, errors.New("sim: read timed out")) })
}

func (c *client) readDone(r *read, value string, found bool, err error) {
	if r.settled {
		return
	}
	r.settled = true
	s := c.s
	c.reading = nil
	if err == nil {
		r.resp, r.value, r.found = s.now, value, found
		c.reads = append(c.reads, r)
		s.stats.Reads++
		s.mix(uint64(len(value)))
		s.detail("client %d read %d (%s %s) on %s: %q", c.id, r.n, r.mode, r.key, r.node.name, value)
	} else {
		s.detail("client %d read %d (%s %s) on %s: %v", c.id, r.n, r.mode, r.key, r.node.name, err)
	}
	if !c.stopped {
		s.after(s.between(0, s.think), c.next)
	}
}

// nodeDown: the connection to a crashed node broke; whatever was in
// flight there is indeterminate.
func (c *client) nodeDown(n *node) {
	if r := c.reading; r != nil && r.node == n {
		c.readDone(r, "", false, errors.New("sim: node crashed"))
	}
	if c.cur == nil {
		return
	}
	a := c.cur.attempts[len(c.cur.attempts)-1]
	if a.settled || a.node != n {
		return
	}
	a.settled = true
	c.s.stats.Indeterminate++
	c.target = nil
	c.retry()
}

// checkReply checks an acknowledgement on its own: every request done,
// and the key's version at most the acknowledging index (it is the index
// of the first application when a retry was answered from the session).
func (o *op) checkReply(rep kv.Reply, index uint64) string {
	if rep.Code != kv.CodeOK {
		return fmt.Sprintf("command answered %s", rep.Code)
	}
	want := 1
	if o.kind == opIncr || o.kind == opDel {
		want = 2 // with the marker
	}
	if len(rep.Responses) != want {
		return fmt.Sprintf("%d responses, want %d", len(rep.Responses), want)
	}
	if want == 2 && rep.Responses[1].Code != kv.CodeNotFound {
		return fmt.Sprintf("the marker's PERSIST answered %s", rep.Responses[1].Code)
	}
	r := rep.Responses[0]
	switch {
	case o.kind == opDel:
		// Deleted (OK) or already absent (NotFound); no version either way.
		if r.Code != kv.CodeOK && r.Code != kv.CodeNotFound {
			return fmt.Sprintf("request answered %s", r.Code)
		}
	case r.Code != kv.CodeOK:
		return fmt.Sprintf("request answered %s", r.Code)
	case r.Version == 0 || r.Version > index:
		return fmt.Sprintf("version %d with the answer at index %d", r.Version, index)
	}
	return ""
}
