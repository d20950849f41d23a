package runner

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/chaos"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

var errUnknownKind = errors.New("runner: unknown operation kind")

// op is one operation a generator asks for.
type op struct {
	kind     chaos.Kind
	key      string // the history's key
	storeKey string // the key in the store: key, or for a set element its own key
	in       chaos.Input
	k        *keyState // register and ttl: the pool's bookkeeping
}

// generator makes a workload's operations and learns from their results.
// Safe for concurrent use.
type generator interface {
	next(rng *rand.Rand) op
	done(o op, outcome chaos.Outcome, out chaos.Output)
	// finals are the final reads, after the heal and the quiet time.
	finals() []op
}

// reads returns a read of kind of every key the pool ever handed out: the
// final reads of the register and ttl workloads.
func (p *keyPool) reads(kind chaos.Kind) []op {
	var ops []op
	for _, k := range p.used() {
		ops = append(ops, op{kind: kind, key: k, storeKey: k})
	}
	return ops
}

func isWrite(k chaos.Kind) bool {
	return k != chaos.Get && k != chaos.TTLGet && k != chaos.Read
}

// values hands out written values, unique across the run (checkers need a
// read to name its write).
type values struct{ n atomic.Int64 }

func (v *values) next() string { return strconv.FormatInt(v.n.Add(1), 10) }

// registerGen: get 40%, put 20%, compare-and-swap by value 20% (expecting
// the value last learnt, or absence), swap (put returning the previous
// value) 10%, delete 10%, over the pool's keys.
type registerGen struct {
	pool *keyPool
	vals values
}

func (g *registerGen) next(rng *rand.Rand) op {
	k := g.pool.acquire(rng)
	o := op{key: k.name, storeKey: k.name, k: k}
	switch r := rng.IntN(100); {
	case r < 40:
		o.kind = chaos.Get
	case r < 60:
		o.kind, o.in.Value = chaos.Put, g.vals.next()
	case r < 80:
		o.kind, o.in.Value = chaos.CAS, g.vals.next()
		if exp, ok := g.pool.expected(k); ok {
			o.in.Expected = exp
		} else {
			o.in.ExpectAbsent = true
		}
	case r < 90:
		o.kind, o.in.Value = chaos.Swap, g.vals.next()
	default:
		o.kind = chaos.Delete
	}
	return o
}

func (g *registerGen) done(o op, outcome chaos.Outcome, out chaos.Output) {
	if outcome == chaos.Indeterminate && isWrite(o.kind) {
		g.pool.indeterminate(o.k)
	}
	if outcome != chaos.OK {
		return
	}
	switch o.kind {
	case chaos.Get:
		g.pool.learn(o.k, out.Exists, out.Value)
	case chaos.Put, chaos.Swap:
		g.pool.learn(o.k, true, o.in.Value)
	case chaos.CAS:
		if out.Swapped {
			g.pool.learn(o.k, true, o.in.Value)
		}
	case chaos.Delete:
		g.pool.learn(o.k, false, "")
	}
}

func (g *registerGen) finals() []op { return g.pool.reads(chaos.Get) }

// ttlGen: put with a TTL of 100 ms to 1.5 s 40%, get 55%, delete 5%.
type ttlGen struct {
	pool *keyPool
	vals values
}

func (g *ttlGen) next(rng *rand.Rand) op {
	k := g.pool.acquire(rng)
	o := op{key: k.name, storeKey: k.name, k: k}
	switch r := rng.IntN(100); {
	case r < 40:
		o.kind, o.in.Value = chaos.TTLPut, g.vals.next()
		o.in.TTL = int64(time.Duration(1+rng.IntN(15)) * 100 * time.Millisecond)
	case r < 95:
		o.kind = chaos.TTLGet
	default:
		o.kind = chaos.Delete
	}
	return o
}

func (g *ttlGen) done(o op, outcome chaos.Outcome, _ chaos.Output) {
	if outcome == chaos.Indeterminate && isWrite(o.kind) {
		g.pool.indeterminate(o.k)
	}
}

func (g *ttlGen) finals() []op { return g.pool.reads(chaos.TTLGet) }

// setGen: adds of unique elements, each its own key under prefix, and now
// and then (0.5%) a read of the whole set by a scan of the prefix. NB: a
// scan is linearizable per partition, not a snapshot; that is all CheckSet
// needs (an element present for the whole scan is returned), and the final
// reads run with no add in flight.
type setGen struct {
	prefix string
	vals   values
}

const setKey = "set" // the history's key of every set operation

func (g *setGen) next(rng *rand.Rand) op {
	if rng.IntN(200) == 0 {
		return op{kind: chaos.Read, key: setKey}
	}
	e := "e" + g.vals.next()
	return op{kind: chaos.Add, key: setKey, storeKey: g.prefix + e, in: chaos.Input{Value: e}}
}

