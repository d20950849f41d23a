package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/chaos"
	"github.com/cairnkv/cairn/internal/clock"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// injector is what the nemesis does to the cluster. Each call returns once
// the fault is in force (or failed); Heal undoes every fault on every node.
type injector interface {
	// Kill sends SIGKILL to the node and waits until it is gone.
	Kill(ctx context.Context, node string) error
	// Pause sends SIGSTOP.
	Pause(ctx context.Context, node string) error
	// Cut drops the messages on every link of cut.
	Cut(ctx context.Context, cut chaos.Cut) error
	// SetClock moves the node's clock by offset.
	SetClock(ctx context.Context, node string, offset time.Duration) error
	// SetDiskDelay makes every fsync of the node wait delay first.
	SetDiskDelay(ctx context.Context, node string, delay time.Duration) error
	// Leader names the node leading the most partitions now.
	Leader(ctx context.Context) (string, error)
	// Heal resumes paused nodes, restarts killed (or crashed) ones on
	// their flags and data, retired ones aside, and clears link faults,
	// clock offsets and disk delays everywhere.
	Heal(ctx context.Context) error

	// Join starts a new node, name, on fresh ports and data, with the
	// flags of the others and --join set to the member via; it returns
	// once the process runs (the join itself takes a moment more).
	Join(ctx context.Context, name, via string) error
	// Drain asks the cluster to move every replica off node and then
	// mark it removed (Admin.Drain); it returns once the drain started.
	Drain(ctx context.Context, node string) error
	// Status is the meta leader's view (Admin.Status): the members'
	// states, the moves in flight and queued. One attempt per node.
	Status(ctx context.Context) (*pb.StatusResponse, error)
	// Retire kills a node that was drained and removed, for good: heals
	// no longer restart it.
	Retire(ctx context.Context, node string) error
}

// rpcTimeout bounds one FaultInjection or Cluster call; a node being
// restarted is retried for up to rpcPatience.
const (
	rpcTimeout  = time.Second
	rpcPatience = 10 * time.Second
)

// dialOptions are the harness's gRPC options: no TLS on loopback, and a
// short reconnect backoff, because a killed server comes back on the same
// port within seconds and gRPC's default backoff grows to two minutes.
func dialOptions() []grpc.DialOption {
	bc := backoff.DefaultConfig
	bc.MaxDelay = 500 * time.Millisecond
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bc, MinConnectTimeout: time.Second}),
	}
}

// clusterInjector is the injector of a real cluster: signals for process
// faults, the servers' FaultInjection service for the rest, their Admin
// service and new processes for membership. Used by one goroutine at a
// time (the nemesis, then the run's end).
type clusterInjector struct {
	c      *cluster
	faults map[string]pb.FaultInjectionClient
	api    map[string]*grpcapi.Client
	admin  map[string]pb.AdminClient
	owned  []*grpc.ClientConn // dialled here for joined nodes; closed by close
}

// newClusterInjector uses conns, one per server by name (the gRPC port
// serves KV, Cluster, Admin and FaultInjection alike).
func newClusterInjector(c *cluster, conns map[string]*grpc.ClientConn) *clusterInjector {
	inj := &clusterInjector{c: c, faults: make(map[string]pb.FaultInjectionClient), api: make(map[string]*grpcapi.Client),
		admin: make(map[string]pb.AdminClient)}
	for name, cc := range conns {
		inj.use(name, cc)
	}
	return inj
}

func (i *clusterInjector) use(name string, cc *grpc.ClientConn) {
	i.faults[name] = pb.NewFaultInjectionClient(cc)
	i.api[name] = grpcapi.NewClient(cc)
	i.admin[name] = pb.NewAdminClient(cc)
}

// close closes the connections to the nodes that joined.
func (i *clusterInjector) close() {
	for _, cc := range i.owned {
		cc.Close()
	}
	i.owned = nil
}

func (i *clusterInjector) Kill(_ context.Context, node string) error {
	s, err := i.c.server(node)
	if err != nil {
		return err
	}
	return i.c.kill(s)
}

func (i *clusterInjector) Pause(_ context.Context, node string) error {
	s, err := i.c.server(node)
	if err != nil {
		return err
	}
	return i.c.pause(s)
}

func (i *clusterInjector) Cut(ctx context.Context, cut chaos.Cut) error {
	for _, l := range cut.Links {
		// Cuts are symmetric, so cutting each directed link at its
		// sender (outbound) cuts both directions; the transport also
		// refuses to forward requests over a cut link.
		req := &pb.SetLinkFaultRequest{Fault: &pb.LinkFault{
			Peer: l.To, Direction: pb.LinkDirection_LINK_DIRECTION_OUTBOUND, Drop: 1}}
		err := i.call(ctx, l.From, func(ctx context.Context, fc pb.FaultInjectionClient) error {
			_, err := fc.SetLinkFault(ctx, req)
			return err
		})
		if err != nil {
			return fmt.Errorf("cutting %s→%s: %w", l.From, l.To, err)
		}
	}
	return nil
}

func (i *clusterInjector) SetClock(ctx context.Context, node string, offset time.Duration) error {
	return i.call(ctx, node, func(ctx context.Context, fc pb.FaultInjectionClient) error {
		_, err := fc.SetClockOffset(ctx, &pb.SetClockOffsetRequest{OffsetNanos: int64(offset)})
		return err
	})
}

