package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cairnkv/cairn/client"
)

// ErrConfig marks an error from Config.Validate: a usage error.
var ErrConfig = errors.New("bench: invalid configuration")

// Protocols and read modes as the flags spell them.
const (
	ProtocolGRPC = "grpc"
	ProtocolRESP = "resp"

	ReadLinearizable = "linearizable"
	ReadFollower     = "follower"
	ReadStale        = "stale"
)

// Preload says whether the key space is written once before the timed run.
type Preload int

const (
	// PreloadAuto preloads when ReadRatio > 0: a read load should find
	// the keys it reads.
	PreloadAuto Preload = iota
	PreloadOn
	PreloadOff
)

// Config is one bench run. DefaultConfig holds the flag defaults.
type Config struct {
	// Protocol is "grpc" or "resp" (--protocol). Default grpc: the door the
	// Go client uses.
	Protocol string
	// Endpoints are gRPC addresses for grpc and RESP addresses for resp
	// (--endpoints). With grpc they are where the client first asks for the
	// routing table; requests then go to each key's leader (writes,
	// linearizable reads) or to a replica the --balance policy chooses
	// (follower, stale reads). With resp client i uses Endpoints[i % len].
	// Default 127.0.0.1:7379.
	Endpoints []string
	// Clients is the number of concurrent clients, each with one request
	// in flight at most (--clients). Default 64: the figure the Speed issue
	// compares with etcd.
	Clients int
	// Rate > 0 paces the run at Rate requests per second, all clients
	// together (--rate): request k is due at start + k/Rate, a client takes
	// the next k and waits until it is due, and the request's latency counts
	// from then, not from when it was sent, so that a client held up by a
	// slow answer charges the wait to the requests it delayed (coordinated
	// omission corrected, as wrk2 does). Clients too few or a cluster too
	// slow for the rate show as Result.IssueRate below it. Default 0: no
	// pacing, a closed loop that sends each client's next request as soon
	// as the last one answers, which measures the most the clients get.
	Rate float64
	// Duration of the timed run (--duration), ignored when Requests > 0.
	// Default 10s: long enough for a stable p99 at tens of thousands of ops/s.
	Duration time.Duration
	// Requests > 0 ends the run after that many requests in all, counted
	// or failed (--requests). Default 0: run for Duration.
	Requests int64
	// Keys is the size of the key space (--keys). Default 100000.
	Keys int
	// KeySize is every key's exact length in bytes (--key-size); it must
	// hold Keys-1 in decimal. Default 8, as etcd's benchmark.
	KeySize int
	// ValueSize is every written value's length (--value-size). Default 256.
	ValueSize int
	// ReadRatio is the share of reads, 0..1 (--read-ratio). Default 0: writes.
	ReadRatio float64
	// ReadMode is linearizable, follower or stale (--read-mode). Default
	// linearizable. Only linearizable with resp.
	ReadMode string
	// Balance is the policy (internal/balance) with which the grpc client
	// chooses an entry node when a leader is unknown and the replica of a
	// follower or stale read (--balance). Default round-robin.
	Balance string
	// SlowNode, when set, is the gRPC address of a node started with
	// --fault-injection that answers every request SlowDelay late for the
	// run (--slow-node ADDR=DELAY), so balancing policies can be compared
	// where they differ.
	SlowNode  string
	SlowDelay time.Duration
	// Batch makes the grpc clients share one Go client whose requests are
	// multiplexed on Batch streams, instead of one Go client each making
	// unary calls, as separate processes would (--batch). Default true: the
	// fast path the Speed issue asks for.
	Batch bool
	// Streams is the number of Batch streams per node with --batch, each on
	// its own connection (--streams). Default 4: enough to keep both cores
	// of a small node busy, few enough that requests still batch.
	Streams int
	// Preload (--preload): default PreloadAuto.
	Preload Preload
	// Timeout bounds every request (--timeout). Default 5s: above the
	// server's 2s request timeout, so the server's answer is what counts.
	Timeout time.Duration
	// Progress receives the progress lines; nil: none. Terminal makes it
	// one line redrawn in place, else a plain line every ProgressInterval
	// with the time of day: a time series of ops/s and p99.
	Progress io.Writer
	Terminal bool
	// ProgressInterval is the time between progress lines, and the window
	// of each line's ops/s and p99 (--progress-interval). Default 1s (0
	// also means 1s): a line a second reads well live and in a log.
	ProgressInterval time.Duration
	// Metrics says whose CPU time the run reports (--metrics): HTTP
	// addresses of the servers, whose /metrics (process_cpu_seconds_total)
	// are read just before and just after the timed load, so the result
	// carries the servers' CPU seconds and CPU microseconds per operation
	// — the figure the Speed issue steers by. MetricsAuto (the default)
	// takes every node's advertised HTTP address from the cluster view
	// (grpc only; nothing with resp); "none" turns it off.
	Metrics string
	cpu     *cpuSampler // resolved from Metrics by Run
	// Seed seeds the key and read/write choices; 0: a fixed seed (runs are
	// then comparable).
	Seed uint64
	// TLS, when set, makes every connection TLS (--cacert/--cert/--key):
	// the RESP and gRPC doors, and the /metrics reads (https). Nil:
	// plaintext.
	TLS *tls.Config
	// User and Password log in on a cluster with users (--user,
	// --password-file): AUTH on RESP, per-RPC credentials on gRPC, basic
	// auth on /metrics. Empty User: no login.
	User, Password string
}

