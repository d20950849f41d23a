package resp

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

// A RESP SCAN cursor must be an unsigned 64-bit number (redis-cli and
// go-redis parse it as one), and a partition and a key do not fit in one,
// so it names an entry of this node-local table holding where the scan
// goes on: the api.Cursor every door's scan resumes from. Entries expire; a
// scan whose cursor expired (or was made by another node) gets an error
// saying to start again from 0.
const (
	cursorTTL = 10 * time.Minute
	// maxCursors bounds the table: when full, the oldest entries go.
	maxCursors = 100_000
)

type cursorPos struct {
	cur     api.Cursor
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
func (t *cursorTable) put(cur api.Cursor, now time.Time) uint64 {
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
	t.mu.m[id] = cursorPos{cur: cur, expires: now.Add(cursorTTL)}
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
func (t *cursorTable) get(id uint64, now time.Time) (api.Cursor, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.mu.m[id]
	if !ok || now.After(c.expires) {
		delete(t.mu.m, id)
		return api.Cursor{}, false
	}
	return c.cur, true
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
	pos := api.Cursor{}
	if cur != 0 {
		var ok bool
		if pos, ok = s.cursors.get(cur, time.Now()); !ok {
			o.fail("ERR invalid cursor: unknown or expired on this node (cursors live 10 minutes on the node that made them); start again from 0")
			return
		}
	}
	o.barrier = func(s *Server, c *client, o *op) {
		page, err := s.scan(pos, pattern, int(min(count, kv.MaxScanLimit)))
		if err != nil {
			o.out = appendError(o.out[:0], errorText(err))
			return
		}
		if typeNone {
			page.Items = nil
		}
		var id uint64
		if !page.Done {
			id = s.cursors.put(page.Next, time.Now())
		}
		o.out = appendArray(o.out[:0], 2)
		o.out = appendBulkString(o.out, strconv.FormatUint(id, 10))
		o.out = appendArray(o.out, len(page.Items))
		for i := range page.Items {
			o.out = appendBulk(o.out, page.Items[i].Key)
		}
	}
}

// scan examines about count keys from pos on, walking the partitions in
// order (api.ScanPage), and answers those matching pattern. Each
// partition's part of the page is one linearizable read; the whole scan is
// not a snapshot.
func (s *Server) scan(pos api.Cursor, pattern []byte, count int) (api.Page, error) {
	prefix := kv.MatchPrefix(pattern)
	return api.ScanPage(s.ctx, s.b, api.Scan{Start: prefix, End: kv.PrefixEnd(prefix), Limit: count,
		Match: pattern, KeysOnly: true, Mode: replica.Linearizable, ReadTimeout: s.timeout}, pos)
}

// cmdKeys is KEYS pattern: every partition, in order, scanned whole.
func cmdKeys(s *Server, c *client, o *op) {
	pattern := o.args[1]
	if len(pattern) == 1 && pattern[0] == '*' {
		pattern = nil
	}
	o.barrier = func(s *Server, c *client, o *op) {
		var keys [][]byte
		pos := api.Cursor{}
		for {
			page, err := s.scan(pos, pattern, 1000)
			if err != nil {
				o.out = appendError(o.out[:0], errorText(err))
				return
			}
			for i := range page.Items {
				keys = append(keys, page.Items[i].Key)
			}
			if page.Done {
				break
			}
			pos = page.Next
		}
		o.out = appendArray(o.out[:0], len(keys))
		for _, k := range keys {
			o.out = appendBulk(o.out, k)
		}
	}
}
