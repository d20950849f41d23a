package main

// NB: DESIGN.md wants a subcommand's logic in a package a test can call;
// cairn admin is only a client of the Admin service (call, print, poll), so
// it lives here, and admin_test.go runs it against a fake Admin server.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/node"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// adminPollInterval is how often --wait asks for the status; tests shorten it.
var adminPollInterval = time.Second

// adminDefaultTimeout bounds each call to the cluster (--timeout).
const adminDefaultTimeout = 10 * time.Second

func adminCmd() *cobra.Command {
	admin := &cobra.Command{
		Use:   "admin",
		Short: "Drain and remove nodes, watch the rebalancer, verify replicas",
		Long: `Change a running cluster's membership and watch replicas move; check that
every partition's replicas hold the same state (verify). Any node answers:
one that does not lead the meta group passes the call on to the one that
does. --endpoints are tried in order until one answers. Output is a table
by default; -o json prints one JSON object per line (field names as in
proto/cairn/v1/admin.proto). Progress of --wait goes to stderr.

Nodes join with "cairn server --join" (and "--join ... --dry-run" shows the
moves a join would cause). Exit status: 0 done, 1 the cluster refused or the
call failed (the server's message is printed as it is), 2 a usage error or
Ctrl-C.

Example:

  cairn admin status --endpoints 10.0.0.1:7379,10.0.0.2:7379
  cairn admin drain n2 --dry-run`,
		// NB: runnable only so that an unknown subcommand is a usage error;
		// cobra would print the help and exit 0.
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return commandError{c.CommandPath(), usageError{fmt.Errorf("unknown command %q: want status, drain, remove, unsafe-recover or verify", args[0])}}
			}
			return c.Help()
		},
	}
	// A mistyped flag is a usage error (exit 2), as the DESIGN.md exit
	// statuses of cairn admin say; subcommands inherit this.
	admin.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return commandError{c.CommandPath(), usageError{err}}
	})
	pf := admin.PersistentFlags()
	pf.String("endpoints", "127.0.0.1:7379", "comma-separated gRPC addresses of nodes, tried in order until one answers")
	pf.StringP("output", "o", "table", "output: table or json (one JSON object per line)")
	pf.Duration("timeout", adminDefaultTimeout, "timeout of each call to the cluster")

	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "Show the nodes, their replicas and the moves in flight",
		Long: `Show the meta leader's view of the cluster: the placement epoch, every node
with its state, zone, capacity, the replicas and leaders it holds, the
replicas the ring gives it (TARGET) and its bound (CAP), and when the meta
leader last heard from it; then the moves done, in flight and queued, and
the moves in flight.

With --wait, ask every second until no move is in flight or queued and the
rebalancer knows every group, printing one progress line per poll to
stderr, then print the status.

Example:

  cairn admin status --endpoints 10.0.0.1:7379,10.0.0.2:7379
  cairn admin status --wait -o json`,
		Args: adminArgs(0, ""),
	}
	statusCmd.Flags().Bool("wait", false, "wait until no move is in flight or queued, then print the status")
	statusCmd.RunE = adminRun(func(ctx context.Context, o adminOptions, a *adminConn, _ []string) error {
		var st *pb.StatusResponse
		var err error
		if o.wait {
			st, err = waitConverged(ctx, a, o.errw, "")
		} else {
			st, err = adminCall(ctx, a, func(ctx context.Context, c pb.AdminClient) (*pb.StatusResponse, error) {
				return c.Status(ctx, &pb.StatusRequest{})
			})
		}
		if err != nil {
			return err
		}
		return printStatus(o, st)
	})

	admin.AddCommand(statusCmd, unsafeRecoverCmd(), verifyCmd(),
		adminNodeCmd("drain", "Move every replica off a node, then mark it removed",
			`Drain NODE: mark it draining, move each of its replicas to where the ring now
places it (add the new replica, let it catch up, then remove the old one),
and mark it removed once it holds none. The node keeps serving until then.
Refused, with nothing changed, when fewer than R live nodes would remain.

Without --dry-run, prints the node's new state and how many moves are
planned; with --wait it then waits until the moves are done and the node is
removed. With --dry-run, prints the moves the drain would cause and changes
nothing.

Example:

  cairn admin drain n2 --dry-run
  cairn admin drain n2 --wait && systemctl stop cairn@n2`,
			func(ctx context.Context, c pb.AdminClient, req *pb.NodeRequest) (*pb.PlanResponse, error) {
				return c.Drain(ctx, req)
			}),
		adminNodeCmd("remove", "Give up on a node that is gone for good",
			`Remove NODE: mark it removed at once and rebuild each of its replicas where
the ring now places them, one partition at a time. For a node that will not
come back (use drain for a node that still runs). Refused, with nothing
changed, when a partition would be left without a quorum.

Without --dry-run, prints the node's new state and how many moves are
planned; with --wait it then waits until the replicas are rebuilt. With
--dry-run, prints the moves the removal would cause and changes nothing.

Example:

  cairn admin remove n3 --dry-run
  cairn admin remove n3 --wait -o json`,
			func(ctx context.Context, c pb.AdminClient, req *pb.NodeRequest) (*pb.PlanResponse, error) {
				return c.Remove(ctx, req)
			}),
	)
	return admin
}