// DefaultConfig returns the defaults of the flags.
func DefaultConfig() Config {
	return Config{
		Protocol:         ProtocolGRPC,
		Endpoints:        []string{"127.0.0.1:7379"},
		Clients:          64,
		Duration:         10 * time.Second,
		Keys:             100000,
		KeySize:          8,
		ValueSize:        256,
		ReadMode:         ReadLinearizable,
		Balance:          client.DefaultBalance,
		Batch:            true,
		Streams:          4,
		Timeout:          5 * time.Second,
		ProgressInterval: time.Second,
		Metrics:          MetricsAuto,
	}
}

// Validate rejects bad values and combinations, naming the flag.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch c.Protocol {
	case ProtocolGRPC, ProtocolRESP:
	default:
		return bad("--protocol %q: want grpc or resp", c.Protocol)
	}
	if len(c.Endpoints) == 0 {
		return bad("--endpoints: give at least one address")
	}
	for _, e := range c.Endpoints {
		if strings.TrimSpace(e) == "" {
			return bad("--endpoints %q: an address is empty", strings.Join(c.Endpoints, ","))
		}
	}
	if c.Clients < 1 {
		return bad("--clients %d: want at least 1", c.Clients)
	}
	if c.Requests < 0 {
		return bad("--requests %d: want 0 (use --duration) or more", c.Requests)
	}
	if c.Requests == 0 && c.Duration <= 0 {
		return bad("--duration %s: want > 0, or set --requests", c.Duration)
	}
	if !(c.Rate >= 0) || math.IsInf(c.Rate, 1) {
		return bad("--rate %v: want requests per second, or 0 for no pacing", c.Rate)
	}
	if c.ProgressInterval < 0 {
		return bad("--progress-interval %s: want > 0", c.ProgressInterval)
	}
	if c.Keys < 1 {
		return bad("--keys %d: want at least 1", c.Keys)
	}
	if need := keyDigits(c.Keys); c.KeySize < need {
		return bad("--key-size %d cannot hold %d distinct keys: want at least %d, or fewer --keys", c.KeySize, c.Keys, need)
	}
	if c.ValueSize < 0 {
		return bad("--value-size %d: want 0 or more", c.ValueSize)
	}
	if !(c.ReadRatio >= 0 && c.ReadRatio <= 1) {
		return bad("--read-ratio %v: want 0..1", c.ReadRatio)
	}
	switch c.ReadMode {
	case ReadLinearizable:
	case ReadFollower, ReadStale:
		if c.Protocol == ProtocolRESP {
			return bad("--read-mode %s: the RESP door serves linearizable reads only; use --protocol grpc", c.ReadMode)
		}
	default:
		return bad("--read-mode %q: want linearizable, follower or stale", c.ReadMode)
	}
	if !slices.Contains(client.BalancePolicies(), c.Balance) {
		return bad("--balance %q: want one of %s", c.Balance, strings.Join(client.BalancePolicies(), ", "))
	}
	if c.Protocol == ProtocolGRPC && c.Batch && c.Streams < 1 {
		return bad("--streams %d: want at least 1", c.Streams)
	}
	if c.Timeout <= 0 {
		return bad("--timeout %s: want > 0", c.Timeout)
	}
	if c.SlowNode != "" && (c.SlowDelay <= 0 || c.SlowDelay > time.Minute) {
		return bad("--slow-node %s=%s: want a delay in (0, 1m]", c.SlowNode, c.SlowDelay)
	}
	return nil
}

// preload reports whether the run preloads.
func (c *Config) preload() bool {
	switch c.Preload {
	case PreloadOn:
		return true
	case PreloadOff:
		return false
	}
	return c.ReadRatio > 0
}
