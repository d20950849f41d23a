package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/api/apitest"
	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/api/resp"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster is one in-process backend behind both a gRPC and a RESP door.
type cluster struct {
	b    *apitest.Backend
	grpc string
	resp string
}

func start(t *testing.T) *cluster {
	t.Helper()
	b := apitest.New(8)
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	grpcapi.New(grpcapi.Config{Backend: b}).Register(gs)
	gdone := make(chan struct{})
	go func() { defer close(gdone); _ = gs.Serve(gl) }()

	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := resp.New(resp.Config{Backend: b})
	rdone := make(chan error, 1)
	go func() { rdone <- rs.Serve(rl) }()
	t.Cleanup(func() {
		gs.Stop()
		<-gdone
		if err := rs.Close(); err != nil {
			t.Errorf("resp Close: %v", err)
		}
		if err := <-rdone; err != nil {
			t.Errorf("resp Serve: %v", err)
		}
	})
	return &cluster{b: b, grpc: gl.Addr().String(), resp: rl.Addr().String()}
}

// value reads key straight from the backend.
func (c *cluster) value(t *testing.T, key []byte) ([]byte, bool) {
	t.Helper()
	rep, err := c.b.Read(context.Background(), c.b.Partition(key), replica.Linearizable, kv.GetQuery(key))
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return rep.Responses[0].Value, rep.Responses[0].Code == kv.CodeOK
}

type door struct {
	name  string
	proto string
	batch bool
}

var doors = []door{{"grpc-batch", ProtocolGRPC, true}, {"grpc-unary", ProtocolGRPC, false}, {"resp", ProtocolRESP, false}}

func (d door) config(c *cluster) Config {
	cfg := DefaultConfig()
	cfg.Protocol, cfg.Batch = d.proto, d.batch
	cfg.Endpoints = []string{c.grpc}
	if d.proto == ProtocolRESP {
		cfg.Endpoints = []string{c.resp}
	}
	cfg.Clients = 8
	cfg.Streams = 2
	cfg.Requests = 2000
	cfg.Keys = 500
	cfg.ValueSize = 64
	return cfg
}

// The JSON's field names, exactly as DESIGN.md fixes them.
var (
	topKeys     = []string{"clients", "errors", "latency_ms", "ops", "protocol", "reads", "seconds", "throughput", "writes"}
	sideKeys    = []string{"errors", "latency_ms", "ops", "throughput"}
	latencyKeys = []string{"max", "p50", "p90", "p99", "p999"}
)

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// checkShape decodes line as DESIGN.md's shape and returns it.
func checkShape(t *testing.T, line []byte) map[string]any {
	t.Helper()
	if n := bytes.Count(line, []byte("\n")); n != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("JSON output is not one line: %q", line)
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
	if got := keysOf(m); !slices.Equal(got, topKeys) {
		t.Fatalf("top-level keys %v, want %v", got, topKeys)
	}
	for _, side := range []string{"", "reads", "writes"} {
		s := m
		if side != "" {
			var ok bool
			if s, ok = m[side].(map[string]any); !ok {
				t.Fatalf("%q is %T, want an object", side, m[side])
			}
			if got := keysOf(s); !slices.Equal(got, sideKeys) {
				t.Fatalf("%s keys %v, want %v", side, got, sideKeys)
			}
		}
		l, ok := s["latency_ms"].(map[string]any)
		if !ok {
			t.Fatalf("%s latency_ms is %T, want an object", side, s["latency_ms"])
		}
		if got := keysOf(l); !slices.Equal(got, latencyKeys) {
			t.Fatalf("%s latency_ms keys %v, want %v", side, got, latencyKeys)
		}
	}
	return m
}

