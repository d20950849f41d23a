package transport

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testkit"
)

func noChunks(func([]byte) error) error { return nil }

// TestFaultCutHeal: a cut link loses every batch and refuses snapshots in
// the direction it is set, on either side; healing lets traffic through
// again.
func TestFaultCutHeal(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)
	n1.tr.Send("n2", seqMsgs(0, 1))
	testkit.WaitFor(t, 10*time.Second, "the link to come up", func() bool { return len(n2.h.received("n1")) == 1 })

	cut := Fault{Drop: 1}
	if err := n1.tr.SetFault("n2", Outbound, cut); err != nil {
		t.Fatal(err)
	}
	if !n1.tr.IsCut("n2", Outbound) || n1.tr.IsCut("n2", Inbound) || n1.tr.IsCut("n3", Outbound) {
		t.Fatal("IsCut disagrees with the one outbound cut to n2")
	}
	n1.tr.Send("n2", seqMsgs(1, 5))
	if err := n1.tr.SendSnapshot(context.Background(), "n2", []byte("h"), noChunks); !errors.Is(err, ErrLinkCut) {
		t.Fatalf("snapshot over a cut link: %v, want ErrLinkCut", err)
	}
	// The other direction still works.
	n2.tr.Send("n1", seqMsgs(0, 2))
	testkit.WaitFor(t, 10*time.Second, "n2 → n1 to pass", func() bool { return len(n1.h.received("n2")) == 2 })
	if got := n1.metric(t, "cairn_transport_fault_dropped_total", "peer", "n2", "direction", "outbound"); got != 5 {
		t.Fatalf("fault_dropped_total = %v, want 5", got)
	}

	// An inbound cut on the receiver, for every peer.
	n1.tr.ClearFaults()
	if err := n2.tr.SetFault("", Inbound, cut); err != nil {
		t.Fatal(err)
	}
	n1.tr.Send("n2", seqMsgs(1, 3))
	if err := n1.tr.SendSnapshot(context.Background(), "n2", []byte("h"), noChunks); err == nil {
		t.Fatal("snapshot into an inbound cut succeeded")
	}
	testkit.WaitFor(t, 10*time.Second, "n2 to drop the inbound batch", func() bool {
		return n2.metric(t, "cairn_transport_fault_dropped_total", "peer", "n1", "direction", "inbound") == 3
	})
	if got := len(n2.h.received("n1")); got != 1 {
		t.Fatalf("n2 handed on %d messages through an inbound cut", got-1)
	}

	n2.tr.ClearFaults()
	if len(n2.tr.Faults()) != 0 {
		t.Fatalf("faults after ClearFaults: %v", n2.tr.Faults())
	}
	n1.tr.Send("n2", seqMsgs(1, 1))
	testkit.WaitFor(t, 10*time.Second, "traffic after the heal", func() bool { return len(n2.h.received("n1")) == 2 })
}

// TestFaultDelayDuplicate: delayed batches arrive no sooner than the delay;
// duplicated ones arrive twice.
func TestFaultDelayDuplicate(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)
	if err := n1.tr.SetFault("n2", Outbound, Fault{Delay: 150 * time.Millisecond, Duplicate: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n1.tr.Send("n2", seqMsgs(0, 4))
	testkit.WaitFor(t, 10*time.Second, "both copies", func() bool { return len(n2.h.received("n1")) == 8 })
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("a batch delayed 150ms arrived after %v", d)
	}
	if got := n1.metric(t, "cairn_transport_fault_duplicated_total", "peer", "n2", "direction", "outbound"); got != 4 {
		t.Fatalf("fault_duplicated_total = %v, want 4", got)
	}
}

// TestFaultJitterReorders: with jitter, batches overtake each other, and
// every one still arrives.
func TestFaultJitterReorders(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)
	if err := n1.tr.SetFault("", Outbound, Fault{Jitter: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		n1.tr.Send("n2", seqMsgs(i, 1))
	}
	testkit.WaitFor(t, 10*time.Second, "every batch", func() bool { return len(n2.h.received("n1")) == n })
	if inOrder(n2.h.received("n1")) {
		t.Fatal("200 batches with 50ms of jitter arrived in order")
	}
}

func TestFaultValidate(t *testing.T) {
	tr := &GRPC{}
	for _, f := range []Fault{{Drop: -0.1}, {Drop: 1.5}, {Duplicate: 2}, {Delay: -time.Second}, {Jitter: 2 * time.Minute}} {
		if err := tr.SetFault("n2", Outbound, f); err == nil {
			t.Errorf("SetFault(%+v) accepted", f)
		}
	}
}
