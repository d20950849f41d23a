package admincli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Options are the flags of a `cairn admin` command.
type Options struct {
	Endpoints []string      // --endpoints, tried in order; blanks are skipped
	Output    string        // -o table|json
	Timeout   time.Duration // --timeout of each call; must be positive
	Wait      bool          // status, drain and remove --wait
	DryRun    bool          // drain, remove and unsafe-recover --dry-run
	Yes       bool          // unsafe-recover --yes
	Role      string        // user add, user grant --role
	Password  string        // user add, user passwd (from --new-password-file)
	TTL       time.Duration // join-token create --ttl
	Unsafe    bool          // promote --unsafe
	// PollInterval is how often --wait asks for the status. 0:
	// DefaultPollInterval.
	PollInterval time.Duration
	Out, Err     io.Writer // answers; progress, reports and questions
	In           io.Reader // the typed-back partition number of unsafe-recover
	// DialOptions are the connections' options (--cacert/--cert/--key);
	// none: plaintext.
	DialOptions []grpc.DialOption
}

// DefaultTimeout is --timeout's default: a drain may wait up to 5 s for
// the meta leader to learn every descriptor, which this leaves room for.
const DefaultTimeout = 10 * time.Second

// DefaultPollInterval is how often --wait asks for the status.
const DefaultPollInterval = time.Second

var (
	// ErrUsage is what a usage error is (errors.Is): a bad argument or
	// flag value, exit status 2. Its message says what to give instead.
	ErrUsage = errors.New("admincli: usage error")
	// ErrInterrupted: ctx ended (Ctrl-C) while a call was under way;
	// exit status 2.
	ErrInterrupted = errors.New("interrupted")
	// ErrUnreachable: no endpoint answered (each one's error follows).
	ErrUnreachable = errors.New("no endpoint answered")
)

// usageError is a usage error; its message is the inner error's.
type usageError struct{ error }

func (usageError) Is(target error) bool { return target == ErrUsage }

// shownError is a failure the command has printed already, with its JSON
// line under -o json; it still exits 1.
type shownError struct{ error }

// Run runs one command: status, drain, remove, unsafe-recover or verify,
// with its arguments (cmd/cairn has checked their number). Its errors are
// the server's messages as they are, usage errors (ErrUsage) and
// ErrInterrupted; under -o json a failure also prints {"error": ...} on
// Out unless the command printed its own answer.
func Run(ctx context.Context, o Options, cmd string, args []string) error {
	err := run(ctx, o, cmd, args)
	var shown shownError
	if err != nil && o.Output == "json" && !errors.As(err, &shown) {
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		fmt.Fprintf(o.Out, "%s\n", b)
	}
	return err
}

