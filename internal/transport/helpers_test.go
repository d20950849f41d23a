package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu          sync.Mutex
	msgs        map[string][]Message // by sender node
	unreachable map[string]int
	// snapshot, when set, handles snapshots; by default they are read to
	// the end and accepted.
	snapshot func(ctx context.Context, from string, header []byte, next func() ([]byte, error)) error
}

func newRecorder() *recorder {
	return &recorder{msgs: make(map[string][]Message), unreachable: make(map[string]int)}
}

func (r *recorder) HandleMessages(from string, msgs []Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs[from] = append(r.msgs[from], msgs...)
}

func (r *recorder) HandleSnapshot(ctx context.Context, from string, header []byte, next func() ([]byte, error)) error {
	if r.snapshot != nil {
		return r.snapshot(ctx, from, header, next)
	}
	for {
		if _, err := next(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func (r *recorder) ReportUnreachable(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable[node]++
}

func (r *recorder) received(from string) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs[from]...)
}

func (r *recorder) unreachableCount(node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[node]
}

// addrBook is the Resolve of a test cluster.
type addrBook struct {
	mu    sync.Mutex
	addrs map[string]string
}

func newAddrBook() *addrBook { return &addrBook{addrs: make(map[string]string)} }

func (b *addrBook) resolve(node string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.addrs[node]
	return a, ok
}

func (b *addrBook) set(node, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addrs[node] = addr
}

var testClusterID = [16]byte{0xca, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}

// testNode is one node: a transport served on its own gRPC server on a
// loopback port.
type testNode struct {
	name string
	tr   *GRPC
	h    *recorder
	reg  *prometheus.Registry
	addr string
	stop func()
}

// startNode starts node name in the cluster whose addresses are in book.
// edit, if set, changes the config before New.
func startNode(t *testing.T, book *addrBook, name string, edit func(*Config)) *testNode {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{name: name, h: newRecorder(), reg: prometheus.NewRegistry(), addr: lis.Addr().String()}
	cfg := Config{
		ClusterID:    testClusterID,
		Name:         name,
		Incarnation:  1,
		Resolve:      book.resolve,
		Handler:      n.h,
		Registry:     n.reg,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", name),
		PingInterval: 20 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	n.tr, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ServerOptions()...)
	n.tr.Register(srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	book.set(name, n.addr)
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			if err := n.tr.Close(); err != nil {
				t.Error(err)
			}
			srv.Stop()
			<-served
		})
	}
	t.Cleanup(n.stop)
	return n
}

// peer returns this node's status of node.
func (n *testNode) peer(node string) PeerStatus {
	for _, p := range n.tr.Peers() {
		if p.Name == node {
			return p
		}
	}
	return PeerStatus{Name: node}
}

// metric returns the value of a counter or gauge on n's registry, summed
// over the series whose labels include every pair in labels.
func (n *testNode) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// waitFor polls cond until it holds or ten seconds pass, then fails saying
// what it waited for.

// seqMsgs returns n messages of group 1 whose To counts from first.
func seqMsgs(first, n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Group: 1, From: 7, To: uint64(first + i), Payload: []byte("x")}
	}
	return msgs
}

// inOrder reports whether msgs' To values count 0, 1, 2, ...
func inOrder(msgs []Message) bool {
	for i, m := range msgs {
		if m.To != uint64(i) {
			return false
		}
	}
	return true
}