func (i *clusterInjector) SetDiskDelay(ctx context.Context, node string, delay time.Duration) error {
	return i.call(ctx, node, func(ctx context.Context, fc pb.FaultInjectionClient) error {
		_, err := fc.SetDiskDelay(ctx, &pb.SetDiskDelayRequest{SyncDelayNanos: int64(delay)})
		return err
	})
}

// Leader asks the running servers, in turn, for the routing table and
// names the node that leads the most partitions (ties: the first name).
func (i *clusterInjector) Leader(ctx context.Context) (string, error) {
	var errs []error
	for _, s := range i.c.list() {
		if s.state() != running || s.retired() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		info, err := i.api[s.name].GetCluster(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			continue
		}
		if l := mostLeader(info); l != "" {
			return l, nil
		}
		errs = append(errs, fmt.Errorf("%s knows no leader", s.name))
	}
	return "", fmt.Errorf("no leader found: %w", errors.Join(errs...))
}

// mostLeader names the node that leads the most partitions in info.
func mostLeader(info *pb.ClusterInfo) string {
	count := make(map[string]int)
	for _, p := range info.GetPartitions() {
		if l := p.GetLeader(); l != "" {
			count[l]++
		}
	}
	names := make([]string, 0, len(count))
	for n := range count {
		names = append(names, n)
	}
	sort.Strings(names)
	best := ""
	for _, n := range names {
		if best == "" || count[n] > count[best] {
			best = n
		}
	}
	return best
}

func (i *clusterInjector) Heal(ctx context.Context) error {
	var errs []error
	restarted := make(map[string]bool)
	servers := i.c.list()
	for _, s := range servers {
		switch {
		case s.retired():
		case s.state() == paused:
			errs = append(errs, i.c.resume(s))
		case s.state() == stopped:
			restarted[s.name] = true
			errs = append(errs, i.c.startServer(s))
		}
	}
	for _, s := range servers {
		if restarted[s.name] || s.retired() {
			continue // a fresh process has no injected faults; a retired one none at all
		}
		err := i.call(ctx, s.name, func(ctx context.Context, fc pb.FaultInjectionClient) error {
			_, err := fc.Heal(ctx, &pb.HealRequest{})
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("healing %s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

// call runs fn against node's FaultInjection service, retrying failures
// for up to rpcPatience (a server restarted a moment ago is not serving
// yet).
func (i *clusterInjector) call(ctx context.Context, node string, fn func(context.Context, pb.FaultInjectionClient) error) error {
	fc, ok := i.faults[node]
	if !ok {
		return fmt.Errorf("runner: no server %q", node)
	}
	deadline := time.Now().Add(rpcPatience)
	for {
		cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		err := fn(cctx, fc)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		if serr := clock.Sleep(ctx, 100*time.Millisecond); serr != nil {
			return err
		}
	}
}

func (i *clusterInjector) Join(_ context.Context, name, via string) error {
	v, err := i.c.server(via)
	if err != nil {
		return err
	}
	s, err := i.c.add(name, v.grpc)
	if s != nil {
		cc, derr := grpc.NewClient(s.grpc, dialOptions()...)
		if derr != nil {
			return errors.Join(err, fmt.Errorf("runner: dialling %s: %w", name, derr))
		}
		i.owned = append(i.owned, cc)
		i.use(name, cc)
	}
	return err
}

func (i *clusterInjector) Drain(ctx context.Context, node string) error {
	// NB: a drain is a change of the meta group, slower than the other
	// calls; asking again is safe (draining a draining node changes
	// nothing).
	return i.admins(ctx, 5*time.Second, rpcPatience, func(ctx context.Context, ac pb.AdminClient) error {
		_, err := ac.Drain(ctx, &pb.NodeRequest{Node: node})
		return err
	})
}

func (i *clusterInjector) Status(ctx context.Context) (*pb.StatusResponse, error) {
	var st *pb.StatusResponse
	err := i.admins(ctx, 2*time.Second, 0, func(ctx context.Context, ac pb.AdminClient) error {
		var err error
		st, err = ac.Status(ctx, &pb.StatusRequest{})
		return err
	})
	return st, err
}

func (i *clusterInjector) Retire(_ context.Context, node string) error {
	s, err := i.c.server(node)
	if err != nil {
		return err
	}
	return i.c.retire(s)
}

// admins runs fn against the Admin service of the running nodes in turn
// (any node passes the call to the meta leader) until one answers, or
// fails otherwise than with Unavailable, DeadlineExceeded or Aborted (the
// cluster refused: that answer is the same from every node), each call
// bounded by timeout. It goes round again for up to patience.
func (i *clusterInjector) admins(ctx context.Context, timeout, patience time.Duration, fn func(context.Context, pb.AdminClient) error) error {
	deadline := time.Now().Add(patience)
	for {
		var errs []error
		for _, s := range i.c.list() {
			ac, ok := i.admin[s.name]
			if !ok || s.state() != running || s.retired() {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, timeout)
			err := fn(cctx, ac)
			cancel()
			switch status.Code(err) {
			case codes.OK:
				return nil
			case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
				// Aborted: the cluster asks to retry (a new meta leader
				// that does not know every descriptor yet).
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			default:
				return err
			}
		}
		err := fmt.Errorf("runner: no node answered: %w", errors.Join(errs...))
		if len(errs) == 0 {
			err = errors.New("runner: no node is running")
		}
		if time.Now().After(deadline) {
			return err
		}
		if serr := clock.Sleep(ctx, 200*time.Millisecond); serr != nil {
			return err
		}
	}
}
