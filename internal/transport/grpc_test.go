package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/testkit"
)

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{
			ClusterID: testClusterID, Name: "n1", Incarnation: 1,
			Resolve: newAddrBook().resolve, Handler: newRecorder(),
		}
	}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // named in the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no cluster ID", func(c *Config) { c.ClusterID = [16]byte{} }, "ClusterID"},
		{"no name", func(c *Config) { c.Name = "" }, "Name"},
		{"no incarnation", func(c *Config) { c.Incarnation = 0 }, "Incarnation"},
		{"no resolve", func(c *Config) { c.Resolve = nil }, "Resolve"},
		{"no handler", func(c *Config) { c.Handler = nil }, "Handler"},
		{"negative offset", func(c *Config) { c.MaxClockOffset = -1 }, "MaxClockOffset"},
		{"negative ping", func(c *Config) { c.PingInterval = -1 }, "PingInterval"},
		{"negative handshake", func(c *Config) { c.HandshakeTimeout = -1 }, "HandshakeTimeout"},
		{"negative queue", func(c *Config) { c.QueueSize = -1 }, "QueueSize"},
		{"negative snapshots", func(c *Config) { c.MaxSnapshots = -1 }, "MaxSnapshots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.field != "" && (err == nil || !strings.Contains(err.Error(), "Config."+tt.field)):
				t.Fatalf("Validate() = %v, want an error naming Config.%s", err, tt.field)
			}
		})
	}
}

func TestMessagesInOrderAndBatched(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)

	const calls, per = 10, 100
	for i := range calls {
		n1.tr.Send("n2", seqMsgs(i*per, per))
	}
	testkit.WaitFor(t, 10*time.Second, "n2 to receive every message", func() bool { return len(n2.h.received("n1")) == calls*per })
	if got := n2.h.received("n1"); !inOrder(got) {
		t.Fatalf("messages arrived out of order")
	}
	sent := n1.metric(t, "cairn_transport_messages_sent_total", "peer", "n2")
	frames := n1.metric(t, "cairn_transport_frames_sent_total", "peer", "n2")
	if sent != calls*per {
		t.Errorf("messages_sent_total = %v, want %d", sent, calls*per)
	}
	// Each Send queues its 100 messages at once and the sender drains the
	// whole queue per frame, so there are at most as many frames as Sends.
	if frames < 1 || frames > calls {
		t.Errorf("frames_sent_total = %v for %v messages, want 1..%d", frames, sent, calls)
	}
	if got := n2.metric(t, "cairn_transport_messages_received_total", "peer", "n1"); got != calls*per {
		t.Errorf("messages_received_total = %v, want %d", got, calls*per)
	}
	if got := n1.metric(t, "cairn_transport_bytes_sent_total", "peer", "n2"); got != calls*per {
		t.Errorf("bytes_sent_total = %v, want %d", got, calls*per)
	}
	if p := n1.peer("n2"); !p.Connected || !p.Known || p.Incarnation != 1 || p.LastError != nil {
		t.Errorf("n1's status of n2 = %+v, want connected and known", p)
	}
}

func TestHandshakeRefusesOtherCluster(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", func(c *Config) { c.ClusterID[0] ^= 0xff })

	n1.tr.Send("n2", seqMsgs(0, 1))
	testkit.WaitFor(t, 10*time.Second, "n1 to record the refusal", func() bool {
		err := n1.peer("n2").LastError
		return err != nil && strings.Contains(err.Error(), "belongs to cluster")
	})
	if err := n1.peer("n2").LastError; status.Code(err) != codes.FailedPrecondition {
		t.Errorf("refusal %v has code %v, want FailedPrecondition", err, status.Code(err))
	}
	testkit.WaitFor(t, 10*time.Second, "n1 to report n2 unreachable", func() bool { return n1.h.unreachableCount("n2") > 0 })

	err := n1.tr.SendSnapshot(context.Background(), "n2", []byte("h"), func(func([]byte) error) error { return nil })
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "belongs to cluster") {
		t.Errorf("SendSnapshot to another cluster = %v, want FailedPrecondition naming the cluster", err)
	}
	if got := n2.h.received("n1"); len(got) != 0 {
		t.Errorf("n2 accepted %d messages from another cluster", len(got))
	}
}

// Founders started with different settings share a cluster ID; the
// handshake refuses them, naming both settings.
func TestHandshakeRefusesOtherSettings(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", func(c *Config) { c.Settings = "partitions=16 replicas=3" })
	n2 := startNode(t, book, "n2", func(c *Config) { c.Settings = "partitions=32 replicas=3" })
	n1.tr.Send("n2", seqMsgs(0, 1))
	testkit.WaitFor(t, 10*time.Second, "n1 to record the refusal", func() bool {
		err := n1.peer("n2").LastError
		return err != nil && strings.Contains(err.Error(), "partitions=16") && strings.Contains(err.Error(), "partitions=32")
	})
	if got := n2.h.received("n1"); len(got) != 0 {
		t.Errorf("n2 accepted %d messages from a node with other settings", len(got))
	}
}

