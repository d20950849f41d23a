package driver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// snapshotHost is a Manual host with group 1 bootstrapped on it (replica 1
// on cfg.Node, replica 2 on "b") holding about 10 KB of data, and a
// snapshot function that has it send a snapshot to replica 2 as a round
// would.
func snapshotHost(t *testing.T, cfg Config) (h *Host, snap func()) {
	t.Helper()
	cfg.Node, cfg.Store, cfg.Manual, cfg.Logger = "a", storage.NewMem(), true, quietLogger()
	cfg.Engine = stubEngine{}
	cfg.NewStateMachine = func(g replica.GroupID) replica.StateMachine { return kv.New(uint64(g)) }
	cfg.Fatal = func(err error) { t.Errorf("fatal: %v", err) }
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	desc := replica.Descriptor{Group: 1, Version: 1, NextReplicaID: 3,
		Replicas: []replica.Member{{ID: 1, Node: "a"}, {ID: 2, Node: "b"}}, Voters: []replica.ReplicaID{1, 2}}
	err = h.Bootstrap(desc, func(b storage.Batch) error {
		for i := range 10 {
			if err := b.Set(storage.DataKey(1, fmt.Appendf(nil, "k%d", i)), make([]byte, 1000)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	grp, _ := h.Group(1)
	g := grp.(*group)
	return h, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		h.startSnapshot(g, "b", Message{To: 2, Kind: MsgSnapshot, Payload: []byte("snapshot")})
	}
}

// With Config.SnapshotSender the round does not wait for the rate: the
// snapshot is held back and handed over by the first Tick at which the
// rate allows it.
func TestSnapshotRateDefersSnapshotSender(t *testing.T) {
	const rate, chunk = 1000, 1 << 10
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	type sent struct {
		node  string
		bytes int
	}
	var sends []sent
	h, snap := snapshotHost(t, Config{
		Clock: fake, Registry: reg, SnapshotChunkSize: chunk, SnapshotRate: rate,
		SnapshotSender: func(node string, _ []byte, chunks [][]byte, report func(error)) {
			n := 0
			for _, c := range chunks {
				n += len(c)
			}
			sends = append(sends, sent{node, n})
		},
	})
	defer h.Close()
	snap()
	if len(sends) != 0 {
		t.Fatalf("a snapshot of about 10 KB went at once at %d B/s with a burst of %d", rate, chunk)
	}
	throttled := counterValue(t, reg, "cairn_raft_snapshot_throttled_seconds_total")
	if throttled < 8 {
		t.Fatalf("throttled %vs; want about (10 KB - %d B) / %d B/s", throttled, chunk, rate)
	}
	wait := time.Duration(throttled * float64(time.Second))
	fake.Advance(wait - time.Millisecond)
	h.Tick()
	if len(sends) != 0 {
		t.Fatalf("handed over %v before its wait of %v was up", sends, wait)
	}
	fake.Advance(2 * time.Millisecond) // the counter's float seconds may round the wait down a nanosecond
	h.Tick()
	if len(sends) != 1 || sends[0].node != "b" || sends[0].bytes < 10000 {
		t.Fatalf("after the wait: sends %v; want the whole snapshot to b", sends)
	}
	h.Tick()
	if len(sends) != 1 {
		t.Fatalf("handed over twice: %v", sends)
	}
}

// chunkSink receives snapshot streams and reports each stream it opens
// and each chunk's size.
type chunkSink struct{ streams, chunks chan int }

func (chunkSink) HandleMessages(string, []transport.Message) {}
func (chunkSink) ReportUnreachable(string)                   {}
func (s chunkSink) HandleSnapshot(_ context.Context, _ string, _ []byte, next func() ([]byte, error)) error {
	s.streams <- 1
	for {
		c, err := next()
		if err != nil {
			return err
		}
		s.chunks <- len(c)
	}
}

// A stream waiting for the rate stops when the host closes: Close does
// not wait for the tokens.
func TestSnapshotRateWaitEndsOnClose(t *testing.T) {
	h, snap := snapshotHost(t, Config{SnapshotChunkSize: 1 << 10, SnapshotRate: 1}) // ~3 hours a chunk
	net := transport.NewLocalNetwork()
	ep := net.Endpoint("a", h)
	sink := chunkSink{streams: make(chan int, 1), chunks: make(chan int, 64)}
	sinkEP := net.Endpoint("b", sink)
	defer func() { _ = errors.Join(ep.Close(), sinkEP.Close()) }()
	h.Start(ep)
	snap()
	select {
	case <-sink.streams: // it pulls the first chunk, which waits: it is a little above the burst of 1 KiB
	case <-time.After(10 * time.Second):
		t.Fatal("the snapshot stream did not open within 10s")
	}
	closed := make(chan struct{})
	go func() {
		_ = h.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s: the snapshot stream still waits for the rate")
	}
	if n := len(sink.chunks); n != 0 {
		t.Fatalf("%d chunks arrived at 1 B/s", n)
	}
}
