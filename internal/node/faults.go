package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// faultInjector serves the FaultInjection service of a node started with
// --fault-injection: link faults go to the transport, clock skew to the
// clock the engine and transport read, slow fsync to the store's files.
type faultInjector struct {
	cairnv1.UnimplementedFaultInjectionServer
	name  string
	clock *clock.Skewed
	fs    *storage.SlowSyncFS
	tr    *transport.GRPC // set once the transport exists
	// requestDelay holds every client request back this long (ns).
	requestDelay atomic.Int64
}

// delay waits out the injected request delay, or until ctx ends.
func (f *faultInjector) delay(ctx context.Context) error {
	d := time.Duration(f.requestDelay.Load())
	if d <= 0 {
		return nil
	}
	if err := clock.Sleep(ctx, d); err != nil {
		return fmt.Errorf("%w: %w", replica.ErrNotApplied, err)
	}
	return nil
}

func (f *faultInjector) SetRequestDelay(_ context.Context, req *cairnv1.SetRequestDelayRequest) (*cairnv1.FaultState, error) {
	d := time.Duration(req.GetDelayNanos())
	if d < 0 || d > time.Minute {
		return nil, status.Errorf(codes.InvalidArgument, "request delay %v: want 0 to 1m", d)
	}
	f.requestDelay.Store(int64(d))
	return f.state(), nil
}

func newFaultInjector(name string, base clock.Clock) *faultInjector {
	return &faultInjector{name: name, clock: clock.NewSkewed(base, 0), fs: storage.NewSlowSyncFS(nil)}
}

// maxInjectedOffset bounds clock skew and disk delay: enough for any test,
// short of nonsense.
const maxInjectedOffset = time.Hour

func (f *faultInjector) SetLinkFault(_ context.Context, req *cairnv1.SetLinkFaultRequest) (*cairnv1.FaultState, error) {
	lf := req.GetFault()
	if lf == nil {
		return nil, status.Error(codes.InvalidArgument, "fault is required")
	}
	var dirs []transport.Direction
	switch lf.GetDirection() {
	case cairnv1.LinkDirection_LINK_DIRECTION_OUTBOUND:
		dirs = []transport.Direction{transport.Outbound}
	case cairnv1.LinkDirection_LINK_DIRECTION_INBOUND:
		dirs = []transport.Direction{transport.Inbound}
	case cairnv1.LinkDirection_LINK_DIRECTION_BOTH:
		dirs = []transport.Direction{transport.Outbound, transport.Inbound}
	default:
		return nil, status.Errorf(codes.InvalidArgument, "direction %v: want OUTBOUND, INBOUND or BOTH", lf.GetDirection())
	}
	if lf.GetPeer() == f.name {
		return nil, status.Errorf(codes.InvalidArgument, "peer %q is this node", lf.GetPeer())
	}
	fault := transport.Fault{
		Drop: lf.GetDrop(), Delay: time.Duration(lf.GetDelayNanos()),
		Jitter: time.Duration(lf.GetJitterNanos()), Duplicate: lf.GetDuplicate(),
	}
	if err := fault.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	for _, d := range dirs {
		if err := f.tr.SetFault(lf.GetPeer(), d, fault); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	return f.state(), nil
}

func (f *faultInjector) SetClockOffset(_ context.Context, req *cairnv1.SetClockOffsetRequest) (*cairnv1.FaultState, error) {
	d := time.Duration(req.GetOffsetNanos())
	if d > maxInjectedOffset || d < -maxInjectedOffset {
		return nil, status.Errorf(codes.InvalidArgument, "clock offset %v: at most %v either way", d, maxInjectedOffset)
	}
	f.clock.SetOffset(d)
	return f.state(), nil
}

func (f *faultInjector) SetDiskDelay(_ context.Context, req *cairnv1.SetDiskDelayRequest) (*cairnv1.FaultState, error) {
	d := time.Duration(req.GetSyncDelayNanos())
	if d < 0 || d > time.Minute {
		return nil, status.Errorf(codes.InvalidArgument, "sync delay %v: want 0 to 1m", d)
	}
	f.fs.SetSyncDelay(d)
	return f.state(), nil
}

func (f *faultInjector) Heal(context.Context, *cairnv1.HealRequest) (*cairnv1.FaultState, error) {
	f.tr.ClearFaults()
	f.clock.SetOffset(0)
	f.fs.SetSyncDelay(0)
	f.requestDelay.Store(0)
	return f.state(), nil
}

func (f *faultInjector) GetFaults(context.Context, *cairnv1.GetFaultsRequest) (*cairnv1.FaultState, error) {
	return f.state(), nil
}

func (f *faultInjector) state() *cairnv1.FaultState {
	st := &cairnv1.FaultState{
		Node:               f.name,
		ClockOffsetNanos:   int64(f.clock.Now().Sub(f.clock.Base.Now()).Round(time.Millisecond)),
		DiskSyncDelayNanos: int64(f.fs.SyncDelay()),
		RequestDelayNanos:  f.requestDelay.Load(),
	}
	for _, lf := range f.tr.Faults() {
		dir := cairnv1.LinkDirection_LINK_DIRECTION_OUTBOUND
		if lf.Direction == transport.Inbound {
			dir = cairnv1.LinkDirection_LINK_DIRECTION_INBOUND
		}
		st.Links = append(st.Links, &cairnv1.LinkFault{
			Peer: lf.Peer, Direction: dir, Drop: lf.Drop, DelayNanos: int64(lf.Delay),
			JitterNanos: int64(lf.Jitter), Duplicate: lf.Duplicate,
		})
	}
	return st
}
