package transport

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SyncDelayer is the store's injectable slow fsync (storage.SlowSyncFS).
type SyncDelayer interface {
	SetSyncDelay(d time.Duration)
	SyncDelay() time.Duration
}

// FaultService serves the FaultInjection service of a node started with
// --fault-injection: link faults go to Transport, clock skew to Clock (the
// clock the engine and transport read), slow fsync to Disk (the store's
// files); the request delay is the node's to wait out (RequestDelay).
type FaultService struct {
	cairnv1.UnimplementedFaultInjectionServer
	Name      string
	Clock     *clock.Skewed
	Disk      SyncDelayer
	Transport *GRPC // set before the service is served
	// requestDelay holds every client request back this long (ns).
	requestDelay atomic.Int64
}

// RequestDelay is how long every client request is held back.
func (f *FaultService) RequestDelay() time.Duration { return time.Duration(f.requestDelay.Load()) }

func (f *FaultService) SetRequestDelay(_ context.Context, req *cairnv1.SetRequestDelayRequest) (*cairnv1.FaultState, error) {
	d := time.Duration(req.GetDelayNanos())
	if d < 0 || d > time.Minute {
		return nil, status.Errorf(codes.InvalidArgument, "request delay %v: want 0 to 1m", d)
	}
	f.requestDelay.Store(int64(d))
	return f.state(), nil
}

// maxInjectedOffset bounds clock skew and disk delay: enough for any test,
// short of nonsense.
const maxInjectedOffset = time.Hour

func (f *FaultService) SetLinkFault(_ context.Context, req *cairnv1.SetLinkFaultRequest) (*cairnv1.FaultState, error) {
	lf := req.GetFault()
	if lf == nil {
		return nil, status.Error(codes.InvalidArgument, "fault is required")
	}
	var dirs []Direction
	switch lf.GetDirection() {
	case cairnv1.LinkDirection_LINK_DIRECTION_OUTBOUND:
		dirs = []Direction{Outbound}
	case cairnv1.LinkDirection_LINK_DIRECTION_INBOUND:
		dirs = []Direction{Inbound}
	case cairnv1.LinkDirection_LINK_DIRECTION_BOTH:
		dirs = []Direction{Outbound, Inbound}
	default:
		return nil, status.Errorf(codes.InvalidArgument, "direction %v: want OUTBOUND, INBOUND or BOTH", lf.GetDirection())
	}
	if lf.GetPeer() == f.Name {
		return nil, status.Errorf(codes.InvalidArgument, "peer %q is this node", lf.GetPeer())
	}
	fault := Fault{
		Drop: lf.GetDrop(), Delay: time.Duration(lf.GetDelayNanos()),
		Jitter: time.Duration(lf.GetJitterNanos()), Duplicate: lf.GetDuplicate(),
	}
	if err := fault.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	for _, d := range dirs {
		if err := f.Transport.SetFault(lf.GetPeer(), d, fault); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	return f.state(), nil
}

func (f *FaultService) SetClockOffset(_ context.Context, req *cairnv1.SetClockOffsetRequest) (*cairnv1.FaultState, error) {
	d := time.Duration(req.GetOffsetNanos())
	if d > maxInjectedOffset || d < -maxInjectedOffset {
		return nil, status.Errorf(codes.InvalidArgument, "clock offset %v: at most %v either way", d, maxInjectedOffset)
	}
	f.Clock.SetOffset(d)
	return f.state(), nil
}

func (f *FaultService) SetDiskDelay(_ context.Context, req *cairnv1.SetDiskDelayRequest) (*cairnv1.FaultState, error) {
	d := time.Duration(req.GetSyncDelayNanos())
	if d < 0 || d > time.Minute {
		return nil, status.Errorf(codes.InvalidArgument, "sync delay %v: want 0 to 1m", d)
	}
	f.Disk.SetSyncDelay(d)
	return f.state(), nil
}

func (f *FaultService) Heal(context.Context, *cairnv1.HealRequest) (*cairnv1.FaultState, error) {
	f.Transport.ClearFaults()
	f.Clock.SetOffset(0)
	f.Disk.SetSyncDelay(0)
	f.requestDelay.Store(0)
	return f.state(), nil
}

func (f *FaultService) GetFaults(context.Context, *cairnv1.GetFaultsRequest) (*cairnv1.FaultState, error) {
	return f.state(), nil
}

func (f *FaultService) state() *cairnv1.FaultState {
	st := &cairnv1.FaultState{
		Node:               f.Name,
		ClockOffsetNanos:   int64(f.Clock.Now().Sub(f.Clock.Base.Now()).Round(time.Millisecond)),
		DiskSyncDelayNanos: int64(f.Disk.SyncDelay()),
		RequestDelayNanos:  f.requestDelay.Load(),
	}
	for _, lf := range f.Transport.Faults() {
		dir := cairnv1.LinkDirection_LINK_DIRECTION_OUTBOUND
		if lf.Direction == Inbound {
			dir = cairnv1.LinkDirection_LINK_DIRECTION_INBOUND
		}
		st.Links = append(st.Links, &cairnv1.LinkFault{
			Peer: lf.Peer, Direction: dir, Drop: lf.Drop, DelayNanos: int64(lf.Delay),
			JitterNanos: int64(lf.Jitter), Duplicate: lf.Duplicate,
		})
	}
	return st
}
