package kv

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/storage"
)

// Config tunes a Machine. NB: every replica of a group must use the same
// Config, or their states diverge: these values decide replicated effects.
type Config struct {
	// SessionTTL is how long a session may stay idle, by group time, before
	// it expires. Default 1 h: far above any client's retry window, so only
	// a client that vanished loses its session.
	SessionTTL time.Duration
	// MaxWindow caps the results a session keeps; past it the oldest are
	// forgotten (a retry of one is answered CodeSequenceBelowWindow).
	// Default 4096: a client pipelining more than that without moving its
	// lowest unacknowledged seq is broken, and the cap bounds a session's size.
	MaxWindow int
	// SweepEvery and SweepMax bound the cleanup of expired sessions: at every
	// entry whose index is a multiple of SweepEvery, up to SweepMax sessions
	// are examined from a cursor kept in the replicated stats. Defaults 64
	// and 64: about one session read per entry, amortised.
	SweepEvery uint64
	SweepMax   int
}

// DefaultConfig returns the defaults described on Config.
func DefaultConfig() Config {
	return Config{SessionTTL: time.Hour, MaxWindow: 4096, SweepEvery: 64, SweepMax: 64}
}

// Option changes a Config.
type Option func(*Config)

// WithSessionTTL sets Config.SessionTTL.
func WithSessionTTL(d time.Duration) Option { return func(c *Config) { c.SessionTTL = d } }

// WithMaxWindow sets Config.MaxWindow.
func WithMaxWindow(n int) Option { return func(c *Config) { c.MaxWindow = n } }

// WithSessionSweep sets Config.SweepEvery and Config.SweepMax.
func WithSessionSweep(every uint64, max int) Option {
	return func(c *Config) { c.SweepEvery, c.SweepMax = every, max }
}

// Machine is the deterministic state machine of one group. Apply must be
// called by one goroutine at a time (it keeps scratch buffers); Due, Digest,
// Snapshot and the package-level reads keep no state and may run alongside.
type Machine struct {
	group uint64
	cfg   Config

	// Scratch reused across entries by Apply. NB: reusing the buffers handed
	// to Batch.Set relies on Set copying its arguments, as Pebble's batch and
	// storage.Mem do.
	cmd     Command
	resps   []Response
	pend    []pending
	pendIdx map[string]int
	buf     []byte

	// cache holds what the last successful Apply left in the replicated
	// state, so the next one need not read it back through the store.
	cache stateCache

	// groupTime is the group time the last successful Apply left, for the
	// reads of other goroutines (GroupTime); unknownGroupTime before the
	// first Apply of this machine and after a Restore.
	groupTime atomic.Int64
}

// unknownGroupTime marks Machine.groupTime unknown (a group time is Unix
// nanoseconds of a leader's clock: never this).
const unknownGroupTime = math.MinInt64

// GroupTime is the group time after the last Apply, kept in memory so that
// a read need not look it up in the store (EvalAt); ok is false before this
// machine's first Apply and after a Restore, until the next Apply. NB: it
// moves when Apply returns, which is before the driver commits the batch,
// so a read may see the group time of entries a round newer than the view
// it reads: at or after the read index, as a read's group time must be.
func (m *Machine) GroupTime() (t int64, ok bool) {
	t = m.groupTime.Load()
	return t, t != unknownGroupTime
}

// stateCache mirrors the applied state, the stats and recently used
// sessions as the last successful Apply wrote them. It is trusted only for
// an Apply whose first entry directly follows the cached applied index:
// anything else that changes the group's state (a destroyed and recreated
// replica, a batch the driver discarded) changes the applied index too,
// and the cache is dropped; Restore drops it always (a snapshot may come
// at the index the replica had applied, of other entries).
type stateCache struct {
	valid    bool
	applied  storage.AppliedState
	stats    stats
	sessions map[uint64][]byte // client → encoded session; never mutated in place
}

// maxCachedSessions bounds the session cache; beyond it the cache starts
// over (sessions are reread from the store on a miss).
const maxCachedSessions = 4096

func (c *stateCache) drop() {
	c.valid = false
	clear(c.sessions)
}

