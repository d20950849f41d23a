package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/testkit"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func faultClient(t *testing.T, n *Node) cairnv1.FaultInjectionClient {
	t.Helper()
	cc, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cairnv1.NewFaultInjectionClient(cc)
}

// TestFaultInjectionService: without --fault-injection the service does
// not exist; with it, isolating a node by gRPC makes its writes fail as
// certainly not applied while the majority goes on, and Heal restores it.
func TestFaultInjectionService(t *testing.T) {
	plain := startNodes(t, 1, 1, nil)
	_, err := faultClient(t, plain.nodes["n1"]).GetFaults(context.Background(), &cairnv1.GetFaultsRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("FaultInjection on a node without --fault-injection: %v, want UNIMPLEMENTED", err)
	}

	tn := startNodes(t, 3, 1, func(c *Config) { c.FaultInjection = true; c.RequestTimeout = 500 * time.Millisecond })
	tn.ready()
	ctx := context.Background()
	n3 := tn.nodes["n3"]
	fc := faultClient(t, n3)
	if _, err := fc.SetLinkFault(ctx, &cairnv1.SetLinkFaultRequest{Fault: &cairnv1.LinkFault{Drop: 2, Direction: cairnv1.LinkDirection_LINK_DIRECTION_BOTH}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("drop 2 accepted: %v", err)
	}
	st, err := fc.SetLinkFault(ctx, &cairnv1.SetLinkFaultRequest{Fault: &cairnv1.LinkFault{Drop: 1, Direction: cairnv1.LinkDirection_LINK_DIRECTION_BOTH}})
	if err != nil || len(st.GetLinks()) != 2 {
		t.Fatalf("isolating n3: %v %v", st, err)
	}
	// The other two cut their side too, as cairn check does.
	for _, name := range []string{"n1", "n2"} {
		if _, err := faultClient(t, tn.nodes[name]).SetLinkFault(ctx, &cairnv1.SetLinkFaultRequest{Fault: &cairnv1.LinkFault{Peer: "n3", Drop: 1, Direction: cairnv1.LinkDirection_LINK_DIRECTION_BOTH}}); err != nil {
			t.Fatal(err)
		}
	}
	if !n3.tr.IsCut("n1", transport.Outbound) {
		t.Fatal("n3's transport does not see the cut")
	}
	put := func(n *Node, key string) error {
		p := n.Partition([]byte(key))
		sess := api.NewSession(n.NewClientID())
		seq, low := sess.Begin()
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		rep, err := n.Propose(c, p, kv.NewCommand(kv.Put([]byte(key), []byte("v"))).WithSession(sess.Client, seq, low))
		if err == nil && rep.Code != kv.CodeOK {
			err = fmt.Errorf("reply %v", rep.Code)
		}
		return err
	}
	// The majority elects a leader without n3 and takes writes.
	testkit.WaitFor(t, 15*time.Second, "a write on the majority side", func() bool { return put(tn.nodes["n1"], "k") == nil })
	if err := put(n3, "k3"); err == nil {
		t.Fatal("a write through the isolated node succeeded")
	}
	if _, err := fc.SetClockOffset(ctx, &cairnv1.SetClockOffsetRequest{OffsetNanos: int64(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.SetDiskDelay(ctx, &cairnv1.SetDiskDelayRequest{SyncDelayNanos: int64(time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	st, _ = fc.GetFaults(ctx, &cairnv1.GetFaultsRequest{})
	if st.GetClockOffsetNanos() != int64(time.Second) || st.GetDiskSyncDelayNanos() != int64(time.Millisecond) {
		t.Fatalf("fault state %v", st)
	}
	for _, n := range tn.nodes {
		st, err := faultClient(t, n).Heal(ctx, &cairnv1.HealRequest{})
		if err != nil || len(st.GetLinks()) != 0 || st.GetClockOffsetNanos() != 0 || st.GetDiskSyncDelayNanos() != 0 {
			t.Fatalf("heal %s: %v %v", n.Name(), st, err)
		}
	}
	testkit.WaitFor(t, 15*time.Second, "a write through n3 after the heal", func() bool { return put(n3, "k3") == nil })

	// A slow node: every request it answers waits the delay first.
	if _, err := fc.SetRequestDelay(ctx, &cairnv1.SetRequestDelayRequest{DelayNanos: int64(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := put(n3, "slow"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("a write through a node slowed by 300ms took %v", d)
	}
	if st, err := fc.Heal(ctx, &cairnv1.HealRequest{}); err != nil || st.GetRequestDelayNanos() != 0 {
		t.Fatalf("heal: %v %v", st, err)
	}
}

// Founders started with different --partitions refuse each other, and the
// refusal names both settings.
func TestFoundersWithDifferentSettingsRefused(t *testing.T) {
	tn := startNodes(t, 2, 4, func(c *Config) {
		if c.Name == "n2" {
			c.Settings.Partitions = 8
		}
	})
	testkit.WaitFor(t, 15*time.Second, "n1 to be refused by n2 over settings", func() bool {
		for _, p := range tn.nodes["n1"].tr.Peers() {
			if p.Name == "n2" && p.LastError != nil && strings.Contains(p.LastError.Error(), "partitions=8") &&
				strings.Contains(p.LastError.Error(), "partitions=4") {
				return true
			}
		}
		return false
	})
}