func TestHandshakeRefusesWrongTarget(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)
	book.set("n3", n2.addr) // a stale address: n3's is now n2's

	n1.tr.Send("n3", seqMsgs(0, 1))
	testkit.WaitFor(t, 10*time.Second, "n1 to record the refusal", func() bool {
		err := n1.peer("n3").LastError
		return err != nil && strings.Contains(err.Error(), `meant to reach node "n3" but reached node "n2"`)
	})
	if got := n2.h.received("n1"); len(got) != 0 {
		t.Errorf("n2 accepted %d messages meant for n3", len(got))
	}
}

func TestHandshakeRefusesWipedNode(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)
	n1.tr.Send("n2", seqMsgs(0, 1))
	n2.tr.Send("n1", seqMsgs(0, 1))
	testkit.WaitFor(t, 10*time.Second, "both to exchange a message", func() bool {
		return len(n2.h.received("n1")) == 1 && len(n1.h.received("n2")) == 1
	})

	n2.stop()
	// n2 comes back with an empty data directory: a new incarnation and a
	// PeerBook that knows no one.
	wiped := startNode(t, book, "n2", func(c *Config) { c.Incarnation = 2 })
	const want = `node "n2" lost its data (incarnation 2, known 1); add it back with --join`

	wiped.tr.Send("n1", seqMsgs(1, 1))
	testkit.WaitFor(t, 10*time.Second, "the wiped node to be refused by n1", func() bool {
		err := wiped.peer("n1").LastError
		return err != nil && strings.Contains(err.Error(), want)
	})
	if err := wiped.peer("n1").LastError; status.Code(err) != codes.FailedPrecondition {
		t.Errorf("refusal %v has code %v, want FailedPrecondition", err, status.Code(err))
	}

	// n1 dialling the wiped node refuses its answer too.
	n1.tr.Send("n2", seqMsgs(1, 1))
	testkit.WaitFor(t, 10*time.Second, "n1 to refuse the wiped node's answer", func() bool {
		err := n1.peer("n2").LastError
		return err != nil && strings.Contains(err.Error(), want) && errors.Is(err, ErrRefused)
	})
	if got := n1.h.received("n2"); len(got) != 1 {
		t.Errorf("n1 accepted %d messages from n2, want only the one before the wipe", len(got))
	}
	if got := wiped.h.received("n1"); len(got) != 0 {
		t.Errorf("the wiped node accepted %d messages from n1", len(got))
	}
}

func TestQueueOverflowDropsAndReports(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", func(c *Config) { c.QueueSize = 10 })
	n2 := startNode(t, book, "n2", nil)

	n1.tr.Send("n2", seqMsgs(0, 25)) // one Send: 10 fit, 15 do not
	testkit.WaitFor(t, 10*time.Second, "n2 to receive the queued messages", func() bool { return len(n2.h.received("n1")) == 10 })
	testkit.WaitFor(t, 10*time.Second, "ReportUnreachable(n2)", func() bool { return n1.h.unreachableCount("n2") > 0 })
	if got := n2.h.received("n1"); !inOrder(got) {
		t.Errorf("the first 10 messages did not arrive in order")
	}
	if got := n1.metric(t, "cairn_transport_messages_dropped_total", "peer", "n2"); got != 15 {
		t.Errorf("messages_dropped_total = %v, want 15", got)
	}
}

func TestReconnectAfterPeerRestart(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)
	n1.tr.Send("n2", seqMsgs(0, 1))
	testkit.WaitFor(t, 10*time.Second, "the first message", func() bool { return len(n2.h.received("n1")) == 1 })

	n2.stop()
	testkit.WaitFor(t, 10*time.Second, "n1 to report n2 unreachable when the stream breaks", func() bool { return n1.h.unreachableCount("n2") > 0 })
	if n1.peer("n2").Connected {
		t.Errorf("n1 still shows n2 connected")
	}

	// Same name and incarnation (its data survived), on a new port.
	back := startNode(t, book, "n2", nil)
	i := 1
	testkit.WaitFor(t, 10*time.Second, "a message to reach the restarted n2", func() bool {
		n1.tr.Send("n2", seqMsgs(i, 1)) // messages sent while it redials may drop
		i++
		return len(back.h.received("n1")) > 0
	})
	testkit.WaitFor(t, 10*time.Second, "n1 to show n2 connected", func() bool { return n1.peer("n2").Connected })
}

