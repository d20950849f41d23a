package admintest

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
)

// Fake is an Admin server. Set its answers before Start; PlanErr may be
// changed later with SetPlanErr.
type Fake struct {
	pb.UnimplementedAdminServer
	Plan       *pb.PlanResponse // Drain and Remove
	PlanErr    error
	JoinResp   *pb.JoinResponse
	Statuses   []*pb.StatusResponse // answered in turn; the last one again and again
	VerifyResp *pb.VerifyResponse

	mu  sync.Mutex
	req Requests
}

// Requests are what a Fake was asked, in order.
type Requests struct {
	Drains, Removes []*pb.NodeRequest
	Joins           []*pb.JoinRequest
	Recovers        []*pb.UnsafeRecoverRequest
	Verifies        []*pb.VerifyRequest
	StatusCalls     int
}

// Requests returns a copy of what f was asked so far.
func (f *Fake) Requests() Requests {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.req
	r.Drains, r.Removes, r.Joins = slices.Clone(r.Drains), slices.Clone(r.Removes), slices.Clone(r.Joins)
	r.Recovers, r.Verifies = slices.Clone(r.Recovers), slices.Clone(r.Verifies)
	return r
}

// SetPlanErr makes Drain and Remove answer err from now on.
func (f *Fake) SetPlanErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.PlanErr = err
}

func (f *Fake) UnsafeRecover(_ context.Context, r *pb.UnsafeRecoverRequest) (*pb.UnsafeRecoverResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.req.Recovers = append(f.req.Recovers, r)
	return &pb.UnsafeRecoverResponse{Group: 8, Partition: r.GetPartition(), Voters: []string{"n1", "n2", "n3"},
		Unreachable: []string{"n2", "n3"}, Survivor: "n1", Applied: 40, LastIndex: 42, Discarded: 2, Done: r.GetConfirm(),
		MembershipVersion: map[bool]uint64{true: 1004}[r.GetConfirm()]}, nil
}

func (f *Fake) Verify(_ context.Context, r *pb.VerifyRequest) (*pb.VerifyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.req.Verifies = append(f.req.Verifies, r)
	return f.VerifyResp, nil
}

func (f *Fake) Drain(_ context.Context, r *pb.NodeRequest) (*pb.PlanResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.req.Drains = append(f.req.Drains, r)
	return f.Plan, f.PlanErr
}

func (f *Fake) Remove(_ context.Context, r *pb.NodeRequest) (*pb.PlanResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.req.Removes = append(f.req.Removes, r)
	return f.Plan, f.PlanErr
}

func (f *Fake) Join(_ context.Context, r *pb.JoinRequest) (*pb.JoinResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.req.Joins = append(f.req.Joins, r)
	return f.JoinResp, nil
}

func (f *Fake) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := min(f.req.StatusCalls, len(f.Statuses)-1)
	f.req.StatusCalls++
	return f.Statuses[i], nil
}

// Start serves f on a loopback port until the test ends, and returns the
// port's address.
func (f *Fake) Start(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterAdminServer(srv, f)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String()
}

// Moves are three moves of a plan, and MovesText how cairn admin prints
// them.
var Moves = []*pb.Move{
	{Group: 8, Partition: 7, Add: "n4", Remove: "n2"},
	{Group: 0, Partition: -1, Add: "n3", Remove: "n2"},
	{Group: 1, Partition: 0, Add: "n4"},
}

const MovesText = `would move 3 replicas:
  partition 7 (group 8): add n4, remove n2
  meta group: add n3, remove n2
  partition 0 (group 1): add n4
`
