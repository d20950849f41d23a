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

// Run validates cfg, connects, preloads when asked, runs the timed load
// and returns its figures. When ctx ends the run stops early and Run
// returns what completed, with Interrupted set; an error means nothing ran.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SlowNode != "" {
		undo, err := slowNode(ctx, cfg.SlowNode, cfg.SlowDelay, &cfg)
		if err != nil {
			return nil, fmt.Errorf("bench: --slow-node %s: %w", cfg.SlowNode, err)
		}
		defer undo()
	}
	cpu, cpuErr := newCPUSampler(ctx, &cfg)
	if cpuErr != nil && cfg.Metrics != MetricsAuto {
		return nil, fmt.Errorf("bench: %w", cpuErr)
	}
	cs, err := dial(ctx, &cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer cs.close()
	cfg.cpu = cpu
	res := runOn(ctx, cfg, cs.clients, cs.mode)
	if cpuErr != nil {
		// auto found nothing to read: the run went without CPU figures
		res.CPUNote = "server CPU not measured: " + cpuErr.Error()
	}
	return res, nil
}

// runOn is Run on conns already made, one per client: the seam where tests
// put conns of their own.
func runOn(ctx context.Context, cfg Config, conns []conn, mode string) *Result {
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = time.Second
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	value := make([]byte, cfg.ValueSize)
	_, _ = rand.Read(value)
	r := &runner{cfg: &cfg, conns: conns, value: value}
	res := &Result{Protocol: cfg.Protocol, Clients: cfg.Clients, Mode: mode, ReadRatio: cfg.ReadRatio, Rate: cfg.Rate}
	if cfg.preload() {
		res.Preloaded, res.PreloadErrors = r.preload(ctx)
	}
	var cpu0 float64
	var cpuErr error
	if cfg.cpu != nil {
		cpu0, cpuErr = cfg.cpu.sample(ctx)
	}
	if ctx.Err() == nil {
		r.run(ctx)
	}
	r.fill(res)
	if cfg.cpu != nil && cpuErr == nil {
		// NB: not ctx: an interrupted run still reports what it cost.
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		var cpu1 float64
		cpu1, cpuErr = cfg.cpu.sample(sctx)
		cancel()
		if cpuErr == nil {
			res.setCPU(cpu1-cpu0, len(cfg.cpu.addrs))
		}
	}
	if cpuErr != nil {
		res.CPUNote = "server CPU not measured: " + cpuErr.Error()
	}
	res.Interrupted = ctx.Err() != nil
	return res
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
	start   time.Time
	seconds float64
	// timeline is one Interval per progress tick; written by the progress
	// goroutine only, read after it stopped.
	timeline []Interval
}