func (c *stateCache) putSession(client uint64, enc []byte) {
	if c.sessions == nil {
		c.sessions = make(map[uint64][]byte)
	}
	if len(c.sessions) >= maxCachedSessions {
		if _, ok := c.sessions[client]; !ok {
			clear(c.sessions)
		}
	}
	c.sessions[client] = bytes.Clone(enc)
}

// New returns the state machine of group.
func New(group uint64, opts ...Option) *Machine {
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultConfig().SessionTTL
	}
	m := &Machine{group: group, cfg: cfg}
	m.groupTime.Store(unknownGroupTime)
	return m
}

// Group returns the group m serves.
func (m *Machine) Group() uint64 { return m.group }

// pending is one key touched by the command being evaluated: its state when
// the command began (orig) and now (cur). Effects reach the batch only when
// the command completes, so an AllOrNothing command can drop them.
type pending struct {
	key           []byte
	dataKey       []byte // storage.DataKey(g, key), built once
	orig, cur     record
	origOK, curOK bool
	dirty         bool
}

// applier carries the state of one Apply call.
type applier struct {
	m     *Machine
	view  storage.View
	batch storage.Batch
	stats stats
	index uint64
	now   int64 // group time of the entry being applied
}

// Apply evaluates committed entries in order against view and writes their
// effects, the session updates, the stats and the applied state of the last
// entry into batch. view must see batch's writes (it is normally the batch
// itself; nil means the batch). The entries must follow the applied index
// with no gap: the first is applied+1, each next one more (an error
// wrapping ErrCorrupt otherwise; nothing is applied twice or skipped). It
// returns one Result per entry, nil for an entry without data. An error
// means storage failed or the replicated state is corrupt: the driver must
// fail-stop, not commit the batch.
func (m *Machine) Apply(entries []Entry, view storage.View, batch storage.Batch) ([]Result, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	if view == nil {
		view = batch
	}
	g := m.group
	var applied storage.AppliedState
	var st stats
	if m.cache.valid && entries[0].Index == m.cache.applied.Index+1 {
		applied, st = m.cache.applied, m.cache.stats
	} else {
		m.cache.drop()
		var err error
		if applied, err = ReadApplied(view, g); err != nil {
			return nil, err
		}
		if st, err = readStats(view, g); err != nil {
			return nil, err
		}
	}
	// Trusted again only once this Apply has succeeded.
	m.cache.valid = false
	var err error
	a := applier{m: m, view: view, batch: batch, stats: st}
	results := make([]Result, len(entries))
	for i := range entries {
		e := &entries[i]
		// Exactly the next entry: one at or below the applied index would
		// apply twice, one above the next would skip the ones between (a
		// replay that started past the state machine's durable point).
		if e.Index != applied.Index+1 {
			return nil, fmt.Errorf("%w: group %d: entry %d handed to apply after %d (only %d may come next)", ErrCorrupt, g, e.Index, applied.Index, applied.Index+1)
		}
		applied.Index, applied.Term = e.Index, e.Term
		applied.GroupTime = max(applied.GroupTime, e.Time)
		a.index, a.now = e.Index, applied.GroupTime
		if len(e.Data) > 0 {
			if results[i], err = a.entry(e.Data); err != nil {
				return nil, err
			}
		}
		if m.cfg.SweepEvery > 0 && m.cfg.SweepMax > 0 && e.Index%m.cfg.SweepEvery == 0 {
			if err := a.sweepSessions(); err != nil {
				return nil, err
			}
		}
	}
	// NB: the stats are written by every Apply, even unchanged: written only
	// on change, a count going 1 -> 0 within one call would leave the key
	// absent where one entry per call leaves it present with 0, and the
	// digests of equal states would differ with the driver's batching.
	m.buf = a.stats.appendEncode(m.buf[:0])
	if err := batch.Set(storage.StatsKey(g), m.buf); err != nil {
		return nil, err
	}
	m.buf = storage.EncodeAppliedState(m.buf[:0], applied)
	if err := batch.Set(storage.AppliedKey(g), m.buf); err != nil {
		return nil, err
	}
	m.cache.valid, m.cache.applied, m.cache.stats = true, applied, a.stats
	m.groupTime.Store(applied.GroupTime)
	return results, nil
}