func TestSnapshot(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)

	var (
		mu     sync.Mutex
		header []byte
		got    [][]byte
	)
	n2.h.snapshot = func(ctx context.Context, from string, h []byte, next func() ([]byte, error)) error {
		if from != "n1" {
			return fmt.Errorf("snapshot from %q", from)
		}
		mu.Lock()
		defer mu.Unlock()
		header = h
		for {
			c, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			got = append(got, c)
		}
		if string(h) == "refuse" {
			return errors.New("disk full")
		}
		return nil
	}
	chunks := func(yield func([]byte) error) error {
		for i := range 5 {
			if err := yield(bytes.Repeat([]byte{byte(i)}, 64<<10)); err != nil {
				return err
			}
		}
		return nil
	}

	t.Run("chunks in order", func(t *testing.T) {
		if err := n1.tr.SendSnapshot(context.Background(), "n2", []byte("hdr"), chunks); err != nil {
			t.Fatalf("SendSnapshot: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if string(header) != "hdr" || len(got) != 5 {
			t.Fatalf("received header %q and %d chunks, want hdr and 5", header, len(got))
		}
		for i, c := range got {
			if len(c) != 64<<10 || c[0] != byte(i) {
				t.Fatalf("chunk %d is wrong (len %d, first byte %d)", i, len(c), c[0])
			}
		}
		if v := n1.metric(t, "cairn_transport_snapshots_sent_total", "peer", "n2"); v != 1 {
			t.Errorf("snapshots_sent_total = %v, want 1", v)
		}
		if v := n2.metric(t, "cairn_transport_snapshots_received_total", "peer", "n1"); v != 1 {
			t.Errorf("snapshots_received_total = %v, want 1", v)
		}
	})
	t.Run("receiver error comes back", func(t *testing.T) {
		err := n1.tr.SendSnapshot(context.Background(), "n2", []byte("refuse"), chunks)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("SendSnapshot = %v, want the receiver's %q", err, "disk full")
		}
		if v := n1.metric(t, "cairn_transport_snapshots_failed_total", "peer", "n2", "direction", "sent"); v != 1 {
			t.Errorf("snapshots_failed_total{sent} = %v, want 1", v)
		}
	})
	t.Run("sender error reaches the receiver", func(t *testing.T) {
		errBroken := errors.New("snapshot source broke")
		err := n1.tr.SendSnapshot(context.Background(), "n2", []byte("hdr"), func(yield func([]byte) error) error {
			if err := yield([]byte("a")); err != nil {
				return err
			}
			return errBroken
		})
		if !errors.Is(err, errBroken) {
			t.Fatalf("SendSnapshot = %v, want %v", err, errBroken)
		}
		testkit.WaitFor(t, 10*time.Second, "the receiver to fail the snapshot", func() bool {
			return n2.metric(t, "cairn_transport_snapshots_failed_total", "peer", "n1", "direction", "received") >= 1
		})
	})
	t.Run("chunk too large", func(t *testing.T) {
		err := n1.tr.SendSnapshot(context.Background(), "n2", []byte("hdr"), func(yield func([]byte) error) error {
			return yield(make([]byte, MaxChunkSize+1))
		})
		if !errors.Is(err, ErrChunkTooLarge) {
			t.Fatalf("SendSnapshot = %v, want ErrChunkTooLarge", err)
		}
	})
}

// blockingSnapshots makes h's snapshots block until released, counting how
// many run at once.
type blockingSnapshots struct {
	mu       sync.Mutex
	running  int
	max      int
	released chan struct{}
}

func (b *blockingSnapshots) handle(ctx context.Context, _ string, _ []byte, next func() ([]byte, error)) error {
	b.mu.Lock()
	b.running++
	b.max = max(b.max, b.running)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running--
		b.mu.Unlock()
	}()
	select {
	case <-b.released:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		if _, err := next(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func (b *blockingSnapshots) counts() (running, most int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running, b.max
}

func TestSnapshotConcurrencyLimit(t *testing.T) {
	for _, tt := range []struct {
		name             string
		sender, receiver int // MaxSnapshots
		limit, snapshots int
	}{
		{name: "outbound", sender: 1, receiver: 4, limit: 1, snapshots: 3},
		{name: "inbound", sender: 4, receiver: 2, limit: 2, snapshots: 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			book := newAddrBook()
			n1 := startNode(t, book, "n1", func(c *Config) { c.MaxSnapshots = tt.sender })
			n2 := startNode(t, book, "n2", func(c *Config) { c.MaxSnapshots = tt.receiver })
			b := &blockingSnapshots{released: make(chan struct{})}
			n2.h.snapshot = b.handle

			errs := make(chan error, tt.snapshots)
			for range tt.snapshots {
				go func() {
					errs <- n1.tr.SendSnapshot(context.Background(), "n2", []byte("h"), func(yield func([]byte) error) error {
						return yield([]byte("chunk"))
					})
				}()
			}
			testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("%d snapshots to run", tt.limit), func() bool {
				running, _ := b.counts()
				return running == tt.limit
			})
			// Release one at a time: each frees a slot for exactly one more.
			for range tt.snapshots {
				b.released <- struct{}{}
				if err := <-errs; err != nil {
					t.Fatalf("SendSnapshot: %v", err)
				}
			}
			if _, most := b.counts(); most != tt.limit {
				t.Errorf("at most %d snapshots ran at once, want %d", most, tt.limit)
			}
		})
	}
}

