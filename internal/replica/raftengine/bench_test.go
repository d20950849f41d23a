package raftengine

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// BenchmarkDriverPropose measures the driver alone: puts (8-byte keys,
// 256-byte values) proposed straight to each group's leader on 3 in-process
// nodes over loopback gRPC, Pebble on disk with fsync, 64 concurrent
// proposers spread over P = 8 partitions.
//
//	go test -run '^$' -bench DriverPropose -benchtime 20000x ./internal/replica/raftengine/
func BenchmarkDriverPropose(b *testing.B) {
	const partitions = 8
	c := newTestCluster(b, 3, partitions, nil, func(_ string, cfg *Config) {
		cfg.TickInterval = 50 * time.Millisecond
	})
	leaders := make([]replica.Group, partitions)
	for p := range partitions {
		g := replica.GroupOf(p)
		leaders[p] = c.group(c.leader(g), g)
	}
	value := make([]byte, 256)
	var next atomic.Uint64
	b.SetParallelism(32) // 64 proposers on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			key := fmt.Appendf(nil, "k%07d", i%10_000_000)
			cmd := kv.NewCommand(kv.Put(key, value))
			g := leaders[i%partitions]
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _, err := g.Propose(ctx, cmd.Encode())
			cancel()
			if err != nil {
				b.Errorf("propose: %v", err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "proposals/s")
	var fsyncs float64
	for _, nd := range c.nodes {
		fsyncs += counterValue(b, nd.reg, "cairn_raft_fsyncs_total")
	}
	b.ReportMetric(fsyncs/float64(len(c.nodes)), "fsyncs/node")
}

// BenchmarkDriverReadAfterPuts measures the driver's linearizable reads:
// a read index on each group's leader for 64 concurrent readers over P = 8
// partitions, after 20,000 puts (so logs have been truncated), on 3
// in-process nodes. allocs/op is the figure to compare across changes.
//
//	go test -run '^$' -bench DriverReadAfterPuts -benchtime 100000x ./internal/replica/raftengine/
func BenchmarkDriverReadAfterPuts(b *testing.B) {
	const partitions = 8
	c := newTestCluster(b, 3, partitions, nil, func(_ string, cfg *Config) {
		cfg.TickInterval = 50 * time.Millisecond
	})
	leaders := make([]replica.Group, partitions)
	for p := range partitions {
		g := replica.GroupOf(p)
		leaders[p] = c.group(c.leader(g), g)
	}
	value := make([]byte, 256)
	for i := range 20000 {
		key := fmt.Appendf(nil, "k%07d", i)
		cmd := kv.NewCommand(kv.Put(key, value))
		_, _, err := leaders[i%partitions].Propose(context.Background(), cmd.Encode())
		if err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Uint64
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			g := leaders[i%partitions]
			err := g.Read(context.Background(), replica.Linearizable, func(v storage.View) error { return nil })
			if err != nil {
				b.Errorf("read: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reads/s")
}