// entry applies one command under its session.
func (a *applier) entry(data []byte) (Result, error) {
	c := &a.m.cmd
	if err := c.Decode(data); err != nil {
		return a.reply(CodeMalformed, nil), nil
	}
	if c.Client == 0 {
		return a.evaluate(c)
	}
	if c.Seq == 0 || c.Seq < c.LowUnacked {
		return a.reply(CodeMalformed, nil), nil
	}
	skey := storage.SessionKey(a.m.group, c.Client)
	var s session
	raw, cached := a.m.cache.sessions[c.Client]
	var err error
	if !cached {
		raw, err = a.view.Get(skey)
	}
	found := err == nil
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if s, err = decodeSession(raw); err != nil {
			return nil, err
		}
		if a.now-s.LastActive > int64(a.m.cfg.SessionTTL) {
			// Expired but not swept yet: judge it as the sweep would have.
			found = false
			delete(a.m.cache.sessions, c.Client)
			if err := a.batch.Delete(skey); err != nil {
				return nil, err
			}
		}
	}
	if !found {
		if c.LowUnacked > 1 {
			// The client has had answers, so its session existed: it expired.
			return a.reply(CodeSessionExpired, nil), nil
		}
		s = session{Low: c.LowUnacked}
	} else {
		if c.Seq < s.Low {
			return a.reply(CodeSequenceBelowWindow, nil), nil
		}
		if res, ok := s.lookup(c.Seq); ok {
			// A retry: answer from the window, apply nothing. The copy
			// outlives the session value it came from.
			res = bytes.Clone(res)
			s.LastActive = a.now
			s.advance(c.LowUnacked, a.m.cfg.MaxWindow)
			return res, a.putSession(c.Client, skey, &s)
		}
	}
	res, err := a.evaluate(c)
	if err != nil {
		return nil, err
	}
	s.record(c.Seq, res)
	s.LastActive = a.now
	s.advance(c.LowUnacked, a.m.cfg.MaxWindow)
	return res, a.putSession(c.Client, skey, &s)
}

func (a *applier) putSession(client uint64, key []byte, s *session) error {
	a.m.buf = s.appendEncode(a.m.buf[:0])
	a.m.cache.putSession(client, a.m.buf)
	return a.batch.Set(key, a.m.buf)
}

// reply encodes a command-level answer with the given responses.
func (a *applier) reply(code Code, resps []Response) Result {
	rep := Reply{Code: code, GroupTime: a.now, Responses: resps}
	n := 12
	for i := range resps {
		n += 2 + 3*binary.MaxVarintLen64 + len(resps[i].Value) + binary.MaxVarintLen32
	}
	return rep.AppendEncode(make([]byte, 0, n))
}

// evaluate runs a command's requests and writes their effects.
func (a *applier) evaluate(c *Command) (Result, error) {
	if len(c.Requests) == 1 && c.Requests[0].Op == OpFlush {
		if c.Requests[0].Flags != 0 {
			return a.reply(CodeMalformed, nil), nil
		}
		n, err := a.flush()
		if err != nil {
			return nil, err
		}
		return a.reply(CodeOK, []Response{{Code: CodeOK, Int: int64(n)}}), nil
	}
	a.resetPending()
	resps := a.m.resps[:0]
	failed := false
	for i := range c.Requests {
		p, err := a.evalRequest(&c.Requests[i])
		if err != nil {
			return nil, err
		}
		failed = failed || p.Code.Failed()
		resps = append(resps, p)
	}
	a.m.resps = resps
	code := CodeOK
	if c.AllOrNothing && failed {
		code = CodeAborted
		for i := range resps {
			if !resps[i].Code.Failed() {
				resps[i] = Response{Code: CodeAborted}
			}
		}
	} else if err := a.flushPending(); err != nil {
		return nil, err
	}
	res := a.reply(code, resps)
	clear(resps) // drop references into the entry's data
	a.resetPending()
	return res, nil
}

// flush deletes every key of the group and returns how many there were.
func (a *applier) flush() (uint64, error) {
	g := a.m.group
	n := a.stats.Keys
	ds, de := storage.DataSpan(g)
	es, ee := storage.ExpirySpan(g)
	if err := a.batch.DeleteRange(ds, de); err != nil {
		return 0, err
	}
	if err := a.batch.DeleteRange(es, ee); err != nil {
		return 0, err
	}
	a.stats.Keys = 0
	return n, nil
}