func TestRun(t *testing.T) {
	c := start(t)
	for _, d := range doors {
		for _, ratio := range []float64{0, 0.5, 1} {
			t.Run(fmt.Sprintf("%s/read=%v", d.name, ratio), func(t *testing.T) {
				cfg := d.config(c)
				cfg.ReadRatio = ratio
				cfg.Seed = uint64(ratio*10) + 1
				var progress bytes.Buffer
				cfg.Progress, cfg.ProgressInterval = &progress, time.Millisecond
				res, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if res.Ops != cfg.Requests || res.Errors != 0 {
					t.Fatalf("ops %d errors %d (%v), want %d and 0", res.Ops, res.Errors, res.ErrorSamples, cfg.Requests)
				}
				if res.Reads.Ops+res.Writes.Ops != res.Ops {
					t.Fatalf("reads %d + writes %d != ops %d", res.Reads.Ops, res.Writes.Ops, res.Ops)
				}
				if res.Interrupted || res.Seconds <= 0 || res.Throughput <= 0 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P999 {
					t.Fatalf("implausible result %+v", res)
				}
				switch ratio {
				case 0:
					if res.Reads != (Side{}) {
						t.Fatalf("write-only run has reads %+v, want all zero", res.Reads)
					}
				case 1:
					if res.Writes != (Side{}) {
						t.Fatalf("read-only run has writes %+v, want all zero", res.Writes)
					}
				default:
					if res.Reads.Ops == 0 || res.Writes.Ops == 0 {
						t.Fatalf("mixed run: reads %d writes %d, want both", res.Reads.Ops, res.Writes.Ops)
					}
				}

				var out bytes.Buffer
				if err := res.WriteJSON(&out); err != nil {
					t.Fatal(err)
				}
				m := checkShape(t, out.Bytes())
				if m["protocol"] != cfg.Protocol || m["ops"] != float64(cfg.Requests) || m["clients"] != float64(cfg.Clients) {
					t.Fatalf("JSON %s does not match the result", out.Bytes())
				}
				zero := map[string]any{"p50": 0.0, "p90": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0}
				for _, side := range []string{"reads", "writes"} {
					s := m[side].(map[string]any)
					if s["ops"] == 0.0 && fmt.Sprint(s["latency_ms"]) != fmt.Sprint(zero) {
						t.Fatalf("%s has no ops but latencies %v", side, s["latency_ms"])
					}
				}

				if ratio > 0 { // the preload wrote every key
					if res.Preloaded != int64(cfg.Keys) || res.PreloadErrors != 0 {
						t.Fatalf("preloaded %d keys with %d errors, want %d and 0", res.Preloaded, res.PreloadErrors, cfg.Keys)
					}
					for i := range cfg.Keys {
						key := AppendKey(nil, i, cfg.KeySize)
						if v, ok := c.value(t, key); !ok || len(v) != cfg.ValueSize {
							t.Fatalf("key %q after preload: found %v, %d bytes; want %d", key, ok, len(v), cfg.ValueSize)
						}
					}
				} else if res.Preloaded != 0 {
					t.Fatalf("write-only run preloaded %d keys", res.Preloaded)
				}
				if !strings.Contains(progress.String(), "ops/s") && !strings.Contains(progress.String(), "preload") {
					t.Logf("no progress line in %v (the run may be shorter than a tick)", res.Seconds)
				}

				if len(res.Distribution) != len(reportQuantiles) {
					t.Fatalf("distribution %v, want %d percentiles", res.Distribution, len(reportQuantiles))
				}
				for i := 1; i < len(res.Distribution); i++ {
					if res.Distribution[i].Ms < res.Distribution[i-1].Ms {
						t.Fatalf("distribution not monotone: %v", res.Distribution)
					}
				}
				var page bytes.Buffer
				if err := res.WriteHTML(&page, nil); err != nil || !strings.Contains(page.String(), "<svg") {
					t.Fatalf("WriteHTML: %v, %d bytes", err, page.Len())
				}

				var table bytes.Buffer
				if err := res.WriteTable(&table); err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{"all", "reads", "writes", "p99.9 ms", fmt.Sprint(res.Ops)} {
					if !strings.Contains(table.String(), want) {
						t.Fatalf("table lacks %q:\n%s", want, table.String())
					}
				}
			})
		}
	}
}