func (g *setGen) done(op, chaos.Outcome, chaos.Output) {}

func (g *setGen) finals() []op {
	// Two final reads, from two clients on different nodes.
	return []op{{kind: chaos.Read, key: setKey}, {kind: chaos.Read, key: setKey}}
}

// env is what the clients share.
type env struct {
	rec       *chaos.Recorder
	clients   []*grpcapi.Client // one per server, in order
	opTimeout time.Duration
	setPrefix string
	gen       generator
	budget    atomic.Int64 // operations the run may still start
}

// newEnv sets up cfg's workload over clients (one per server), recording on
// the clock now (nanoseconds; the ttl workload's TTLs are in that unit).
func newEnv(cfg Config, clients []*grpcapi.Client, now func() int64) *env {
	e := &env{rec: chaos.NewRecorder(now), clients: clients, opTimeout: cfg.OpTimeout, setPrefix: "set/"}
	switch cfg.Workload {
	case WorkloadRegister:
		e.gen = &registerGen{pool: newKeyPool("r/", cfg.Keys, cfg.KeyOps, cfg.KeyIndeterminate)}
	case WorkloadTTL:
		e.gen = &ttlGen{pool: newKeyPool("t/", cfg.Keys, cfg.KeyOps, cfg.KeyIndeterminate)}
	default:
		e.gen = &setGen{prefix: e.setPrefix}
	}
	e.budget.Store(int64(cfg.MaxOps))
	return e
}

// drive runs n clients until stop closes, ctx ends or the budget is spent,
// and waits for them.
func (e *env) drive(ctx context.Context, n int, seed int64, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for i := range n {
		w := newWorker(i, e, seed)
		wg.Go(func() { w.loop(ctx, stop) })
	}
	wg.Wait()
}

// worker is one client: one operation in flight at a time, on a Batch
// stream to one server. After an indeterminate outcome it drops the stream
// (and with it the session: the abandoned operation may still be in
// flight) and opens a fresh one on the next server; the Recorder gives it a
// fresh porcupine process.
type worker struct {
	id     int
	e      *env
	rng    *rand.Rand
	node   int // index into e.clients
	bc     *grpcapi.BatchClient
	cancel context.CancelFunc // ends bc's stream
}

const (
	openTimeout = time.Second            // opening a stream (GetCluster, then the stream)
	retryPause  = 50 * time.Millisecond  // after a failed or indeterminate operation
	reopenPause = 100 * time.Millisecond // between failed attempts to open a stream
)

func newWorker(id int, e *env, seed int64) *worker {
	return &worker{id: id, e: e, rng: rand.New(rand.NewPCG(uint64(seed), uint64(id))), node: id % len(e.clients)}
}

// loop runs operations until stop closes, ctx ends, or the run's budget is
// spent. An operation in flight when stop closes is finished, not cut
// short.
func (w *worker) loop(ctx context.Context, stop <-chan struct{}) {
	defer w.closeStream()
	for !isDone(ctx, stop) {
		if w.bc == nil && !w.open(ctx, stop) {
			return
		}
		if w.e.budget.Add(-1) < 0 {
			return
		}
		o := w.e.gen.next(w.rng)
		outcome, out := w.do(ctx, o)
		w.e.gen.done(o, outcome, out)
		if outcome != chaos.OK {
			pause(ctx, stop, retryPause)
		}
	}
}

