package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/bench"
	"github.com/cairnkv/cairn/internal/report"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency with a closed-loop or paced load",
		Long: `Run --clients clients against a cluster for --duration or --requests,
each issuing one request at a time: a read with probability --read-ratio,
else a write of --value-size bytes, on a key drawn uniformly from --keys
keys of exactly --key-size bytes. With reads, the key space is first
written once (--preload; not counted).

Without --rate the load is a closed loop: each client sends its next request
as soon as the last one answers, which finds the most the clients get. With
--rate N the clients together send N requests per second on a fixed
schedule (request k is due k/N seconds after the start; a free client takes
the next one and waits until it is due), and a request's latency is measured
from its intended start, not from when it was sent: a client held up by a
slow answer charges the wait to the requests it delayed, correcting
coordinated omission as wrk2 does. If the clients cannot keep up, the
summary's "sent at" rate falls below N and a warning says so on stderr; add
--clients.

With --protocol grpc the clients use the Go client: --endpoints are where it
first fetches the routing table, and every write and linearizable read then
goes straight to its key's leader (no node forwards it); follower and stale
reads go to a replica the --balance policy chooses, as does a request whose
leader is unknown. With --batch (the default) all clients share one Go
client multiplexing Batch streams (--streams per node); --batch=false gives
each client its own Go client making unary calls. With --protocol resp,
--endpoints are RESP addresses and client i uses the i-th (round-robin).

Progress goes to stderr every --progress-interval: the current ops/s and the
p99 of the requests completed in that interval. When stderr is not a
terminal it is one line per interval with the time of day, a time series
(2>progress.log) in which a change of latency shows when it happens.

The summary (throughput, p50/p90/p99/p99.9/max for all requests, reads and
writes; failed requests counted apart) goes to stdout, as a table or, with
-o json, as one JSON line. With --protocol grpc it also gives the servers'
CPU time over the run and CPU microseconds per operation (server_cpu_seconds,
cpu_us_per_op), read from every node's /metrics just before and just after
the timed load; with resp, name the nodes' HTTP addresses in --metrics.
Ctrl-C ends the run early and still prints the summary of what ran.

--report FILE.html also writes the run as one self-contained page (no
script, nothing fetched): the settings, the summary, throughput and p50/p99
per progress interval, and the latency distribution.`,
		Args: cobra.NoArgs,
	}
	d := bench.DefaultConfig()
	f := cmd.Flags()
	f.String("protocol", d.Protocol, "front door: grpc or resp")
	f.String("endpoints", strings.Join(d.Endpoints, ","), "comma-separated addresses: gRPC for grpc, RESP for resp")
	f.StringP("output", "o", "table", "output: table or json")
	f.Int("clients", d.Clients, "concurrent clients, one request in flight each")
	f.Float64("rate", d.Rate, "requests per second, all clients together, on a fixed schedule; latency counts from each request's intended start "+
		"(coordinated omission corrected, as wrk2); 0: unlimited (closed loop)")
	f.Duration("duration", d.Duration, "how long to run (unless --requests)")
	f.Int64("requests", 0, "total requests, then stop (overrides --duration)")
	f.Int("keys", d.Keys, "key space size")
	f.Int("key-size", d.KeySize, "key length in bytes (zero-padded decimal index)")
	f.Int("value-size", d.ValueSize, "value length in bytes")
	f.Float64("read-ratio", d.ReadRatio, "share of reads, 0..1")
	f.String("read-mode", d.ReadMode, "reads: linearizable, follower or stale (grpc only for the last two)")
	f.String("balance", d.Balance, "grpc: policy choosing the replica of follower/stale reads and the entry node when a leader is unknown: "+
		strings.Join(client.BalancePolicies(), ", "))
	f.String("slow-node", "", "ADDR=DELAY: make the node with gRPC address ADDR (started with --fault-injection) answer every request DELAY late for the run, e.g. 127.0.0.1:7380=5ms")
	f.Bool("batch", d.Batch, "grpc: all clients share one Go client multiplexing Batch streams (false: a Go client each, unary calls)")
	f.Int("streams", d.Streams, "grpc --batch: Batch streams per node, each on its own connection")
	f.Bool("preload", false, "write every key once before the run (default: on when --read-ratio > 0)")
	f.Duration("timeout", d.Timeout, "per-request timeout")
	f.String("metrics", d.Metrics, "HTTP addresses (comma-separated) whose /metrics give the servers' CPU time before and after the run, for server_cpu_seconds and cpu_us_per_op; "+
		"auto: every node's advertised HTTP address (grpc only); none: off")
	addClientFlags(f)
	f.Duration("progress-interval", d.ProgressInterval, "time between progress lines on stderr, and the window of their ops/s and p99")
	f.String("report", "", "also write the run as a self-contained HTML page to this file (charts over time, latency distribution)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		explicit, err := applyEnv(cmd.Flags())
		if err != nil {
			return err
		}
		cfg := d
		cfg.Protocol, _ = f.GetString("protocol")
		eps, _ := f.GetString("endpoints")
		cfg.Endpoints = strings.Split(eps, ",")
		cfg.Clients, _ = f.GetInt("clients")
		cfg.Rate, _ = f.GetFloat64("rate")
		cfg.Duration, _ = f.GetDuration("duration")
		cfg.Requests, _ = f.GetInt64("requests")
		cfg.Keys, _ = f.GetInt("keys")
		cfg.KeySize, _ = f.GetInt("key-size")
		cfg.ValueSize, _ = f.GetInt("value-size")
		cfg.ReadRatio, _ = f.GetFloat64("read-ratio")
		cfg.ReadMode, _ = f.GetString("read-mode")
		cfg.Balance, _ = f.GetString("balance")
		if slow, _ := f.GetString("slow-node"); slow != "" {
			addr, delay, ok := strings.Cut(slow, "=")
			d, err := time.ParseDuration(delay)
			if !ok || addr == "" || err != nil {
				return usageError{fmt.Errorf("--slow-node %q: want ADDR=DELAY, e.g. 127.0.0.1:7380=5ms", slow)}
			}
			cfg.SlowNode, cfg.SlowDelay = addr, d
		}
		cfg.Batch, _ = f.GetBool("batch")
		cfg.Streams, _ = f.GetInt("streams")
		cfg.Timeout, _ = f.GetDuration("timeout")
		cfg.ProgressInterval, _ = f.GetDuration("progress-interval")
		cfg.Metrics, _ = f.GetString("metrics")
		if cfg.TLS, err = clientTLS(f); err != nil {
			return err
		}
		if cfg.User, cfg.Password, err = clientLogin(f); err != nil {
			return err
		}
		if explicit["preload"] {
			cfg.Preload = bench.PreloadOff
			if on, _ := f.GetBool("preload"); on {
				cfg.Preload = bench.PreloadOn
			}
		}
		out, _ := f.GetString("output")
		if out != "table" && out != "json" {
			return usageError{fmt.Errorf("-o %q: want table or json", out)}
		}
		if err := cfg.Validate(); err != nil {
			return usageError{err}
		}
		cfg.Progress, cfg.Terminal = os.Stderr, isTerminal(os.Stderr)
		var page *os.File
		if path, _ := f.GetString("report"); path != "" {
			// Made before the run, so a path that cannot be written fails
			// at once rather than after it.
			if page, err = os.Create(path); err != nil {
				return usageError{fmt.Errorf("--report: %w", err)}
			}
			defer page.Close()
		}

		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		res, err := bench.Run(ctx, cfg)
		if errors.Is(err, bench.ErrConfig) {
			return usageError{err}
		}
		if err != nil {
			return err
		}
		res.WriteErrors(os.Stderr)
		res.WriteRateWarning(os.Stderr)
		if page != nil {
			if err := writeReport(page, func(w io.Writer) error { return res.WriteHTML(w, flagFacts(f, "output", "report")) }); err != nil {
				return err
			}
		}
		if out == "json" {
			return res.WriteJSON(os.Stdout)
		}
		return res.WriteTable(os.Stdout)
	}
	return cmd
}

// flagFacts lists the flags of fs that have a value, but --help and those
// named in skip, for a report's settings.
func flagFacts(fs *pflag.FlagSet, skip ...string) []report.Fact {
	var out []report.Fact
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Name != "help" && fl.Value.String() != "" && !slices.Contains(skip, fl.Name) {
			out = append(out, report.Fact{Name: "--" + fl.Name, Value: fl.Value.String()})
		}
	})
	return out
}

// writeReport writes a report page with write into f, closes it and names
// it on stderr.
func writeReport(f *os.File, write func(io.Writer) error) error {
	if err := errors.Join(write(f), f.Close()); err != nil {
		return fmt.Errorf("--report %s: %w", f.Name(), err)
	}
	fmt.Fprintf(os.Stderr, "report: %s\n", f.Name())
	return nil
}
