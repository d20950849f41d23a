package kv

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"math/rand/v2"
)

// mval is the model of one key.
type mval struct {
	v   string
	ver uint64
	dl  int64
}

// model is a plain map evaluation of the commands, written independently of
// the Machine's overlay, batch and encodings.
type model struct {
	m  map[string]mval
	gt int64
}

func (md *model) apply(idx uint64, q Request) {
	k := string(q.Key)
	cur, ok := md.m[k]
	f := q.Flags
	condOK := func() bool {
		if f&FlagIfAbsent != 0 && ok || f&FlagIfExists != 0 && !ok {
			return false
		}
		if f&FlagIfVersion != 0 && (q.Version == 0 && ok || q.Version != 0 && (!ok || cur.ver != q.Version)) {
			return false
		}
		if f&FlagIfValue != 0 && (!ok || cur.v != string(q.Expected)) {
			return false
		}
		return true
	}
	switch q.Op {
	case OpPut:
		var dl int64
		if f&FlagKeepTTL != 0 && ok {
			dl = cur.dl
		}
		if f&FlagTTL != 0 {
			if q.TTL <= 0 {
				return
			}
			dl = md.gt + int64(q.TTL)
		}
		if condOK() {
			md.m[k] = mval{string(q.Value), idx, dl}
		}
	case OpDelete:
		if ok && condOK() {
			delete(md.m, k)
		}
	case OpIncrBy:
		n := int64(0)
		if ok {
			v, good := parseInt([]byte(cur.v))
			if !good {
				return
			}
			n = v
		}
		s := float64(n) + float64(q.Delta)
		if s > math.MaxInt64/2 || s < math.MinInt64/2 {
			return // the generator keeps far from the edges; see TestCommands for overflow
		}
		md.m[k] = mval{fmt.Sprint(n + q.Delta), idx, cur.dl}
	case OpAppend:
		md.m[k] = mval{cur.v + string(q.Value), idx, cur.dl}
	case OpExpire:
		if !ok {
			return
		}
		dl := md.gt + int64(q.TTL)
		if dl <= md.gt {
			delete(md.m, k)
		} else {
			md.m[k] = mval{cur.v, idx, dl}
		}
	case OpPersist:
		if ok && cur.dl != 0 {
			md.m[k] = mval{cur.v, idx, 0}
		}
	case OpExpireIfDue:
		if ok && cur.ver == q.Version && cur.dl != 0 && cur.dl <= md.gt {
			delete(md.m, k)
		}
	case OpFlush:
		clear(md.m)
	}
}

func genRequest(t gen, md *model, next uint64) Request {
	key := []byte(sample(t, "key", []string{"a", "b", "c", "d", ""}))
	val := []byte(sample(t, "val", []string{"", "1", "-7", "x", "01", "42"}))
	ver := t.Uint64("ver", 0, next)
	if cur, ok := md.m[string(key)]; ok && t.Bool("curver") {
		ver = cur.ver
	}
	ttl := time.Duration(t.Int64("ttl", -2, 5)) * time.Second
	switch t.Int("op", 0, 9) {
	case 0, 1:
		q := Put(key, val)
		switch t.Int("cond", 0, 5) {
		case 1:
			q = q.IfAbsent()
		case 2:
			q = q.IfExists()
		case 3:
			q = q.IfVersion(ver)
		case 4:
			q = q.IfValue(val)
		}
		switch t.Int("ttlmode", 0, 2) {
		case 1:
			q = q.WithTTL(ttl)
		case 2:
			q = q.KeepTTL()
		}
		return q
	case 2:
		q := Delete(key)
		if t.Bool("delver") {
			q = q.IfVersion(ver)
		}
		return q
	case 3:
		return IncrBy(key, t.Int64("delta", -100, 100))
	case 4:
		return Append(key, val)
	case 5:
		return Expire(key, ttl)
	case 6:
		return Persist(key)
	case 7, 8:
		return ExpireIfDue(key, ver)
	default:
		if t.Int("flush", 0, 9) == 0 {
			return Flush()
		}
		return Put(key, val)
	}
}

// gen draws the random choices of a property: from math/rand with a fixed
// seed here (the default build; go.mod does not require rapid), or from
// rapid with shrinking under -tags rapid (property_rapid_test.go).
type gen interface {
	tb
	Int(name string, lo, hi int) int
	Int64(name string, lo, hi int64) int64
	Uint64(name string, lo, hi uint64) uint64
	Bool(name string) bool
}

func sample(g gen, name string, from []string) string { return from[g.Int(name, 0, len(from)-1)] }

// randGen is a gen over a seeded math/rand; failures name the seed.
type randGen struct {
	*testing.T
	seed uint64
	r    *rand.Rand
}

func (g *randGen) Int(_ string, lo, hi int) int { return lo + g.r.IntN(hi-lo+1) }
func (g *randGen) Int64(_ string, lo, hi int64) int64 {
	return lo + g.r.Int64N(hi-lo+1)
}
func (g *randGen) Uint64(_ string, lo, hi uint64) uint64 { return lo + g.r.Uint64N(hi-lo+1) }
func (g *randGen) Bool(string) bool                      { return g.r.IntN(2) == 0 }
func (g *randGen) Fatal(args ...any) {
	g.T.Helper()
	g.T.Fatal(append([]any{"seed", g.seed}, args...)...)
}
func (g *randGen) Fatalf(f string, args ...any) {
	g.T.Helper()
	g.T.Fatalf("seed %d: "+f, append([]any{g.seed}, args...)...)
}

