package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Run validates cfg, connects, preloads when asked, runs the closed loop
// and returns its figures. When ctx ends the run stops early and Run
// returns what completed, with Interrupted set; an error means nothing ran.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = time.Second
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.SlowNode != "" {
		undo, err := slowNode(ctx, cfg.SlowNode, cfg.SlowDelay)
		if err != nil {
			return nil, fmt.Errorf("bench: --slow-node %s: %w", cfg.SlowNode, err)
		}
		defer undo()
	}
	cs, err := dial(ctx, &cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer cs.close()

	value := make([]byte, cfg.ValueSize)
	_, _ = rand.Read(value)
	r := &runner{cfg: &cfg, conns: cs.clients, value: value}
	res := &Result{Protocol: cfg.Protocol, Clients: cfg.Clients, Mode: cs.mode, ReadRatio: cfg.ReadRatio}
	if cfg.preload() {
		res.Preloaded, res.PreloadErrors = r.preload(ctx)
	}
	if ctx.Err() == nil {
		r.run(ctx)
	}
	r.fill(res)
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

// runner is one run. The clients' goroutines each own a clientStats; the
// progress reporter reads them under their locks.
type runner struct {
	cfg   *Config
	conns []conn
	value []byte // shared by every write; never modified
	stats []*clientStats

	errMu   sync.Mutex
	errLog  errorLog // guarded by errMu
	seconds float64
}

type clientStats struct {
	mu struct {
		sync.Mutex
		reads, writes       *hdrhistogram.Histogram // successful requests only
		readErrs, writeErrs int64
	}
}

func (r *runner) noteError(err error) {
	r.errMu.Lock()
	r.errLog.add(err.Error())
	r.errMu.Unlock()
}

// preload writes every key once, Clients at a time, and reports how many
// writes succeeded and failed. Nothing of it is counted in the run.
func (r *runner) preload(ctx context.Context) (ok, failed int64) {
	var next, okN, failN atomic.Int64
	keys := int64(r.cfg.Keys)
	stop := r.progress(func(w progressWriter, _ time.Duration) {
		w.line(fmt.Sprintf("preload %d/%d keys, %d errors", okN.Load()+failN.Load(), keys, failN.Load()))
	})
	var wg sync.WaitGroup
	for _, c := range r.conns {
		wg.Go(func() {
			key := make([]byte, 0, r.cfg.KeySize)
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= keys {
					return
				}
				key = AppendKey(key[:0], int(i), r.cfg.KeySize)
				octx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
				err := c.put(octx, key, r.value)
				cancel()
				switch {
				case err == nil:
					okN.Add(1)
				case ctx.Err() == nil:
					failN.Add(1)
					r.noteError(fmt.Errorf("preload: %w", err))
				}
			}
		})
	}
	wg.Wait()
	stop()
	return okN.Load(), failN.Load()
}

// run is the timed closed loop.
func (r *runner) run(ctx context.Context) {
	r.stats = make([]*clientStats, len(r.conns))
	for i := range r.stats {
		s := &clientStats{}
		s.mu.reads, s.mu.writes = newHistogram(), newHistogram()
		r.stats[i] = s
	}
	var issued atomic.Int64
	start := time.Now()
	deadline := start.Add(r.cfg.Duration)
	var lastOps int64
	var last time.Duration
	var rate float64
	merged := newHistogram()
	stop := r.progress(func(w progressWriter, elapsed time.Duration) {
		merged.Reset()
		ops, errs := r.collect(merged, merged)
		// NB: the last line may come just after a tick; keep the rate of
		// the last full interval rather than divide by almost nothing.
		if dt := elapsed - last; dt >= r.cfg.ProgressInterval/2 {
			rate = float64(ops-lastOps) / dt.Seconds()
			lastOps, last = ops, elapsed
		}
		w.line(fmt.Sprintf("%5.1fs  %9.0f ops/s  %d ops  %d errors  p99 %.3f ms",
			elapsed.Seconds(), rate, ops, errs, float64(merged.ValueAtQuantile(99))/1000))
	})
	var wg sync.WaitGroup
	for i, c := range r.conns {
		wg.Go(func() { r.client(ctx, i, c, &issued, deadline) })
	}
	wg.Wait()
	r.seconds = time.Since(start).Seconds()
	stop()
}

// client is one closed-loop client: one request at a time until the run's
// requests are all issued, the deadline passes or ctx ends.
func (r *runner) client(ctx context.Context, i int, c conn, issued *atomic.Int64, deadline time.Time) {
	ch := newChooser(r.cfg.Seed, i, r.cfg)
	st := r.stats[i]
	for ctx.Err() == nil {
		if r.cfg.Requests > 0 {
			if issued.Add(1) > r.cfg.Requests {
				return
			}
		} else if !time.Now().Before(deadline) {
			return
		}
		read, key := ch.next()
		octx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		t0 := time.Now()
		var err error
		if read {
			err = c.get(octx, key)
		} else {
			err = c.put(octx, key, r.value)
		}
		took := time.Since(t0)
		cancel()
		if err != nil && ctx.Err() != nil {
			return // cut short by the end of the run: neither an op nor an error
		}
		st.mu.Lock()
		switch {
		case err == nil && read:
			record(st.mu.reads, took)
		case err == nil:
			record(st.mu.writes, took)
		case read:
			st.mu.readErrs++
		default:
			st.mu.writeErrs++
		}
		st.mu.Unlock()
		if err != nil {
			r.noteError(err)
		}
	}
}

// collect merges every client's histograms into reads and writes (which
// may be the same histogram) and returns the ops and errors so far.
func (r *runner) collect(reads, writes *hdrhistogram.Histogram) (ops, errs int64) {
	for _, s := range r.stats {
		s.mu.Lock()
		reads.Merge(s.mu.reads)
		writes.Merge(s.mu.writes)
		ops += s.mu.reads.TotalCount() + s.mu.writes.TotalCount()
		errs += s.mu.readErrs + s.mu.writeErrs
		s.mu.Unlock()
	}
	return ops, errs
}

// fill sets res's figures from the finished run.
func (r *runner) fill(res *Result) {
	reads, writes, all := newHistogram(), newHistogram(), newHistogram()
	var readErrs, writeErrs int64
	for _, s := range r.stats {
		s.mu.Lock()
		reads.Merge(s.mu.reads)
		writes.Merge(s.mu.writes)
		readErrs += s.mu.readErrs
		writeErrs += s.mu.writeErrs
		s.mu.Unlock()
	}
	all.Merge(reads)
	all.Merge(writes)
	res.Seconds = round(r.seconds, 3)
	res.Side = sideOf(all, readErrs+writeErrs, r.seconds)
	res.Reads = sideOf(reads, readErrs, r.seconds)
	res.Writes = sideOf(writes, writeErrs, r.seconds)
	r.errMu.Lock()
	res.ErrorSamples = r.errLog.sorted()
	r.errMu.Unlock()
}