// printStatus prints st as -o asks.
func printStatus(o adminOptions, st *pb.StatusResponse) error {
	if o.output == "json" {
		return writeProtoJSON(o.out, st)
	}
	writeStatus(o.out, st, time.Now())
	return nil
}

// unsafeRecoverCmd is `cairn admin unsafe-recover PARTITION`.
func unsafeRecoverCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "unsafe-recover PARTITION",
		Short: "Make a partition that lost its quorum available again, losing what only the lost replicas held",
		Long: `A partition whose voters lost their quorum (say two of three nodes died for
good) stays unavailable: no membership change is safe without a quorum.
unsafe-recover makes its most up-to-date reachable replica the only voter,
so it serves again, and the rebalancer rebuilds the other replicas from it.

What may be lost: writes acknowledged by a quorum that included the lost
replicas but that the survivor had not applied, and the entries of the
survivor's log above what it applied. If a lost node comes back, its old
replica of the partition is deleted once it learns of the recovery; keep
lost nodes down, or remove them first (cairn admin remove).

It first prints what it would do and asks you to type the partition number
(from stdin); --yes skips the question, --dry-run stops after the report.
Refused when the partition still has a quorum of reachable voters.

Example:

  cairn admin unsafe-recover 7
  cairn admin unsafe-recover 7 --yes -o json`,
		Args: adminArgs(1, "PARTITION"),
	}
	c.Flags().Bool("yes", false, "do not ask for confirmation")
	c.Flags().Bool("dry-run", false, "print what the recovery would keep and drop, and change nothing")
	c.RunE = adminRun(func(ctx context.Context, o adminOptions, a *adminConn, args []string) error {
		p, err := strconv.Atoi(args[0])
		if err != nil || p < 0 {
			return usageError{fmt.Errorf("PARTITION %q: want a partition number (0 to partitions-1)", args[0])}
		}
		call := func(confirm bool) (*pb.UnsafeRecoverResponse, error) {
			return adminCall(ctx, a, func(ctx context.Context, cl pb.AdminClient) (*pb.UnsafeRecoverResponse, error) {
				return cl.UnsafeRecover(ctx, &pb.UnsafeRecoverRequest{Partition: int32(p), Confirm: confirm})
			})
		}
		plan, err := call(false)
		if err != nil {
			return err
		}
		if o.dryRun {
			if o.output == "json" {
				return writeProtoJSON(o.out, plan)
			}
			writeRecoverPlan(o.out, plan)
			return nil
		}
		writeRecoverPlan(o.errw, plan)
		yes, _ := c.Flags().GetBool("yes")
		if !yes {
			fmt.Fprintf(o.errw, "Type the partition number (%d) to go on: ", p)
			line, _ := bufio.NewReader(c.InOrStdin()).ReadString('\n')
			if strings.TrimSpace(line) != strconv.Itoa(p) {
				return errors.New("not confirmed: nothing changed (--yes skips the question)")
			}
		}
		done, err := call(true)
		if err != nil {
			return err
		}
		if o.output == "json" {
			return writeProtoJSON(o.out, done)
		}
		fmt.Fprintf(o.out, "partition %d recovered on %s (membership version %d): entries up to %d kept, %d dropped; the rebalancer now rebuilds its other replicas\n",
			p, done.GetSurvivor(), done.GetMembershipVersion(), done.GetApplied(), done.GetDiscarded())
		return nil
	})
	return c
}