// checkSeeds runs prop over fixed seeds, so a failure is reproducible.
func checkSeeds(t *testing.T, prop func(gen)) {
	n := uint64(300)
	if testing.Short() {
		n = 30
	}
	for seed := range n {
		prop(&randGen{T: t, seed: seed, r: rand.New(rand.NewPCG(seed, 0x6b76))})
	}
}

func TestPropertyMatchesModel(t *testing.T) { checkSeeds(t, propMatchesModel) }

func TestPropertyDigestDeterministic(t *testing.T) { checkSeeds(t, propDigestDeterministic) }

// propMatchesModel: a random sequence of commands, applied through the
// Machine in random Apply groups with stamps that may go backwards, leaves
// the same keys, values, versions and deadlines as the model, and a count
// and expiry index in step (checkInvariants, after every Apply).
func propMatchesModel(t gen) {
	{
		h := newHarness(t)
		md := &model{m: map[string]mval{}}
		stamp := t0
		n := t.Int("entries", 1, 60)
		for i := 0; i < n; {
			batch := t.Int("batch", 1, 5)
			var es []Entry
			for j := 0; j < batch && i < n; j, i = j+1, i+1 {
				stamp += t.Int64("step", -1, 2) * int64(time.Second)
				idx := h.index + 1
				md.gt = max(md.gt, stamp)
				q := genRequest(t, md, idx)
				md.apply(idx, q)
				es = append(es, h.entries(stamp, NewCommand(q))...)
			}
			h.applyEntries(es)
			items, _, err := Scan(h.s, testGroup, nil, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != len(md.m) {
				t.Fatalf("machine has %d keys, model %d", len(items), len(md.m))
			}
			for _, it := range items {
				w, ok := md.m[string(it.Key)]
				if !ok || w.v != string(it.Value) || w.ver != it.Version || w.dl != it.Deadline {
					t.Fatalf("key %q: machine %q v%d d%d, model %+v (present %v)", it.Key, it.Value, it.Version, it.Deadline, w, ok)
				}
			}
		}
	}
}

// propDigestDeterministic: two machines fed the same entries, with sessions
// and retries, one entry per Apply and in random groups, answer the same
// bytes and reach the same digest.
func propDigestDeterministic(t gen) {
	{
		a := newHarness(t, WithSessionSweep(3, 2), WithSessionTTL(5*time.Second))
		bh := newHarness(t, WithSessionSweep(3, 2), WithSessionTTL(5*time.Second))
		md := &model{m: map[string]mval{}}
		seqs := map[uint64]uint64{}
		var es []Entry
		stamp := t0
		n := t.Int("entries", 1, 80)
		for i := range n {
			stamp += t.Int64("step", -1, 3) * int64(time.Second)
			c := NewCommand(genRequest(t, md, uint64(i+1)))
			if client := t.Uint64("client", 0, 3); client != 0 {
				seq := seqs[client] + 1
				if seq > 1 && t.Int("retry", 0, 3) == 0 {
					seq-- // a retry
				}
				seqs[client] = seq
				c = c.WithSession(client, seq, max(1, seq-t.Uint64("lag", 0, 2)))
			}
			es = append(es, Entry{Index: uint64(i + 1), Term: 1, Time: stamp, Data: c.Encode()})
		}
		// a applies one entry per call, b in random groups.
		var ra, rb []Result
		for i := range es {
			ra = append(ra, a.applyEntries(es[i:i+1])...)
		}
		for i := 0; i < len(es); {
			j := min(len(es), i+t.Int("group", 1, 8))
			rb = append(rb, bh.applyEntries(es[i:j])...)
			i = j
		}
		for i := range ra {
			if !bytes.Equal(ra[i], rb[i]) {
				t.Fatalf("entry %d: results differ: %x vs %x", i+1, ra[i], rb[i])
			}
		}
		ia, sa, err := a.m.Digest(a.s)
		if err != nil {
			t.Fatal(err)
		}
		ib, sb, err := bh.m.Digest(bh.s)
		if err != nil {
			t.Fatal(err)
		}
		if ia != uint64(n) || ia != ib || sa != sb {
			t.Fatalf("digests differ: %d %x vs %d %x", ia, sa, ib, sb)
		}
	}
}

func TestDigestChangesWithState(t *testing.T) {
	h := newHarness(t)
	h.do(Put(b("a"), b("1")))
	_, s1, _ := h.m.Digest(h.s)
	h.do(Put(b("a"), b("1")))
	i2, s2, _ := h.m.Digest(h.s)
	if s1 == s2 || i2 != 2 {
		t.Fatal("digest did not change with a new version")
	}
	h.applyEntries([]Entry{{Index: 3, Term: 9, Time: t0}})
	i3, s3, _ := h.m.Digest(h.s)
	if s3 != s2 || i3 != 3 {
		t.Fatal("an empty entry changed the digest (the applied key is excluded)")
	}
}