type clientStats struct {
	mu struct {
		sync.Mutex
		reads, writes       *hdrhistogram.Histogram // successful requests only
		readErrs, writeErrs int64
		// window holds the latencies of the requests completed since the
		// last progress line, reads and writes together; the progress
		// reporter merges it and resets it (the same histogram, so the
		// hot path never allocates).
		window *hdrhistogram.Histogram
		// lastSend is when the client last sent a request that completed
		// (an op or an error); with a rate it dates the run's issue rate.
		lastSend time.Time
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

// run is the timed run: a closed loop, or with a rate an open one paced by
// a shared schedule.
func (r *runner) run(ctx context.Context) {
	r.stats = make([]*clientStats, len(r.conns))
	for i := range r.stats {
		s := &clientStats{}
		s.mu.reads, s.mu.writes, s.mu.window = newHistogram(), newHistogram(), newHistogram()
		r.stats[i] = s
	}
	var issued atomic.Int64
	r.start = time.Now()
	deadline := r.start.Add(r.cfg.Duration)
	var lastOps, lastErrs int64
	var last, span time.Duration // span: the interval the figures cover
	rate, p99 := 0.0, -1.0       // p99 < 0: nothing completed in the interval
	window := newHistogram()
	stop := r.progress(func(w progressWriter, elapsed time.Duration) {
		// The p99 is the interval's own (the requests completed since the
		// last line), so a line shows a change of latency when it happens,
		// which a cumulative p99 hides for long. NB: the last line may come
		// just after a tick; keep the figures of the last full interval
		// rather than divide by almost nothing or take a handful's p99.
		dt := elapsed - last
		full := dt >= r.cfg.ProgressInterval/2
		if full {
			window.Reset()
		}
		ops, errs := r.collect(full, window)
		if full {
			rate = float64(ops-lastOps) / dt.Seconds()
			p99 = -1
			iv := Interval{At: round(elapsed.Seconds(), 3), Throughput: round(rate, 1), Errors: errs - lastErrs}
			if window.TotalCount() > 0 {
				p99 = float64(window.ValueAtQuantile(99)) / 1000
				iv.P50 = float64(window.ValueAtQuantile(50)) / 1000
				iv.P99 = p99
			}
			r.timeline = append(r.timeline, iv)
			lastOps, lastErrs, last, span = ops, errs, elapsed, dt
		}
		p99s := "-"
		if p99 >= 0 {
			p99s = fmt.Sprintf("%.3f", p99)
		}
		w.line(fmt.Sprintf("%5.1fs  %9.0f ops/s  %d ops  %d errors  p99 %s ms (last %s)",
			elapsed.Seconds(), rate, ops, errs, p99s, intervalString(span)))
	})
	var wg sync.WaitGroup
	for i, c := range r.conns {
		wg.Go(func() { r.client(ctx, i, c, &issued, deadline) })
	}
	wg.Wait()
	r.seconds = time.Since(r.start).Seconds()
	stop()
}

// intervalString is d for a progress line to two or three figures, so that
// a tick's jitter does not show: "1.0s", "250ms", "5ms".
func intervalString(d time.Duration) string {
	switch {
	case d >= 995*time.Millisecond: // NB: 999ms reads "1.0s" like its neighbours
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= 100*time.Millisecond:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

// due is how long after the start request k of a run paced at rate per
// second is due.
func due(k int64, rate float64) time.Duration {
	// NB: float to Duration overflows past 292 years; no run lasts that.
	return time.Duration(min(float64(k)/rate*float64(time.Second), 1<<62))
}

// client is one client: one request at a time until the run's requests are
// all issued, the deadline passes or ctx ends. Without a rate it sends the
// next request as soon as the last one answers; with one it takes the next
// request number k from issued and waits until request k is due.
func (r *runner) client(ctx context.Context, i int, c conn, issued *atomic.Int64, deadline time.Time) {
	ch := newChooser(r.cfg.Seed, i, r.cfg)
	st := r.stats[i]
	pace := r.cfg.Rate > 0
	var timer *time.Timer
	if pace {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	for ctx.Err() == nil {
		k := issued.Add(1) - 1
		if r.cfg.Requests > 0 && k >= r.cfg.Requests {
			return
		}
		now := time.Now()
		if r.cfg.Requests == 0 && !now.Before(deadline) {
			return
		}
		t0 := now
		if pace {
			// The intended start: the latency counts from here, not from
			// the send, so a client that fell behind (a slow answer held
			// it up) charges the wait to the request it delayed, as wrk2
			// does (coordinated omission).
			t0 = r.start.Add(due(k, r.cfg.Rate))
			if r.cfg.Requests == 0 && !t0.Before(deadline) {
				return
			}
			if wait := t0.Sub(now); wait > 0 {
				timer.Reset(wait) // NB: since Go 1.23 a stopped timer needs no draining
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}
		read, key := ch.next()
		octx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		sent := time.Now()
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
			record(st.mu.window, took)
		case err == nil:
			record(st.mu.writes, took)
			record(st.mu.window, took)
		case read:
			st.mu.readErrs++
		default:
			st.mu.writeErrs++
		}
		st.mu.lastSend = sent
		st.mu.Unlock()
		if err != nil {
			r.noteError(err)
		}
	}
}

// collect returns the ops and errors so far and, when reset is set, merges
// every client's window into window and empties it.
func (r *runner) collect(reset bool, window *hdrhistogram.Histogram) (ops, errs int64) {
	for _, s := range r.stats {
		s.mu.Lock()
		ops += s.mu.reads.TotalCount() + s.mu.writes.TotalCount()
		errs += s.mu.readErrs + s.mu.writeErrs
		if reset {
			window.Merge(s.mu.window)
			s.mu.window.Reset()
		}
		s.mu.Unlock()
	}
	return ops, errs
}

// fill sets res's figures from the finished run.
func (r *runner) fill(res *Result) {
	reads, writes, all := newHistogram(), newHistogram(), newHistogram()
	var readErrs, writeErrs int64
	var lastSend time.Time
	for _, s := range r.stats {
		s.mu.Lock()
		reads.Merge(s.mu.reads)
		writes.Merge(s.mu.writes)
		readErrs += s.mu.readErrs
		writeErrs += s.mu.writeErrs
		if s.mu.lastSend.After(lastSend) {
			lastSend = s.mu.lastSend
		}
		s.mu.Unlock()
	}
	all.Merge(reads)
	all.Merge(writes)
	res.Seconds = round(r.seconds, 3)
	res.Side = sideOf(all, readErrs+writeErrs, r.seconds)
	res.Reads = sideOf(reads, readErrs, r.seconds)
	res.Writes = sideOf(writes, writeErrs, r.seconds)
	if n := res.Ops + res.Errors; r.cfg.Rate > 0 && n > 0 {
		// NB: n requests sent on schedule span (n-1)/rate seconds; adding
		// one period makes a run that kept up come out at the rate.
		span := lastSend.Sub(r.start).Seconds() + 1/r.cfg.Rate
		res.IssueRate = round(float64(n)/span, 1)
	}
	r.errMu.Lock()
	res.ErrorSamples = r.errLog.sorted()
	r.errMu.Unlock()
	res.Timeline = r.timeline
	res.Distribution = distribution(all)
}