// writeRecoverPlan says what an unsafe recovery would keep and lose.
func writeRecoverPlan(w io.Writer, r *pb.UnsafeRecoverResponse) {
	fmt.Fprintf(w, "partition %d (group %d) has lost its quorum: voters %s; not answering: %s.\n",
		r.GetPartition(), r.GetGroup(), strings.Join(r.GetVoters(), ", "), strings.Join(r.GetUnreachable(), ", "))
	fmt.Fprintf(w, "It would be recovered from %s, which has applied up to entry %d; its log ends at %d, so %d %s above that %s dropped.\n",
		r.GetSurvivor(), r.GetApplied(), r.GetLastIndex(), r.GetDiscarded(), plural(int(r.GetDiscarded()), "entry", "entries"),
		map[bool]string{true: "is", false: "are"}[r.GetDiscarded() == 1])
	fmt.Fprintf(w, "Writes acknowledged after entry %d that only %s held are lost, and their replicas are deleted if they come back.\n",
		r.GetApplied(), strings.Join(r.GetUnreachable(), ", "))
}

// adminNodeCmd is drain or remove: call, then print the plan or wait.
func adminNodeCmd(verb, short, long string, call func(context.Context, pb.AdminClient, *pb.NodeRequest) (*pb.PlanResponse, error)) *cobra.Command {
	c := &cobra.Command{Use: verb + " NODE", Short: short, Long: long, Args: adminArgs(1, "NODE")}
	c.Flags().Bool("dry-run", false, "print the moves this would cause, and change nothing")
	c.Flags().Bool("wait", false, "then wait until the moves are done, printing progress to stderr, and print the status")
	c.RunE = adminRun(func(ctx context.Context, o adminOptions, a *adminConn, args []string) error {
		name := args[0]
		if o.dryRun && o.wait {
			return usageError{errors.New("--dry-run changes nothing, so there is nothing to --wait for")}
		}
		plan, err := adminCall(ctx, a, func(ctx context.Context, c pb.AdminClient) (*pb.PlanResponse, error) {
			return call(ctx, c, &pb.NodeRequest{Node: name, DryRun: o.dryRun})
		})
		if err != nil {
			return err
		}
		switch {
		case o.output == "json":
			if err := writeProtoJSON(o.out, plan); err != nil {
				return err
			}
		case o.dryRun:
			writeMoves(o.out, plan.GetMoves())
		default:
			n := len(plan.GetMoves())
			fmt.Fprintf(o.out, "%s is %s: %d %s planned\n", name, plan.GetState(), n, plural(n, "move", "moves"))
		}
		if !o.wait {
			return nil
		}
		st, err := waitConverged(ctx, a, o.errw, name)
		if err != nil {
			return err
		}
		return printStatus(o, st)
	})
	return c
}

// adminOptions are the flags every admin subcommand reads.
type adminOptions struct {
	endpoints    []string
	output       string
	timeout      time.Duration
	wait, dryRun bool
	out, errw    io.Writer
}

// adminArgs wants exactly n arguments, named name, as a usage error.
func adminArgs(n int, name string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) == n:
			return nil
		case n == 0:
			return commandError{c.CommandPath(), usageError{fmt.Errorf("takes no arguments, got %q", args)}}
		case len(args) < n:
			return commandError{c.CommandPath(), usageError{fmt.Errorf("missing %s (e.g. %s n2)", name, c.CommandPath())}}
		}
		return commandError{c.CommandPath(), usageError{fmt.Errorf("want one %s, got %q", name, args)}}
	}
}