func TestClockOffset(t *testing.T) {
	book := newAddrBook()
	skewed := clock.NewSkewed(clock.Real{}, 2*time.Second)
	nodes := []*testNode{
		startNode(t, book, "n1", nil),
		startNode(t, book, "n2", nil),
		startNode(t, book, "n3", func(c *Config) { c.Clock = skewed }),
	}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.tr.Send(b.name, seqMsgs(0, 1))
			}
		}
	}
	near := func(tr Transport, node string, want time.Duration) bool {
		got, ok := tr.ClockOffset(node)
		return ok && (got-want).Abs() <= 100*time.Millisecond
	}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	testkit.WaitFor(t, 10*time.Second, "n1 to measure n3 at +2s and n2 at 0", func() bool {
		return near(n1.tr, "n3", 2*time.Second) && near(n1.tr, "n2", 0)
	})
	testkit.WaitFor(t, 10*time.Second, "n3 to measure n1 and n2 at -2s", func() bool {
		return near(n3.tr, "n1", -2*time.Second) && near(n3.tr, "n2", -2*time.Second)
	})
	testkit.WaitFor(t, 10*time.Second, "n3 unhealthy, n1 and n2 healthy", func() bool {
		return !n3.tr.ClockHealthy() && n1.tr.ClockHealthy() && n2.tr.ClockHealthy()
	})
	if g := n1.metric(t, "cairn_transport_clock_offset_seconds", "peer", "n3"); g < 1.9 || g > 2.1 {
		t.Errorf("clock_offset_seconds{peer=n3} = %v, want about 2", g)
	}

	// The runaway clock is fixed: n3 becomes healthy again.
	skewed.SetOffset(0)
	testkit.WaitFor(t, 10*time.Second, "n3 healthy once its clock is fixed", func() bool { return n3.tr.ClockHealthy() })
}

func TestClockHealthyWithoutPeers(t *testing.T) {
	n := startNode(t, newAddrBook(), "n1", nil)
	if !n.tr.ClockHealthy() {
		t.Errorf("a node that knows no peer is not healthy")
	}
	if _, ok := n.tr.ClockOffset("n2"); ok {
		t.Errorf("ClockOffset of an unknown node says measured")
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)
	n1.tr.Send("n2", seqMsgs(0, 10))
	n2.tr.Send("n1", seqMsgs(0, 10))
	n1.tr.Send("nowhere", seqMsgs(0, 1)) // a sender stuck in backoff
	testkit.WaitFor(t, 10*time.Second, "messages both ways", func() bool {
		return len(n2.h.received("n1")) == 10 && len(n1.h.received("n2")) == 10
	})
	if err := n1.tr.SendSnapshot(context.Background(), "n2", nil, func(func([]byte) error) error { return nil }); err != nil {
		t.Fatal(err)
	}
	n1.stop()
	n2.stop()
	goleak.VerifyNone(t, ignore)

	if err := n1.tr.SendSnapshot(context.Background(), "n2", nil, func(func([]byte) error) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("SendSnapshot after Close = %v, want ErrClosed", err)
	}
	n1.tr.Send("n2", seqMsgs(0, 1)) // must not start anything
	goleak.VerifyNone(t, ignore)
}

func TestNewOnSameRegistry(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)
	n1.tr.Send("n2", seqMsgs(0, 3))
	testkit.WaitFor(t, 10*time.Second, "3 messages", func() bool { return len(n2.h.received("n1")) == 3 })
	n1.stop()
	// n1 restarted in the same process keeps its registry and its series.
	again := startNode(t, book, "n1", func(c *Config) { c.Registry = n1.reg })
	again.reg = n1.reg
	again.tr.Send("n2", seqMsgs(3, 2))
	testkit.WaitFor(t, 10*time.Second, "2 more messages", func() bool { return len(n2.h.received("n1")) == 5 })
	if got := again.metric(t, "cairn_transport_messages_sent_total", "peer", "n2"); got != 5 {
		t.Errorf("messages_sent_total after restart = %v, want 5", got)
	}
}