// do runs o, records it, and on an indeterminate outcome moves to a fresh
// stream on the next server.
func (w *worker) do(ctx context.Context, o op) (chaos.Outcome, chaos.Output) {
	h := w.e.rec.Invoke(w.id, o.kind, o.key, o.in)
	timeout := w.e.opTimeout
	if o.kind == chaos.Read {
		timeout *= 2 // a scan is many pages
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	out, err := w.exec(octx, o)
	cancel()
	outcome, condFailed := classify(err)
	if condFailed {
		if o.kind == chaos.CAS {
			out = chaos.Output{Swapped: false}
		} else {
			// Only CAS carries a condition; an unexpected answer
			// claims nothing.
			outcome = chaos.Indeterminate
		}
	}
	if outcome == chaos.OK {
		w.e.rec.Complete(h, out, chaos.OK)
	} else {
		w.e.rec.CompleteError(h, outcome, err)
	}
	if outcome == chaos.Indeterminate {
		w.closeStream()
		w.node = (w.node + 1) % len(w.e.clients)
	}
	return outcome, out
}

// exec sends o and turns the answer into the history's output.
func (w *worker) exec(ctx context.Context, o op) (chaos.Output, error) {
	key := []byte(o.storeKey)
	switch o.kind {
	case chaos.Get, chaos.TTLGet:
		r, err := w.bc.Get(ctx, &pb.GetRequest{Key: key})
		if err != nil {
			return chaos.Output{}, err
		}
		if !r.GetFound() {
			return chaos.Output{}, nil
		}
		return chaos.Output{Exists: true, Value: string(r.GetValue())}, nil
	case chaos.Put, chaos.Add:
		_, err := w.bc.Put(ctx, &pb.PutRequest{Key: key, Value: []byte(o.in.Value)})
		return chaos.Output{}, err
	case chaos.TTLPut:
		ms := max(time.Duration(o.in.TTL).Milliseconds(), 1)
		_, err := w.bc.Put(ctx, &pb.PutRequest{Key: key, Value: []byte(o.in.Value), TtlMs: ms})
		return chaos.Output{}, err
	case chaos.Delete:
		_, err := w.bc.Delete(ctx, &pb.DeleteRequest{Key: key})
		return chaos.Output{}, err
	case chaos.Swap:
		r, err := w.bc.Put(ctx, &pb.PutRequest{Key: key, Value: []byte(o.in.Value), ReturnPrev: true})
		if err != nil {
			return chaos.Output{}, err
		}
		if r.Prev == nil {
			return chaos.Output{}, nil
		}
		return chaos.Output{Exists: true, Value: string(r.Prev)}, nil
	case chaos.CAS:
		req := &pb.PutRequest{Key: key, Value: []byte(o.in.Value)}
		if o.in.ExpectAbsent {
			req.IfAbsent = true
		} else {
			req.IfValue = []byte(o.in.Expected)
		}
		_, err := w.bc.Put(ctx, req)
		return chaos.Output{Swapped: err == nil}, err
	case chaos.Read:
		var elems []string
		err := w.e.clients[w.node].ScanAll(ctx, &pb.ScanRequest{Prefix: []byte(w.e.setPrefix), Limit: 1000},
			func(kv *pb.KeyValue) error {
				elems = append(elems, strings.TrimPrefix(string(kv.GetKey()), w.e.setPrefix))
				return nil
			})
		if err != nil {
			return chaos.Output{}, err
		}
		sort.Strings(elems)
		if elems == nil {
			elems = []string{} // an empty set, read
		}
		return chaos.Output{Elements: elems}, nil
	}
	return chaos.Output{}, errUnknownKind
}

// open opens a Batch stream, trying the servers in turn, until one opens
// or stop closes or ctx ends.
func (w *worker) open(ctx context.Context, stop <-chan struct{}) bool {
	for !isDone(ctx, stop) {
		sctx, cancel := context.WithCancel(ctx)
		// NB: Batch asks the node for the cluster first, with the
		// stream's context; a paused node would hold it forever.
		t := time.AfterFunc(openTimeout, cancel)
		bc, err := w.e.clients[w.node].Batch(sctx)
		if t.Stop() && err == nil {
			w.bc, w.cancel = bc, cancel
			return true
		}
		cancel()
		if err == nil {
			bc.Close()
		}
		w.node = (w.node + 1) % len(w.e.clients)
		pause(ctx, stop, reopenPause)
	}
	return false
}

func (w *worker) closeStream() {
	if w.bc == nil {
		return
	}
	w.cancel() // first: Close waits for the stream to end, which a paused server never does
	w.bc.Close()
	w.bc, w.cancel = nil, nil
}

// final runs o until it succeeds or stop closes (a failed or
// indeterminate read is dropped by the checkers, so only a success counts).
func (w *worker) final(ctx context.Context, o op, stop <-chan struct{}) bool {
	for !isDone(ctx, stop) {
		if w.bc == nil && !w.open(ctx, stop) {
			return false
		}
		if outcome, _ := w.do(ctx, o); outcome == chaos.OK {
			return true
		}
		pause(ctx, stop, reopenPause)
	}
	return false
}

// runFinals runs the final reads on up to par workers with IDs from firstID,
// each starting on its own server, until deadline, and returns how many
// never succeeded.
func runFinals(ctx context.Context, e *env, ops []op, par, firstID int, seed int64, deadline time.Time) int {
	ch := make(chan op, len(ops))
	for _, o := range ops {
		ch <- o
	}
	close(ch)
	stop := make(chan struct{})
	t := time.AfterFunc(time.Until(deadline), func() { close(stop) })
	defer t.Stop()
	var failed atomic.Int64
	var wg sync.WaitGroup
	for j := range min(par, len(ops)) {
		w := newWorker(firstID+j, e, seed)
		w.node = j % len(e.clients)
		wg.Go(func() {
			defer w.closeStream()
			for o := range ch {
				if !w.final(ctx, o, stop) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

func isDone(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// pause waits d, or less if stop closes or ctx ends.
func pause(ctx context.Context, stop <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
	case <-ctx.Done():
	}
}
