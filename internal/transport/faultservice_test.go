package transport

import (
	"context"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type fakeDisk struct{ d time.Duration }

func (f *fakeDisk) SetSyncDelay(d time.Duration) { f.d = d }
func (f *fakeDisk) SyncDelay() time.Duration     { return f.d }

func TestFaultService(t *testing.T) {
	tr, err := New(Config{ClusterID: testClusterID, Name: "n1", Incarnation: 1, Resolve: newAddrBook().resolve, Handler: newRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	base := clock.NewFake(time.Unix(1_000_000, 0))
	disk := &fakeDisk{}
	f := &FaultService{Name: "n1", Clock: clock.NewSkewed(base, 0), Disk: disk, Transport: tr}
	ctx := context.Background()
	invalid := func(what string, _ *cairnv1.FaultState, err error) {
		t.Helper()
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%s: %v, want InvalidArgument", what, err)
		}
	}
	st, err := f.SetLinkFault(ctx, &cairnv1.SetLinkFaultRequest{Fault: &cairnv1.LinkFault{
		Peer: "n2", Direction: cairnv1.LinkDirection_LINK_DIRECTION_BOTH, Drop: 0.5, DelayNanos: int64(time.Millisecond)}})
	if err != nil || len(st.Links) != 2 {
		t.Fatalf("link fault both ways: %v %v", st, err)
	}
	if len(tr.Faults()) != 2 {
		t.Fatalf("transport faults %+v", tr.Faults())
	}
	s, err := f.SetLinkFault(ctx, &cairnv1.SetLinkFaultRequest{Fault: &cairnv1.LinkFault{Peer: "n1", Direction: cairnv1.LinkDirection_LINK_DIRECTION_OUTBOUND}})
	invalid("a fault to itself", s, err)
	s, err = f.SetLinkFault(ctx, &cairnv1.SetLinkFaultRequest{})
	invalid("no fault", s, err)
	s, err = f.SetLinkFault(ctx, &cairnv1.SetLinkFaultRequest{Fault: &cairnv1.LinkFault{Peer: "n2"}})
	invalid("no direction", s, err)
	s, err = f.SetClockOffset(ctx, &cairnv1.SetClockOffsetRequest{OffsetNanos: int64(2 * time.Hour)})
	invalid("a two-hour skew", s, err)
	if st, err = f.SetClockOffset(ctx, &cairnv1.SetClockOffsetRequest{OffsetNanos: int64(-3 * time.Second)}); err != nil || st.ClockOffsetNanos != int64(-3*time.Second) {
		t.Fatalf("clock offset: %v %v", st, err)
	}
	if got := f.Clock.Now().Sub(base.Now()); got != -3*time.Second {
		t.Fatalf("skewed clock off by %v", got)
	}
	if st, err = f.SetDiskDelay(ctx, &cairnv1.SetDiskDelayRequest{SyncDelayNanos: int64(50 * time.Millisecond)}); err != nil || disk.d != 50*time.Millisecond || st.DiskSyncDelayNanos != int64(disk.d) {
		t.Fatalf("disk delay: %v %v (disk %v)", st, err, disk.d)
	}
	s, err = f.SetRequestDelay(ctx, &cairnv1.SetRequestDelayRequest{DelayNanos: -1})
	invalid("a negative request delay", s, err)
	if _, err = f.SetRequestDelay(ctx, &cairnv1.SetRequestDelayRequest{DelayNanos: int64(time.Second)}); err != nil || f.RequestDelay() != time.Second {
		t.Fatalf("request delay %v %v", f.RequestDelay(), err)
	}
	if st, err = f.Heal(ctx, &cairnv1.HealRequest{}); err != nil || len(st.Links) != 0 || st.ClockOffsetNanos != 0 || st.DiskSyncDelayNanos != 0 || st.RequestDelayNanos != 0 {
		t.Fatalf("after Heal: %v %v", st, err)
	}
	if st, err = f.GetFaults(ctx, &cairnv1.GetFaultsRequest{}); err != nil || st.Node != "n1" || len(tr.Faults()) != 0 {
		t.Fatalf("GetFaults: %v %v", st, err)
	}
}
