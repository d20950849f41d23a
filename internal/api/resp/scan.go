package resp

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// A RESP SCAN cursor must be an unsigned 64-bit number, so it names an
// entry of this node-local table holding where the scan goes on: a
// partition and the key to resume from. Entries expire; a scan whose
// cursor expired (or was made by another node) gets an error saying to
// start again from 0.
const (
	cursorTTL = 10 * time.Minute
	// maxCursors bounds the table: when full, the oldest entries go.
	maxCursors = 100_000
)

type cursorPos struct {
	p       int
	key     []byte
	expires time.Time
}

type cursorTable struct {
	mu struct {
		sync.Mutex
		next uint64
		m    map[uint64]cursorPos
	}
}

func (t *cursorTable) init() {
	t.mu.m = make(map[uint64]cursorPos)
	// Random start so that cursors of two nodes (or two runs) rarely meet.
	t.mu.next = rand.Uint64()>>16 | 1
}

// put stores a position and returns its cursor, never 0.
func (t *cursorTable) put(p int, key []byte, now time.Time) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.mu.m) >= maxCursors {
		t.evictLocked(now)
	}
	t.mu.next++
	if t.mu.next == 0 {
		t.mu.next = 1
	}
	id := t.mu.next
	t.mu.m[id] = cursorPos{p: p, key: key, expires: now.Add(cursorTTL)}
	return id
}

// evictLocked drops expired entries, and if none had expired, the half
// with the earliest expiry.
func (t *cursorTable) evictLocked(now time.Time) {
	for id, c := range t.mu.m {
		if now.After(c.expires) {
			delete(t.mu.m, id)
		}
	}
	if len(t.mu.m) < maxCursors {
		return
	}
	cut := now.Add(cursorTTL / 2)
	for id, c := range t.mu.m {
		if c.expires.Before(cut) {
			delete(t.mu.m, id)
		}
	}
	if len(t.mu.m) >= maxCursors {
		clear(t.mu.m)
	}
}

// get returns the position of a cursor. NB: it stays in the table until
// it expires, so a client may repeat a SCAN call (after a lost reply).
func (t *cursorTable) get(id uint64, now time.Time) (cursorPos, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.mu.m[id]
	if !ok || now.After(c.expires) {
		delete(t.mu.m, id)
		return cursorPos{}, false
	}
	return c, true
}

func (t *cursorTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.mu.m)
}

// cmdScan is SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. It is a
// barrier: it runs after the connection's earlier commands.
func cmdScan(s *Server, c *client, o *op) {
	cur, err := strconv.ParseUint(string(o.args[1]), 10, 64)
	if err != nil {
		o.fail("ERR invalid cursor")
		return
	}
	var pattern []byte
	count := int64(10)
	typeNone := false
	for i := 2; i < len(o.args); i += 2 {
		if i+1 >= len(o.args) {
			o.fail(errSyntax)
			return
		}
		v := o.args[i+1]
		switch {
		case eq(o.args[i], "match"):
			pattern = v
			if len(pattern) == 1 && pattern[0] == '*' {
				pattern = nil
			}
		case eq(o.args[i], "count"):
			n, ok := parseInt(v)
			if !ok {
				o.fail(errNotInt)
				return
			}
			if n < 1 {
				o.fail(errSyntax)
				return
			}
			count = n
		case eq(o.args[i], "type"):
			typeNone = !eq(v, "string")
		default:
			o.fail(errSyntax)
			return
		}
	}
	pos := cursorPos{}
	if cur != 0 {
		var ok bool
		if pos, ok = s.cursors.get(cur, time.Now()); !ok {
			o.fail("ERR invalid cursor: unknown or expired on this node (cursors live 10 minutes on the node that made them); start again from 0")
			return
		}
	}
	o.barrier = func(s *Server, c *client, o *op) {
		keys, next, err := s.scan(pos, pattern, int(min(count, 1<<20)))
		if err != nil {
			o.out = appendError(o.out[:0], errorText(err))
			return
		}
		if typeNone {
			keys = nil
		}
		var id uint64
		if next.p < s.b.Partitions() {
			id = s.cursors.put(next.p, next.key, time.Now())
		}
		o.out = appendArray(o.out[:0], 2)
		o.out = appendBulkString(o.out, strconv.FormatUint(id, 10))
		o.out = appendArray(o.out, len(keys))
		for _, k := range keys {
			o.out = appendBulk(o.out, k)
		}
	}
}

// scan examines about count keys from pos on, walking the partitions in
// order, and returns those matching pattern and the position to go on
// from (next.p == P: done). Each partition's page is one linearizable
// read; the whole scan is not a snapshot.
func (s *Server) scan(pos cursorPos, pattern []byte, count int) (keys [][]byte, next cursorPos, err error) {
	prefix := kv.MatchPrefix(pattern)
	end := kv.PrefixEnd(prefix)
	P := s.b.Partitions()
	p, start := pos.p, pos.key
	for p < P && count > 0 {
		if bytes.Compare(start, prefix) < 0 {
			start = prefix
		}
		var items []kv.Item
		var more []byte
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
		err := s.b.Read(ctx, p, replica.Linearizable, func(v storage.View, g uint64) error {
			var err error
			items, more, err = kv.Scan(v, g, start, end, count)
			return err
		})
		cancel()
		if err != nil {
			return nil, cursorPos{}, err
		}
		for _, it := range items {
			if pattern == nil || kv.Match(pattern, it.Key) {
				keys = append(keys, it.Key)
			}
		}
		count -= len(items)
		if more != nil {
			return keys, cursorPos{p: p, key: more}, nil
		}
		p, start = p+1, nil
	}
	return keys, cursorPos{p: p, key: start}, nil
}

// cmdKeys is KEYS pattern: every partition, in order, scanned whole.
func cmdKeys(s *Server, c *client, o *op) {
	pattern := o.args[1]
	if len(pattern) == 1 && pattern[0] == '*' {
		pattern = nil
	}
	o.barrier = func(s *Server, c *client, o *op) {
		var keys [][]byte
		pos := cursorPos{}
		for pos.p < s.b.Partitions() {
			var page [][]byte
			var err error
			page, pos, err = s.scan(pos, pattern, 1000)
			if err != nil {
				o.out = appendError(o.out[:0], errorText(err))
				return
			}
			keys = append(keys, page...)
		}
		o.out = appendArray(o.out[:0], len(keys))
		for _, k := range keys {
			o.out = appendBulk(o.out, k)
		}
	}
}