// adminRun reads the flags, connects lazily and runs fn; its error is
// printed after the command's path, and, under -o json, also as a JSON
// line on stdout so that a script always gets its line.
func adminRun(fn func(ctx context.Context, o adminOptions, a *adminConn, args []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		o := adminOptions{out: c.OutOrStdout(), errw: c.ErrOrStderr()}
		err := func() error {
			if _, err := applyEnv(c.Flags()); err != nil {
				return err
			}
			f := c.Flags()
			eps, _ := f.GetString("endpoints")
			for _, ep := range strings.Split(eps, ",") {
				if ep = strings.TrimSpace(ep); ep != "" {
					o.endpoints = append(o.endpoints, ep)
				}
			}
			o.output, _ = f.GetString("output")
			o.timeout, _ = f.GetDuration("timeout")
			o.wait, _ = f.GetBool("wait")
			o.dryRun, _ = f.GetBool("dry-run")
			switch {
			case o.output != "table" && o.output != "json":
				return usageError{fmt.Errorf("-o %q: want table or json", o.output)}
			case len(o.endpoints) == 0:
				return usageError{errors.New("--endpoints: want at least one gRPC address, e.g. 127.0.0.1:7379")}
			case o.timeout <= 0:
				return usageError{fmt.Errorf("--timeout %v: must be positive", o.timeout)}
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a := newAdminConn(o.endpoints, o.timeout)
			defer a.close()
			err := fn(ctx, o, a, args)
			if err != nil && ctx.Err() != nil {
				return exitError{2, errors.New("interrupted")}
			}
			return adminError(err, o.timeout)
		}()
		if err == nil {
			return nil
		}
		var shown shownError
		if o.output == "json" && !errors.As(err, &shown) {
			b, _ := json.Marshal(map[string]string{"error": err.Error()})
			fmt.Fprintf(o.out, "%s\n", b)
		}
		return commandError{c.CommandPath(), err}
	}
}

// adminError turns a gRPC error into its status message, verbatim: the
// server's messages (a refused drain, an unknown node) are written for
// the operator. Exit status 1.
func adminError(err error, timeout time.Duration) error {
	var ue unreachableError
	var use usageError
	var ee exitError
	var shown shownError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &use), errors.As(err, &ee), errors.As(err, &shown):
		return err
	case errors.As(err, &ue):
		return errors.New(ue.Error())
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

// adminConn calls the Admin service on the first of its endpoints that
// answers, keeping a connection to each one tried.
type adminConn struct {
	endpoints []string
	timeout   time.Duration // per call
	conns     map[string]*grpc.ClientConn
	// first is the endpoint that answered last; later calls start there.
	first int
}

func newAdminConn(endpoints []string, timeout time.Duration) *adminConn {
	return &adminConn{endpoints: endpoints, timeout: timeout, conns: map[string]*grpc.ClientConn{}}
}

func (a *adminConn) close() {
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

// adminCall runs fn against the endpoints in turn until one answers with
// anything but UNAVAILABLE. NB: UNAVAILABLE mostly means the endpoint
// could not be reached, so the call was never made; when it was, asking
// the next endpoint asks for the same state change again, which is what
// the operator wants (as kv's Run does for a read).
func adminCall[T any](ctx context.Context, a *adminConn, fn func(context.Context, pb.AdminClient) (T, error)) (T, error) {
	var zero T
	var ue unreachableError
	for i := range a.endpoints {
		k := (a.first + i) % len(a.endpoints)
		ep := a.endpoints[k]
		cc, ok := a.conns[ep]
		if !ok {
			var err error
			cc, err = grpc.NewClient(ep, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				ue.errs = append(ue.errs, fmt.Sprintf("%s: %v", ep, err))
				ue.last = err
				continue
			}
			a.conns[ep] = cc
		}
		cctx, cancel := context.WithTimeout(ctx, a.timeout)
		r, err := fn(cctx, pb.NewAdminClient(cc))
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

// waitConverged asks for the status every adminPollInterval, printing one
// progress line to errw per answer, until no move is in flight or queued,
// the rebalancer knows every group and, when name is set, that node is
// removed and holds no replica. An UNAVAILABLE answer (a meta leader
// changing) is printed and asked again.
func waitConverged(ctx context.Context, a *adminConn, errw io.Writer, name string) (*pb.StatusResponse, error) {
	t := time.NewTicker(adminPollInterval)
	defer t.Stop()
	for {
		st, err := adminCall(ctx, a, func(ctx context.Context, c pb.AdminClient) (*pb.StatusResponse, error) {
			return c.Status(ctx, &pb.StatusRequest{})
		})
		switch {
		case err == nil:
			fmt.Fprintln(errw, progressLine(st, name))
			if converged(st, name) {
				return st, nil
			}
		case status.Code(err) == codes.Unavailable && ctx.Err() == nil:
			fmt.Fprintf(errw, "%v (asking again)\n", adminError(err, a.timeout))
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

// movesLine is "moves: 3 done, 2 in flight, 11 queued".
func movesLine(st *pb.StatusResponse) string {
	return fmt.Sprintf("moves: %d done, %d in flight, %d queued", st.GetMovesDone(), len(st.GetInFlight()), len(st.GetQueued()))
}

// progressLine is movesLine, plus what else --wait is waiting for.
func progressLine(st *pb.StatusResponse, name string) string {
	line := movesLine(st)
	if st.GetGroupsKnown() < st.GetGroups() {
		line += fmt.Sprintf(", %d of %d groups known", st.GetGroupsKnown(), st.GetGroups())
	}
	if n := findNode(st, name); n != nil {
		line += fmt.Sprintf("; %s %s with %d %s", name, n.GetMember().GetState(), n.GetReplicas(),
			plural(int(n.GetReplicas()), "replica", "replicas"))
	}
	return line
}

// writeStatus prints st as tables; now dates LAST-HEARD.
func writeStatus(w io.Writer, st *pb.StatusResponse, now time.Time) {
	fmt.Fprintf(w, "meta leader: %s\n", orDash(st.GetMetaLeader()))
	fmt.Fprintf(w, "epoch: %d\n", st.GetEpoch())
	fmt.Fprintf(w, "groups: %d, %d known, %d under-replicated\n", st.GetGroups(), st.GetGroupsKnown(), st.GetUnderReplicated())
	if r := st.GetPlacementRelaxed(); r != "" && r != "none" {
		fmt.Fprintf(w, "placement relaxed: %s\n", r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tZONE\tCAPACITY\tREPLICAS\tTARGET\tCAP\tLEADERS\tLAST-HEARD")
	for _, n := range st.GetNodes() {
		m := n.GetMember()
		capacity := m.GetCapacity()
		if capacity == 0 {
			capacity = 1 // the proto's zero means 1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", m.GetName(), orDash(m.GetState()), orDash(m.GetZone()),
			strconv.FormatFloat(capacity, 'g', -1, 64), n.GetReplicas(), n.GetTargetReplicas(), n.GetCap(), n.GetLeaders(),
			lastHeard(n.GetLastHeardUnixNanos(), now))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, movesLine(st))
	for _, m := range st.GetInFlight() {
		fmt.Fprintf(w, "  %s\n", moveText(m))
	}
}

// lastHeard is the age of a unix-nanosecond time: "1.2s ago", "3m4s ago",
// or "-" for 0 (not heard since this meta leader started).
func lastHeard(unixNanos int64, now time.Time) string {
	if unixNanos == 0 {
		return "-"
	}
	d := max(now.Sub(time.Unix(0, unixNanos)), 0) // clocks differ between nodes
	if d < time.Minute {
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	}
	return d.Round(time.Second).String() + " ago"
}

// writeMoves prints a dry run's moves: "would move N replicas:" and one
// line per move.
func writeMoves(w io.Writer, moves []*pb.Move) {
	fmt.Fprintf(w, "would move %d %s", len(moves), plural(len(moves), "replica", "replicas"))
	if len(moves) == 0 {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintln(w, ":")
	for _, m := range moves {
		fmt.Fprintf(w, "  %s\n", moveText(m))
	}
}

// moveText is "partition 7 (group 8): add n4, remove n2"; the meta group
// (partition -1) is "meta group: ...".
func moveText(m *pb.Move) string {
	where := fmt.Sprintf("partition %d (group %d)", m.GetPartition(), m.GetGroup())
	if m.GetPartition() < 0 {
		where = "meta group"
	}
	var steps []string
	if a := m.GetAdd(); a != "" {
		steps = append(steps, "add "+a)
	}
	if r := m.GetRemove(); r != "" {
		steps = append(steps, "remove "+r)
	}
	return where + ": " + strings.Join(steps, ", ")
}

// writeProtoJSON prints m as one line of JSON with the .proto's field
// names, zero fields included so that scripts find every field.
func writeProtoJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// joinDryRun is cairn server --join --dry-run: it asks the member at
// cfg.Join which moves adding this node would cause, and prints them.
// Nothing is created, not even the data directory.
func joinDryRun(ctx context.Context, out, errw io.Writer, cfg node.Config) error {
	if entries, err := os.ReadDir(cfg.DataDir); err == nil && len(entries) > 0 {
		fmt.Fprintf(errw, "note: --data-dir %s is not empty: started for real, this node would restart from it and ignore --join\n", cfg.DataDir)
	}
	settings, err := cluster.ExplicitSettings(cfg.Settings, cfg.Explicit)
	if err != nil {
		return usageError{err}
	}
	addr := cfg.AdvertiseGRPC
	if addr == "" {
		addr = cfg.GRPCAddr
	}
	req := &pb.JoinRequest{Name: cfg.Name, GrpcAddr: addr, Capacity: cfg.Capacity, Zone: cfg.Zone,
		Settings: settings, DryRun: true}
	a := newAdminConn([]string{cfg.Join}, adminDefaultTimeout)
	defer a.close()
	resp, err := adminCall(ctx, a, func(ctx context.Context, c pb.AdminClient) (*pb.JoinResponse, error) {
		return c.Join(ctx, req)
	})
	if err != nil {
		if ctx.Err() != nil {
			return exitError{2, errors.New("interrupted")}
		}
		return fmt.Errorf("--join %s: %w", cfg.Join, adminError(err, adminDefaultTimeout))
	}
	writeMoves(out, resp.GetMoves())
	return nil
}