func run(ctx context.Context, o Options, cmd string, args []string) error {
	var eps []string
	for _, ep := range o.Endpoints {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	o.Endpoints = eps
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	switch {
	case o.Output != "table" && o.Output != "json":
		return usageError{fmt.Errorf("-o %q: want table or json", o.Output)}
	case len(o.Endpoints) == 0:
		return usageError{errors.New("--endpoints: want at least one gRPC address, e.g. 127.0.0.1:7379")}
	case o.Timeout <= 0:
		return usageError{fmt.Errorf("--timeout %v: must be positive", o.Timeout)}
	}
	var fn func(context.Context, Options, *conn, []string) error
	switch cmd {
	case "status":
		fn = statusCmd
	case "drain":
		fn = nodeCmd(pb.AdminClient.Drain)
	case "remove":
		fn = nodeCmd(pb.AdminClient.Remove)
	case "unsafe-recover":
		fn = unsafeRecover
	case "verify":
		fn = verify
	case "user add", "user remove", "user passwd", "user grant", "user list",
		"join-token create", "join-token list", "join-token revoke":
		fn = securityCmd(cmd)
	case "promote":
		fn = promote
	default:
		return usageError{fmt.Errorf("unknown command %q: want status, drain, remove, promote, unsafe-recover, verify, user or join-token", cmd)}
	}
	a := newConn(o.Endpoints, o.Timeout, o.DialOptions)
	defer a.close()
	err := fn(ctx, o, a, args)
	if err != nil && ctx.Err() != nil {
		return ErrInterrupted
	}
	return adminError(err, o.Timeout)
}

// statusCmd is `cairn admin status`.
func statusCmd(ctx context.Context, o Options, a *conn, _ []string) error {
	var st *pb.StatusResponse
	var err error
	if o.Wait {
		st, err = waitConverged(ctx, a, o, "")
	} else {
		st, err = call(ctx, a, func(ctx context.Context, c pb.AdminClient) (*pb.StatusResponse, error) {
			return c.Status(ctx, &pb.StatusRequest{})
		})
	}
	if err != nil {
		return err
	}
	addEngineSection(ctx, a, st)
	return printStatus(o, st)
}

// printStatus prints st as -o asks.
func printStatus(o Options, st *pb.StatusResponse) error {
	if o.Output == "json" {
		return writeProtoJSON(o.Out, st)
	}
	writeStatus(o.Out, st, time.Now())
	writeEngineSection(o.Out, st.GetEnginePartitions())
	return nil
}

// nodeCmd is drain or remove NODE: call, then print the plan or wait.
func nodeCmd(rpc func(pb.AdminClient, context.Context, *pb.NodeRequest, ...grpc.CallOption) (*pb.PlanResponse, error)) func(context.Context, Options, *conn, []string) error {
	return func(ctx context.Context, o Options, a *conn, args []string) error {
		name := args[0]
		if o.DryRun && o.Wait {
			return usageError{errors.New("--dry-run changes nothing, so there is nothing to --wait for")}
		}
		plan, err := call(ctx, a, func(ctx context.Context, c pb.AdminClient) (*pb.PlanResponse, error) {
			return rpc(c, ctx, &pb.NodeRequest{Node: name, DryRun: o.DryRun})
		})
		if err != nil {
			return err
		}
		switch {
		case o.Output == "json":
			if err := writeProtoJSON(o.Out, plan); err != nil {
				return err
			}
		case o.DryRun:
			writeMoves(o.Out, plan.GetMoves())
		default:
			n := len(plan.GetMoves())
			fmt.Fprintf(o.Out, "%s is %s: %d %s planned\n", name, plan.GetState(), n, plural(n, "move", "moves"))
		}
		if !o.Wait {
			return nil
		}
		st, err := waitConverged(ctx, a, o, name)
		if err != nil {
			return err
		}
		return printStatus(o, st)
	}
}

// unsafeRecover is `cairn admin unsafe-recover PARTITION`.
func unsafeRecover(ctx context.Context, o Options, a *conn, args []string) error {
	p, err := strconv.Atoi(args[0])
	if err != nil || p < 0 {
		return usageError{fmt.Errorf("PARTITION %q: want a partition number (0 to partitions-1)", args[0])}
	}
	do := func(confirm bool) (*pb.UnsafeRecoverResponse, error) {
		return call(ctx, a, func(ctx context.Context, cl pb.AdminClient) (*pb.UnsafeRecoverResponse, error) {
			return cl.UnsafeRecover(ctx, &pb.UnsafeRecoverRequest{Partition: int32(p), Confirm: confirm})
		})
	}
	plan, err := do(false)
	if err != nil {
		return err
	}
	if o.DryRun {
		if o.Output == "json" {
			return writeProtoJSON(o.Out, plan)
		}
		writeRecoverPlan(o.Out, plan)
		return nil
	}
	writeRecoverPlan(o.Err, plan)
	if !o.Yes {
		fmt.Fprintf(o.Err, "Type the partition number (%d) to go on: ", p)
		var line string
		if o.In != nil {
			line, _ = bufio.NewReader(o.In).ReadString('\n')
		}
		if strings.TrimSpace(line) != strconv.Itoa(p) {
			return errors.New("not confirmed: nothing changed (--yes skips the question)")
		}
	}
	done, err := do(true)
	if err != nil {
		return err
	}
	if o.Output == "json" {
		return writeProtoJSON(o.Out, done)
	}
	fmt.Fprintf(o.Out, "partition %d recovered on %s (membership version %d): entries up to %d kept, %d dropped; the rebalancer now rebuilds its other replicas\n",
		p, done.GetSurvivor(), done.GetMembershipVersion(), done.GetApplied(), done.GetDiscarded())
	return nil
}

// adminError turns a gRPC error into its status message, verbatim: the
// server's messages (a refused drain, an unknown node) are written for
// the operator. Exit status 1.
func adminError(err error, timeout time.Duration) error {
	var ue unreachableError
	var shown shownError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUsage), errors.Is(err, ErrInterrupted), errors.As(err, &shown):
		return err
	case errors.As(err, &ue):
		return fmt.Errorf("%w: %s", ErrUnreachable, ue.Error())
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	if s.Code() == codes.DeadlineExceeded && s.Message() == context.DeadlineExceeded.Error() {
		return fmt.Errorf("%s (--timeout %v)", s.Message(), timeout)
	}
	return errors.New(s.Message())
}