// Every read mode and balancing policy works through the Go client.
func TestReadModesAndPolicies(t *testing.T) {
	c := start(t)
	for _, mode := range []string{ReadLinearizable, ReadFollower, ReadStale} {
		for _, policy := range client.BalancePolicies() {
			t.Run(mode+"/"+policy, func(t *testing.T) {
				cfg := doors[0].config(c)
				cfg.ReadMode, cfg.Balance, cfg.ReadRatio = mode, policy, 0.9
				cfg.Requests, cfg.Keys = 200, 50
				res, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if res.Ops != cfg.Requests || res.Errors != 0 || res.Reads.Ops == 0 {
					t.Fatalf("ops %d (reads %d) errors %d (%v), want %d reads and writes, no errors",
						res.Ops, res.Reads.Ops, res.Errors, res.ErrorSamples, cfg.Requests)
				}
				if !strings.Contains(res.Mode, policy) {
					t.Fatalf("mode %q does not name the policy %s", res.Mode, policy)
				}
			})
		}
	}
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestRefusedEndpointCountsErrors(t *testing.T) {
	for _, d := range doors {
		t.Run(d.name, func(t *testing.T) {
			cfg := d.config(&cluster{grpc: refusedAddr(t), resp: refusedAddr(t)})
			cfg.Requests = 200
			cfg.Clients = 4
			cfg.Timeout = 2 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if ctx.Err() != nil {
				t.Fatal("the run against a refusing endpoint did not end within 30s")
			}
			if res.Ops != 0 || res.Errors != cfg.Requests || res.Writes.Errors != cfg.Requests {
				t.Fatalf("ops %d errors %d (writes %d), want 0 and %d", res.Ops, res.Errors, res.Writes.Errors, cfg.Requests)
			}
			if res.Latency != (Latency{}) {
				t.Fatalf("failed requests reached the latencies: %+v", res.Latency)
			}
			if len(res.ErrorSamples) == 0 || !strings.Contains(res.ErrorSamples[0].Message, "refused") {
				t.Fatalf("error samples %+v, want a connection refused", res.ErrorSamples)
			}
			var buf bytes.Buffer
			res.WriteErrors(&buf)
			if !strings.Contains(buf.String(), "errors: 200") {
				t.Fatalf("WriteErrors wrote %q", buf.String())
			}
			if d.proto == ProtocolRESP {
				// NB: go-redis probes a failing address from a goroutine that
				// sleeps 1s between tries and notices Close only then.
				waitGone(t, "pool.(*ConnPool).tryDial", 10*time.Second)
			}
		})
	}
}

// waitGone waits until no goroutine has fn on its stack.
func waitGone(t *testing.T, fn string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte(fn)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine in %s still runs after %s", fn, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCancelEndsRunWithSummary(t *testing.T) {
	c := start(t)
	for _, d := range doors {
		t.Run(d.name, func(t *testing.T) {
			cfg := d.config(c)
			cfg.Requests = 0
			cfg.Duration = time.Hour
			ctx, cancel := context.WithCancel(context.Background())
			// Cancel once the run has made progress: the progress callback
			// sees ops > 0.
			cfg.ProgressInterval = time.Millisecond
			cfg.Progress = cancelWriter{cancel}
			done := make(chan struct{})
			var res *Result
			var err error
			go func() { defer close(done); res, err = Run(ctx, cfg) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cancel()
				<-done
				t.Fatal("Run did not end within 30s of starting an hour-long run cancelled on its first progress")
			}
			if err != nil {
				t.Fatal(err)
			}
			if !res.Interrupted || res.Errors != 0 || res.Seconds <= 0 || res.Seconds > 30 {
				t.Fatalf("interrupted %v errors %d (%v) seconds %v; want interrupted, no errors from the cut-short requests",
					res.Interrupted, res.Errors, res.ErrorSamples, res.Seconds)
			}
		})
	}
}

// cancelWriter cancels on the first progress line that reports ops.
type cancelWriter struct{ cancel context.CancelFunc }

func (w cancelWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("ops/s")) && !bytes.Contains(p, []byte(" 0 ops ")) {
		w.cancel()
	}
	return len(p), nil
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		flag string
	}{
		{"protocol", func(c *Config) { c.Protocol = "http" }, "--protocol"},
		{"no endpoints", func(c *Config) { c.Endpoints = nil }, "--endpoints"},
		{"empty endpoint", func(c *Config) { c.Endpoints = []string{"a:1", ""} }, "--endpoints"},
		{"clients", func(c *Config) { c.Clients = 0 }, "--clients"},
		{"duration", func(c *Config) { c.Duration = 0 }, "--duration"},
		{"requests", func(c *Config) { c.Requests = -1 }, "--requests"},
		{"keys", func(c *Config) { c.Keys = 0 }, "--keys"},
		{"key size too small", func(c *Config) { c.KeySize = 4 }, "--key-size"},
		{"value size", func(c *Config) { c.ValueSize = -1 }, "--value-size"},
		{"read ratio", func(c *Config) { c.ReadRatio = 1.5 }, "--read-ratio"},
		{"read ratio NaN", func(c *Config) { c.ReadRatio = nan() }, "--read-ratio"},
		{"read mode", func(c *Config) { c.ReadMode = "eventual" }, "--read-mode"},
		{"resp follower", func(c *Config) { c.Protocol, c.ReadMode = ProtocolRESP, ReadFollower }, "--read-mode"},
		{"streams", func(c *Config) { c.Streams = 0 }, "--streams"},
		{"balance", func(c *Config) { c.Balance = "fastest" }, "--balance"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "--timeout"},
		{"rate", func(c *Config) { c.Rate = -1 }, "--rate"},
		{"rate NaN", func(c *Config) { c.Rate = nan() }, "--rate"},
		{"rate infinite", func(c *Config) { c.Rate = math.Inf(1) }, "--rate"},
		{"progress interval", func(c *Config) { c.ProgressInterval = -time.Second }, "--progress-interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("Validate() = %v, want ErrConfig naming %s", err, tc.flag)
			}
		})
	}
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg.Duration, cfg.Requests = 0, 10 // --requests alone is enough
	if err := cfg.Validate(); err != nil {
		t.Fatalf("--requests without --duration: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }
