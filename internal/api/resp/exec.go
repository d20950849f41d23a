package resp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/guard"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

// op is one command of a pipeline on its way through planning, execution
// and rendering.
type op struct {
	cmd  *command // nil: unknown or rejected before lookup
	args [][]byte
	// out is the rendered reply; done says it is final (a local command, or
	// an error found while planning).
	out  []byte
	done bool
	quit bool
	// parts are the pieces executed on partitions; finish renders out from
	// their results.
	parts  []*part
	finish func(s *Server, o *op)
	// barrier, when set, runs alone after everything before it and before
	// anything after it (SCAN, KEYS).
	barrier func(s *Server, c *client, o *op)
	// set is scratch for handlers (parsed options).
	flag int
}

type partKind uint8

const (
	partWrite partKind = iota // requests, batched with neighbouring writes
	partRead                  // kv.Get of keys (or Count), batched with neighbouring reads
)

// part is what one op does on one partition.
type part struct {
	p    int
	kind partKind
	// partWrite:
	reqs         []kv.Request
	alone        bool // its own kv.Command (FLUSH, all-or-nothing)
	allOrNothing bool
	code         kv.Code // command-level code of the kv.Command it was in
	resps        []kv.Response
	groupTime    int64
	// partRead:
	keys  [][]byte
	count bool // read kv.Count instead of keys
	// countExpiring (with count): also count the keys with a deadline.
	countExpiring bool
	items         []kv.Item
	found         []bool
	n             uint64
	expiring      uint64
	// idx maps the part's keys or requests to positions in the op's
	// arguments, for multi-key commands.
	idx []int
	// err is the outcome of a failed Backend call (or a respError).
	err error
}

// readCount runs a count query (kv.CountQuery, kv.CountExpiringQuery) on
// partition p.
func (s *Server) readCount(ctx context.Context, p int, q kv.Query) (uint64, error) {
	rep, err := s.b.Read(ctx, p, replica.Linearizable, q)
	if err == nil && len(rep.Responses) != 1 {
		err = respError("ERR internal: a count answered no response")
	}
	if err != nil {
		return 0, err
	}
	return uint64(rep.Responses[0].Int), nil
}

// respError is an error whose text is already the Redis error reply
// (without the leading '-').
type respError string

func (e respError) Error() string { return string(e) }

// errSkipped answers the parts of a pipeline that were not sent because an
// earlier write of the connection to the same partition has an unknown
// outcome: sending them could apply them before it.
var errSkipped = respError("TRYAGAIN not sent: an earlier command of this connection to the same partition has an unknown outcome; retrying is safe")

// maxBatchRequests and maxBatchBytes bound how many pipelined writes to
// one partition share a kv.Command. NB: the byte bound is the size of the
// largest single command the limits allow, so a batch never exceeds what
// one legal command may carry (the engine sizes its messages for that).
const maxBatchRequests = 256

func (s *Server) maxBatchBytes() int {
	l := s.b.Limits()
	return l.MaxKeySize + l.MaxValueSize
}

// run executes a pipeline and returns the replies, in order, appended to
// out; quit is true when a QUIT was among them (the commands after it are
// dropped, as Redis does once it has closed the connection).
func (s *Server) run(c *client, cmds [][][]byte, out []byte) ([]byte, bool) {
	start := time.Now()
	ops := make([]op, len(cmds))
	quit := false
	n := len(cmds)
	for i := range cmds {
		o := &ops[i]
		o.args = cmds[i]
		s.plan(c, o)
		if o.quit {
			quit, n = true, i+1
			break
		}
	}
	ops = ops[:n]
	// poisoned holds the partitions where a write of this pipeline has an
	// unknown outcome; it outlives each barrier-separated segment, so a
	// SCAN or KEYS between them does not let later commands through.
	var poisoned map[int]bool
	seg := 0
	for i := range ops {
		if ops[i].barrier != nil {
			s.execute(c, ops[seg:i], &poisoned)
			ops[i].barrier(s, c, &ops[i])
			ops[i].done = true
			seg = i + 1
		}
	}
	s.execute(c, ops[seg:], &poisoned)
	for i := range ops {
		o := &ops[i]
		if !o.done && o.finish != nil {
			o.finish(s, o)
		}
		out = append(out, o.out...)
		s.m.observe(o.cmd, start)
	}
	return out, quit
}

// execute runs the parts of ops: per partition in op order, partitions
// concurrently. poisoned holds the partitions whose earlier write of the
// pipeline has an unknown outcome; execute adds those it finds.
func (s *Server) execute(c *client, ops []op, poisoned *map[int]bool) {
	var queues map[int][]*part
	var only []*part
	onlyP := -1
	for i := range ops {
		for _, pt := range ops[i].parts {
			switch {
			case queues == nil && (onlyP == -1 || onlyP == pt.p):
				onlyP = pt.p
				only = append(only, pt)
			default:
				if queues == nil {
					queues = map[int][]*part{onlyP: only}
				}
				queues[pt.p] = append(queues[pt.p], pt)
			}
		}
	}
	poison := func(p int) {
		if *poisoned == nil {
			*poisoned = make(map[int]bool)
		}
		(*poisoned)[p] = true
	}
	if queues == nil {
		if onlyP >= 0 && s.runQueue(c, onlyP, only, (*poisoned)[onlyP]) {
			poison(onlyP)
		}
		return
	}
	// NB: a client's sessions map is read here by several goroutines: it
	// is filled beforehand so that none writes it.
	for p := range queues {
		c.session(p)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var newly []int
	// A panic on a partition's goroutine is carried back to the
	// connection's, whose Door contains it (one connection closed, not
	// the process).
	panics := make([]*guard.Panic, 0, len(queues))
	for p, q := range queues {
		wg.Add(1)
		was := (*poisoned)[p]
		panics = append(panics, nil)
		pp := &panics[len(panics)-1]
		go func() {
			defer wg.Done()
			defer guard.Capture(pp)
			if s.runQueue(c, p, q, was) && !was {
				mu.Lock()
				newly = append(newly, p)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, p := range panics {
		guard.Repanic(p)
	}
	for _, p := range newly {
		poison(p)
	}
}

// runQueue runs one partition's parts in order: consecutive writes share a
// kv.Command, consecutive reads share a Backend.Read, a read waits for the
// writes before it, and a write for the reads before it. If wasPoisoned,
// an earlier write of the pipeline to p has an unknown outcome and nothing
// is sent; it reports whether p is poisoned at the end.
func (s *Server) runQueue(c *client, p int, q []*part, wasPoisoned bool) bool {
	var poisoned error
	if wasPoisoned {
		poisoned = errSkipped
	}
	for i := 0; i < len(q); {
		pt := q[i]
		if poisoned != nil {
			pt.err = poisoned
			i++
			continue
		}
		switch pt.kind {
		case partWrite:
			j, size := i+1, reqBytes(pt.reqs)
			if !pt.alone {
				n := len(pt.reqs)
				for j < len(q) && q[j].kind == partWrite && !q[j].alone &&
					n+len(q[j].reqs) <= maxBatchRequests && size+reqBytes(q[j].reqs) <= s.maxBatchBytes() {
					n += len(q[j].reqs)
					size += reqBytes(q[j].reqs)
					j++
				}
			}
			s.proposeParts(c, p, q[i:j])
			if uncertain(pt.err) {
				poisoned = errSkipped
			}
			i = j
		case partRead:
			j := i + 1
			for j < len(q) && q[j].kind == partRead {
				j++
			}
			s.readParts(p, q[i:j])
			i = j
		}
	}
	return poisoned != nil
}

func reqBytes(reqs []kv.Request) int {
	n := 0
	for i := range reqs {
		n += len(reqs[i].Key) + len(reqs[i].Value) + 32
	}
	return n
}

// proposeParts proposes the requests of parts as one kv.Command under the
// connection's session for p, and hands each part its responses.
func (s *Server) proposeParts(c *client, p int, parts []*part) {
	var reqs []kv.Request
	if len(parts) == 1 {
		reqs = parts[0].reqs
	} else {
		for _, pt := range parts {
			reqs = append(reqs, pt.reqs...)
		}
	}
	cmd := kv.Command{AllOrNothing: parts[0].allOrNothing, Requests: reqs}
	rep, err := s.propose(c, p, cmd)
	at := 0
	for _, pt := range parts {
		pt.err, pt.code, pt.groupTime = err, rep.Code, rep.GroupTime
		if err == nil {
			pt.resps = rep.Responses[at : at+len(pt.reqs)]
			at += len(pt.reqs)
		}
	}
}

// propose sends cmd under the connection's session for p and checks the
// command-level answer.
//
// NB: kv answers SessionExpired, applying nothing, to a session it does not
// know whose lowest unacknowledged seq is above 1. That is what this
// connection sends to a partition whose first command failed without
// reaching kv (-TRYAGAIN, -NOSPACE, or an unknown outcome that did not
// apply): seq 1 is abandoned, so the next command carries low 2. It is
// also what a session idle past kv's SessionTTL gets. Either way the
// connection's session on p is dead for good, so the command is proposed
// once more under a new session with a fresh client ID (not the same ID
// from seq 1: an abandoned seq 1 may still apply and would then answer
// for a different command).
func (s *Server) propose(c *client, p int, cmd kv.Command) (kv.Reply, error) {
	sl := c.session(p)
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	rep, err := s.proposeIn(ctx, sl, p, cmd)
	if err == nil && rep.Code == kv.CodeSessionExpired {
		sl.ss, sl.reached = api.NewSession(s.b.NewClientID()), false
		rep, err = s.proposeIn(ctx, sl, p, cmd)
	}
	if err != nil {
		return kv.Reply{}, err
	}
	switch rep.Code {
	case kv.CodeOK, kv.CodeAborted:
	default:
		return kv.Reply{}, respError(rep.Code.Message())
	}
	if len(rep.Responses) != len(cmd.Requests) {
		return kv.Reply{}, respError(fmt.Sprintf("ERR internal: %d responses for %d requests", len(rep.Responses), len(cmd.Requests)))
	}
	return rep, nil
}

// proposeIn proposes cmd under sl's session.
func (s *Server) proposeIn(ctx context.Context, sl *sessionSlot, p int, cmd kv.Command) (kv.Reply, error) {
	ss := sl.ss
	seq, low := ss.Begin()
	cmd.Client, cmd.Seq, cmd.LowUnacked = ss.Client, seq, low
	rep, err := s.b.Propose(ctx, p, cmd)
	ss.End(seq) // answered, or abandoned: this door never retries a seq
	switch {
	case err == nil || uncertain(err):
		sl.reached = true
	case !sl.reached:
		// Nothing of this session ever reached kv (the usual case: the
		// connection's first write to p met a leader change), so it
		// starts again at seq 1 under the same ID, sparing the next
		// command a SessionExpired round trip.
		sl.ss = api.NewSession(ss.Client)
	}
	return rep, err
}

// readParts runs the reads of parts in one linearizable Backend.Read: one
// kv get of all their keys; a count (DBSIZE, INFO) is a read of its own.
func (s *Server) readParts(p int, parts []*part) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	var keys [][]byte
	var n uint64
	counted := false
	for _, pt := range parts {
		if !pt.count {
			keys = append(keys, pt.keys...)
			continue
		}
		if !counted {
			var err error
			if n, err = s.readCount(ctx, p, kv.CountQuery()); err != nil {
				failParts(parts, err)
				return
			}
			counted = true
		}
		pt.n = n
		if pt.countExpiring {
			e, err := s.readCount(ctx, p, kv.CountExpiringQuery())
			if err != nil {
				failParts(parts, err)
				return
			}
			pt.expiring = e
		}
	}
	if len(keys) == 0 {
		return
	}
	rep, err := s.b.Read(ctx, p, replica.Linearizable, kv.GetQuery(keys...))
	if err == nil && len(rep.Responses) != len(keys) {
		err = respError(fmt.Sprintf("ERR internal: %d responses for %d keys", len(rep.Responses), len(keys)))
	}
	if err != nil {
		failParts(parts, err)
		return
	}
	at := 0
	for _, pt := range parts {
		if pt.count {
			continue
		}
		pt.items = make([]kv.Item, len(pt.keys))
		pt.found = make([]bool, len(pt.keys))
		for i, k := range pt.keys {
			r := &rep.Responses[at]
			at++
			pt.items[i] = kv.Item{Key: k, Value: r.Value, Version: r.Version, Deadline: r.Deadline}
			pt.found[i] = r.Code == kv.CodeOK
		}
	}
}

func failParts(parts []*part, err error) {
	for _, pt := range parts {
		pt.err = err
	}
}

// errorText renders a Backend error as a Redis error reply text, per
// DESIGN.md's error table.
func errorText(err error) string {
	var re respError
	if errors.As(err, &re) {
		return string(re)
	}
	switch api.OutcomeOf(err) {
	case api.NotApplied:
		return "TRYAGAIN not applied (" + err.Error() + "); retrying is safe"
	case api.NoSpace:
		return "NOSPACE " + api.ErrNoSpace.Error()
	case api.Invalid:
		if errors.Is(err, api.ErrCrossPartition) {
			return crossSlot
		}
		return "ERR " + invalidText(err)
	}
	// NB: a write cancelled by a shutdown may still apply: it is reported
	// as unknown too, never as safe to retry.
	return "TIMEOUT outcome unknown: the command may or may not have been applied (" + err.Error() + ")"
}

const crossSlot = "CROSSSLOT Keys in request don't hash to the same slot (use a {hash tag})"

// invalidText strips api's sentinel prefix ("too large: ") so the message
// names the limit first: "key is 9000 bytes, over --max-key-size 8192".
func invalidText(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{api.ErrTooLarge, api.ErrInvalid} {
		msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
	}
	return msg
}

// partErr is the first part error of o, if any.
func (o *op) partErr() error {
	for _, pt := range o.parts {
		if pt.err != nil {
			return pt.err
		}
	}
	return nil
}

// failed renders o's error if a part failed and reports whether it did.
// For a write across partitions where some part may have applied, the
// error says that some keys may have been written.
func (o *op) failed(write bool) bool {
	var first error
	failed := 0
	certain := true // every failed part was certainly not applied
	for _, pt := range o.parts {
		if pt.err != nil {
			if first == nil {
				first = pt.err
			}
			failed++
			if uncertain(pt.err) {
				certain = false
			}
		}
	}
	if first == nil {
		return false
	}
	if !write || len(o.parts) == 1 || (failed == len(o.parts) && certain) {
		o.out = appendError(o.out[:0], errorText(first))
		return true
	}
	o.out = appendError(o.out[:0], fmt.Sprintf("ERR %d of %d partitions failed, so some keys may have been written and others not: %s",
		failed, len(o.parts), errorText(first)))
	return true
}

// uncertain reports whether err leaves the outcome unknown: the command
// may yet apply.
func uncertain(err error) bool {
	if err == nil {
		return false
	}
	var re respError
	if errors.As(err, &re) {
		return strings.HasPrefix(string(re), "TIMEOUT")
	}
	return api.OutcomeOf(err) == api.Indeterminate
}