// conn calls the Admin service on the first of its endpoints that
// answers, keeping a connection to each one tried.
type conn struct {
	endpoints []string
	timeout   time.Duration // per call
	mu        sync.Mutex    // guards conns (the status's engine section dials nodes at once)
	conns     map[string]*grpc.ClientConn
	dialOpts  []grpc.DialOption // --cacert/--cert/--key, or plaintext
	// first is the endpoint that answered last; later calls start there.
	first int
}

func newConn(endpoints []string, timeout time.Duration, dial []grpc.DialOption) *conn {
	if len(dial) == 0 {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	return &conn{endpoints: endpoints, timeout: timeout, conns: map[string]*grpc.ClientConn{}, dialOpts: dial}
}

func (a *conn) close() {
	for _, cc := range a.conns {
		_ = cc.Close()
	}
}

// unreachableError: no endpoint answered. It lists each endpoint's error.
type unreachableError struct {
	errs []string
	last error // the last endpoint's, for status.Code
}

func (e unreachableError) Error() string { return strings.Join(e.errs, "; ") }
func (e unreachableError) Unwrap() error { return e.last }

// call runs fn against the endpoints in turn until one answers with
// anything but UNAVAILABLE. NB: UNAVAILABLE mostly means the endpoint
// could not be reached, so the call was never made; when it was, asking
// the next endpoint asks for the same state change again, which is what
// the operator wants (as kv's Run does for a read).
func call[T any](ctx context.Context, a *conn, fn func(context.Context, pb.AdminClient) (T, error)) (T, error) {
	return callConn(ctx, a, func(ctx context.Context, cc grpc.ClientConnInterface) (T, error) {
		return fn(ctx, pb.NewAdminClient(cc))
	})
}

// callConn is call for any service on the endpoints' connections.
func callConn[T any](ctx context.Context, a *conn, fn func(context.Context, grpc.ClientConnInterface) (T, error)) (T, error) {
	var zero T
	var ue unreachableError
	for i := range a.endpoints {
		k := (a.first + i) % len(a.endpoints)
		ep := a.endpoints[k]
		cc, err := a.dial(ep)
		if err != nil {
			ue.errs = append(ue.errs, fmt.Sprintf("%s: %v", ep, err))
			ue.last = err
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, a.timeout)
		r, err := fn(cctx, cc)
		cancel()
		if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
			ue.errs = append(ue.errs, fmt.Sprintf("%s: %s", ep, status.Convert(err).Message()))
			ue.last = err
			continue
		}
		a.first = k
		return r, err
	}
	return zero, ue
}

// waitConverged asks for the status every o.PollInterval, printing one
// progress line to o.Err per answer, until no move is in flight or queued,
// the rebalancer knows every group and, when name is set, that node is
// removed and holds no replica. An UNAVAILABLE answer (a meta leader
// changing) is printed and asked again.
func waitConverged(ctx context.Context, a *conn, o Options, name string) (*pb.StatusResponse, error) {
	t := time.NewTicker(o.PollInterval)
	defer t.Stop()
	for {
		st, err := call(ctx, a, func(ctx context.Context, c pb.AdminClient) (*pb.StatusResponse, error) {
			return c.Status(ctx, &pb.StatusRequest{})
		})
		switch {
		case err == nil:
			fmt.Fprintln(o.Err, progressLine(st, name))
			if converged(st, name) {
				return st, nil
			}
		case status.Code(err) == codes.Unavailable && ctx.Err() == nil:
			fmt.Fprintf(o.Err, "%v (asking again)\n", adminError(err, a.timeout))
		default:
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func converged(st *pb.StatusResponse, name string) bool {
	if len(st.GetInFlight()) > 0 || len(st.GetQueued()) > 0 || st.GetGroupsKnown() < st.GetGroups() {
		return false
	}
	if n := findNode(st, name); n != nil {
		return n.GetMember().GetState() == cluster.NodeRemoved && n.GetReplicas() == 0
	}
	return true // no such node (any more): nothing of it left to wait for
}

func findNode(st *pb.StatusResponse, name string) *pb.NodeStatus {
	if name == "" {
		return nil
	}
	for _, n := range st.GetNodes() {
		if n.GetMember().GetName() == name {
			return n
		}
	}
	return nil
}