// lookup returns the pending state of key, loading it on first touch. The
// pointer is valid until the next lookup.
func (a *applier) lookup(key []byte) (*pending, error) {
	m := a.m
	const linear = 8 // beyond this many keys a map beats a scan
	if len(m.pend) > linear {
		if i, ok := m.pendIdx[string(key)]; ok {
			return &m.pend[i], nil
		}
	} else {
		for i := range m.pend {
			if bytes.Equal(m.pend[i].key, key) {
				return &m.pend[i], nil
			}
		}
	}
	p := pending{key: key, dataKey: storage.DataKey(m.group, key)}
	raw, err := a.view.Get(p.dataKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if p.orig, err = decodeRecord(raw); err != nil {
			return nil, err
		}
		p.origOK = true
	}
	p.cur, p.curOK = p.orig, p.origOK
	m.pend = append(m.pend, p)
	switch {
	case len(m.pend) == linear+1:
		if m.pendIdx == nil {
			m.pendIdx = make(map[string]int)
		}
		for i := range m.pend {
			m.pendIdx[string(m.pend[i].key)] = i
		}
	case len(m.pend) > linear+1:
		m.pendIdx[string(key)] = len(m.pend) - 1
	}
	return &m.pend[len(m.pend)-1], nil
}

// flushPending writes the effects of the command's requests, in the order
// their keys were first touched, keeping the expiry index and count in step.
func (a *applier) flushPending() error {
	g := a.m.group
	for i := range a.m.pend {
		p := &a.m.pend[i]
		if !p.dirty {
			continue
		}
		var oldDeadline, newDeadline int64
		if p.origOK {
			oldDeadline = p.orig.Deadline
		}
		dk := p.dataKey
		switch {
		case p.curOK:
			newDeadline = p.cur.Deadline
			a.m.buf = p.cur.appendEncode(a.m.buf[:0])
			if err := a.batch.Set(dk, a.m.buf); err != nil {
				return err
			}
			if !p.origOK {
				a.stats.Keys++
			}
		case p.origOK:
			if err := a.batch.Delete(dk); err != nil {
				return err
			}
			a.stats.Keys--
		}
		if oldDeadline != newDeadline || (p.origOK && !p.curOK) {
			if oldDeadline != 0 {
				if err := a.batch.Delete(storage.ExpiryKey(g, oldDeadline, p.key)); err != nil {
					return err
				}
			}
			if newDeadline != 0 {
				if err := a.batch.Set(storage.ExpiryKey(g, newDeadline, p.key), nil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// resetPending forgets the keys touched by the previous command.
func (a *applier) resetPending() {
	clear(a.m.pend) // drop references into the entry's data
	a.m.pend = a.m.pend[:0]
	clear(a.m.pendIdx)
}

func (p *pending) set(r record) { p.cur, p.curOK, p.dirty = r, true, true }
func (p *pending) del()         { p.cur, p.curOK, p.dirty = record{}, false, true }

// allowed lists the flags each op accepts.
var allowed = [opLimit]Flag{
	OpPut: FlagIfAbsent | FlagIfExists | FlagIfVersion | FlagIfValue | FlagKeepTTL |
		FlagReturnPrev | FlagTTL | FlagDeadline,
	OpDelete: FlagIfVersion | FlagIfValue | FlagReturnPrev,
	OpExpire: FlagTTL | FlagDeadline | FlagReturnPrev |
		FlagIfNoDeadline | FlagIfDeadline | FlagIfLater | FlagIfEarlier,
	OpPersist: FlagReturnPrev,
}

// expireConditions are EXPIRE's NX, XX, GT and LT.
const expireConditions = FlagIfNoDeadline | FlagIfDeadline | FlagIfLater | FlagIfEarlier

// evalRequest evaluates one request against the pending state.
func (a *applier) evalRequest(q *Request) (Response, error) {
	f := q.Flags
	if f&^allowed[q.Op] != 0 ||
		f&(FlagIfAbsent|FlagIfExists) == FlagIfAbsent|FlagIfExists ||
		f&(FlagTTL|FlagDeadline) == FlagTTL|FlagDeadline ||
		(f&FlagKeepTTL != 0 && f&(FlagTTL|FlagDeadline) != 0) ||
		(q.Op == OpExpire && f&(FlagTTL|FlagDeadline) == 0) ||
		!validExpireConditions(f&expireConditions) ||
		q.Op == OpFlush {
		return Response{Code: CodeMalformed}, nil
	}
	p, err := a.lookup(q.Key)
	if err != nil {
		return Response{}, err
	}
	switch q.Op {
	case OpPut:
		return a.put(q, p), nil
	case OpDelete:
		return a.del(q, p), nil
	case OpIncrBy:
		return a.incrBy(q, p), nil
	case OpAppend:
		return a.append(q, p), nil
	case OpExpire:
		return a.expire(q, p), nil
	case OpPersist:
		return a.persist(q, p), nil
	case OpExpireIfDue:
		return a.expireIfDue(q, p), nil
	}
	return Response{Code: CodeMalformed}, nil
}

// state answers the key's current version and deadline (zero if absent),
// and its value if asked.
func state(code Code, q *Request, p *pending) Response {
	r := Response{Code: code}
	if p.curOK {
		r.Version, r.Deadline = p.cur.Version, p.cur.Deadline
	}
	return withPrev(r, q, p)
}

func withPrev(r Response, q *Request, p *pending) Response {
	if q.Flags&FlagReturnPrev != 0 && p.curOK {
		r.Value, r.HasValue = p.cur.Value, true
	}
	return r
}

// conditionsHold checks NX, XX, if-version and if-value.
func conditionsHold(q *Request, p *pending) bool {
	f := q.Flags
	switch {
	case f&FlagIfAbsent != 0 && p.curOK,
		f&FlagIfExists != 0 && !p.curOK:
		return false
	}
	if f&FlagIfVersion != 0 {
		if q.Version == 0 && p.curOK || q.Version != 0 && (!p.curOK || p.cur.Version != q.Version) {
			return false
		}
	}
	if f&FlagIfValue != 0 && (!p.curOK || !bytes.Equal(p.cur.Value, q.Expected)) {
		return false
	}
	return true
}

// deadlineAfter is now + ttl, or false if that overflows.
func deadlineAfter(now int64, ttl time.Duration) (int64, bool) {
	if ttl > 0 && now > math.MaxInt64-int64(ttl) {
		return 0, false
	}
	return now + int64(ttl), true
}

func (a *applier) put(q *Request, p *pending) Response {
	var deadline int64
	switch {
	case q.Flags&FlagKeepTTL != 0:
		if p.curOK {
			deadline = p.cur.Deadline
		}
	case q.Flags&FlagTTL != 0:
		d, ok := deadlineAfter(a.now, q.TTL)
		if q.TTL <= 0 || !ok {
			return Response{Code: CodeInvalidExpire}
		}
		deadline = d
	case q.Flags&FlagDeadline != 0:
		if q.Deadline <= 0 {
			return Response{Code: CodeInvalidExpire}
		}
		deadline = q.Deadline
	}
	if !conditionsHold(q, p) {
		return state(CodeConditionFailed, q, p)
	}
	r := withPrev(Response{Code: CodeOK, Deadline: deadline}, q, p)
	if p.curOK {
		r.Int = 1 // replaced, not created (HTTP answers 200 rather than 201)
	}
	if q.Flags&FlagDeadline != 0 && deadline <= a.now {
		// Set and expired at once, as Redis does with EXAT in the past. NB: a
		// kept deadline that has passed stays, as with INCRBY and APPEND: the
		// key is due, and the next EXPIRE-IF-DUE (new version) deletes it.
		p.del()
		return r
	}
	value := q.Value
	if value == nil {
		value = []byte{}
	}
	p.set(record{Value: value, Version: a.index, Deadline: deadline})
	r.Version = a.index
	return r
}

func (a *applier) del(q *Request, p *pending) Response {
	if !p.curOK {
		return Response{Code: CodeNotFound}
	}
	if !conditionsHold(q, p) {
		return state(CodeConditionFailed, q, p)
	}
	r := withPrev(Response{Code: CodeOK, Int: 1}, q, p)
	p.del()
	return r
}

func (a *applier) incrBy(q *Request, p *pending) Response {
	var n, deadline int64
	if p.curOK {
		v, ok := parseInt(p.cur.Value)
		if !ok {
			return state(CodeNotInteger, q, p)
		}
		n, deadline = v, p.cur.Deadline
	}
	d := q.Delta
	if (d < 0 && n < 0 && d < math.MinInt64-n) || (d > 0 && n > 0 && d > math.MaxInt64-n) {
		return state(CodeOverflow, q, p)
	}
	n += d
	p.set(record{Value: appendInt(nil, n), Version: a.index, Deadline: deadline})
	return Response{Code: CodeOK, Version: a.index, Deadline: deadline, Int: n}
}

func (a *applier) append(q *Request, p *pending) Response {
	var old []byte
	var deadline int64
	if p.curOK {
		old, deadline = p.cur.Value, p.cur.Deadline
	}
	v := make([]byte, 0, len(old)+len(q.Value))
	v = append(append(v, old...), q.Value...)
	p.set(record{Value: v, Version: a.index, Deadline: deadline})
	return Response{Code: CodeOK, Version: a.index, Deadline: deadline, Int: int64(len(v))}
}

func (a *applier) expire(q *Request, p *pending) Response {
	deadline := q.Deadline
	if q.Flags&FlagTTL != 0 {
		d, ok := deadlineAfter(a.now, q.TTL)
		if !ok {
			return Response{Code: CodeInvalidExpire}
		}
		deadline = d
	}
	if !p.curOK {
		return Response{Code: CodeNotFound}
	}
	if !expireConditionHolds(q.Flags, p.cur.Deadline, deadline) {
		return state(CodeConditionFailed, q, p)
	}
	r := withPrev(Response{Code: CodeOK, Int: 1}, q, p)
	if deadline <= a.now {
		p.del()
		return r
	}
	p.set(record{Value: p.cur.Value, Version: a.index, Deadline: deadline})
	r.Version, r.Deadline = a.index, deadline
	return r
}

// validExpireConditions refuses the combinations Redis refuses: NX with any
// other condition, GT with LT.
func validExpireConditions(c Flag) bool {
	switch {
	case c&FlagIfNoDeadline != 0 && c&^FlagIfNoDeadline != 0:
		return false
	case c&FlagIfLater != 0 && c&FlagIfEarlier != 0:
		return false
	}
	return true
}

// expireConditionHolds judges EXPIRE's NX, XX, GT and LT for a key whose
// deadline is cur (0: none) and a new deadline, as Redis does: a key
// without a deadline never expires, so GT fails on it and LT holds.
func expireConditionHolds(f Flag, cur, deadline int64) bool {
	switch {
	case f&FlagIfNoDeadline != 0 && cur != 0,
		f&FlagIfDeadline != 0 && cur == 0,
		f&FlagIfLater != 0 && (cur == 0 || deadline <= cur),
		f&FlagIfEarlier != 0 && cur != 0 && deadline >= cur:
		return false
	}
	return true
}

func (a *applier) persist(q *Request, p *pending) Response {
	if !p.curOK {
		return Response{Code: CodeNotFound}
	}
	if p.cur.Deadline == 0 {
		return withPrev(Response{Code: CodeOK, Version: p.cur.Version}, q, p)
	}
	r := withPrev(Response{Code: CodeOK, Version: a.index, Int: 1}, q, p)
	p.set(record{Value: p.cur.Value, Version: a.index})
	return r
}

func (a *applier) expireIfDue(q *Request, p *pending) Response {
	if !p.curOK {
		return Response{Code: CodeNotFound}
	}
	if p.cur.Version != q.Version || p.cur.Deadline == 0 || p.cur.Deadline > a.now {
		return Response{Code: CodeConditionFailed, Version: p.cur.Version, Deadline: p.cur.Deadline}
	}
	p.del()
	return Response{Code: CodeOK, Int: 1}
}

// sweepSessions examines up to SweepMax sessions from the cursor in stats,
// deletes the expired ones and moves the cursor on, wrapping at the end.
func (a *applier) sweepSessions() error {
	g := a.m.group
	_, end := storage.SessionSpan(g)
	it, err := a.view.NewIter(storage.SessionKey(g, a.stats.Sweep), end)
	if err != nil {
		return err
	}
	var dead [][]byte
	n, next := 0, uint64(0)
	var succ []byte
	// Each session key is rewritten by every command of its client, so the
	// memtable holds many versions of it: seek past a key instead of
	// stepping through its versions with Next.
	for ok := it.First(); ok; ok = it.SeekGE(succ) {
		if n == a.m.cfg.SweepMax {
			next = sessionClient(it.Key())
			break
		}
		n++
		last, err := sessionLastActive(it.Value())
		if err != nil {
			it.Close()
			return err
		}
		if a.now-last > int64(a.m.cfg.SessionTTL) {
			dead = append(dead, bytes.Clone(it.Key()))
		}
		succ = append(append(succ[:0], it.Key()...), 0)
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, k := range dead {
		delete(a.m.cache.sessions, sessionClient(k))
		if err := a.batch.Delete(k); err != nil {
			return err
		}
	}
	a.stats.Sweep = next
	return nil
}

func sessionClient(key []byte) uint64 {
	if len(key) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(key[len(key)-8:])
}

// Due returns encoded EXPIRE-IF-DUE commands (no session) for up to max keys
// whose deadline is at or before now, earliest first, from the expiry index.
// The leader's driver proposes them. A storage error ends the list early: the
// next call retries.
func (m *Machine) Due(view storage.View, now int64, max int) [][]byte {
	if max <= 0 || now <= 0 {
		return nil
	}
	g := m.group
	lower, upper := storage.ExpirySpan(g)
	if now < math.MaxInt64 {
		upper = storage.ExpiryKey(g, now+1, nil)
	}
	it, err := view.NewIter(lower, upper)
	if err != nil {
		return nil
	}
	defer it.Close()
	var out [][]byte
	for ok := it.First(); ok && len(out) < max; ok = it.Next() {
		k := it.Key()
		if len(k) < len(lower)+8 {
			continue
		}
		deadline := int64(binary.BigEndian.Uint64(k[len(lower):]))
		key := k[len(lower)+8:]
		raw, err := view.Get(storage.DataKey(g, key))
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			break
		}
		rec, err := decodeRecord(raw)
		if err != nil || rec.Deadline != deadline {
			continue
		}
		c := Command{Requests: []Request{ExpireIfDue(key, rec.Version)}}
		out = append(out, c.AppendEncode(make([]byte, 0, 16+len(key))))
	}
	return out
}

// Restore implements replica.StateMachine: the group's replicated span
// deleted and the snapshot's pairs written, in batch.
func (m *Machine) Restore(batch storage.Batch, pairs [][2][]byte) error {
	m.groupTime.Store(unknownGroupTime) // the snapshot's, read from the store until the next Apply
	start, end := storage.ReplicatedSpan(m.group)
	for _, kv := range pairs {
		if bytes.Compare(kv[0], start) < 0 || bytes.Compare(kv[0], end) >= 0 {
			return fmt.Errorf("kv: group %d: restore: key %q outside the group's replicated span", m.group, kv[0])
		}
	}
	// NB: the cache goes whatever the restored applied index: a replica
	// rebuilt after a failover lost what it applied gets a snapshot at
	// the very index it had applied, of other entries.
	m.cache.drop()
	if err := batch.DeleteRange(start, end); err != nil {
		return err
	}
	for _, kv := range pairs {
		if err := batch.Set(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// Digest returns the applied index and a SHA-256 over every replicated key
// and value of the group (descriptor, sessions, stats, expiry index, data)
// except the applied key, which holds the index and the term: replicas that
// applied the same entries have the same sum.
func (m *Machine) Digest(view storage.View) (uint64, [32]byte, error) {
	g := m.group
	var sum [32]byte
	applied, err := ReadApplied(view, g)
	if err != nil {
		return 0, sum, err
	}
	start, end := storage.ReplicatedSpan(g)
	skip := storage.AppliedKey(g)
	it, err := view.NewIter(start, end)
	if err != nil {
		return 0, sum, err
	}
	defer it.Close()
	h := sha256.New()
	var lb [binary.MaxVarintLen64]byte
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if bytes.Equal(k, skip) {
			continue
		}
		h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(k)))])
		h.Write(k)
		h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(v)))])
		h.Write(v)
	}
	if err := it.Error(); err != nil {
		return 0, sum, err
	}
	h.Sum(sum[:0])
	return applied.Index, sum, nil
}
