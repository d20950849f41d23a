package main

// cairn admin's commands and flags; the calls, the output and --wait are
// internal/admincli's.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cairnkv/cairn/internal/admincli"
	"github.com/cairnkv/cairn/internal/node"
	"github.com/spf13/cobra"
)

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
				return commandError{c.CommandPath(), usageError{fmt.Errorf("unknown command %q: want status, drain, remove, promote, unsafe-recover, verify, user or join-token", args[0])}}
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
	pf.Duration("timeout", admincli.DefaultTimeout, "timeout of each call to the cluster")
	addClientFlags(pf)

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
	statusCmd.RunE = adminRun("status")

	admin.AddCommand(statusCmd, unsafeRecoverCmd(), verifyCmd(), promoteCmd(), userCmd(), joinTokenCmd(),
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
  cairn admin drain n2 --wait && systemctl stop cairn@n2`),
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
  cairn admin remove n3 --wait -o json`),
	)
	return admin
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
	c.RunE = adminRun("unsafe-recover")
	return c
}

// promoteCmd is `cairn admin promote PARTITION NODE`.
func promoteCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "promote PARTITION NODE",
		Short: "Hand a partition's leadership (its primary, on primary-backup) to NODE's replica",
		Long: `A planned switchover: the partition's leader stops taking writes, waits until
NODE's replica holds every entry it appended, and hands over. On a
primary-backup cluster the successor (an in-sync replica) is named primary
at the next epoch through the meta group, so no acknowledged write is lost;
on Raft it is a leadership transfer. Writes pause for the handover (a
successor that does not catch up within two election timeouts is given up,
and writes resume on the old leader). Prints the new leader and its epoch
(or term).

--unsafe, promoting a replica outside the in-sync set and losing the
acknowledged writes it lacks, is not built yet and is refused; a partition
that lost every in-sync replica is rebuilt with cairn admin unsafe-recover.

Example:

  cairn admin promote 7 n3`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 {
				return commandError{c.CommandPath(), usageError{fmt.Errorf("want PARTITION NODE (e.g. %s 7 n3), got %q", c.CommandPath(), args)}}
			}
			return nil
		},
	}
	c.Flags().Bool("unsafe", false, "promote a replica outside the in-sync set (not built yet: refused)")
	c.RunE = adminRun("promote")
	return c
}

// adminNodeCmd is drain or remove NODE.
func adminNodeCmd(verb, short, long string) *cobra.Command {
	c := &cobra.Command{Use: verb + " NODE", Short: short, Long: long, Args: adminArgs(1, "NODE")}
	c.Flags().Bool("dry-run", false, "print the moves this would cause, and change nothing")
	c.Flags().Bool("wait", false, "then wait until the moves are done, printing progress to stderr, and print the status")
	c.RunE = adminRun(verb)
	return c
}

// adminArgs wants exactly n arguments, named name, as a usage error; the
// example in its message is a NODE name (n2) or a PARTITION number (7).
func adminArgs(n int, name string) cobra.PositionalArgs {
	example := "n2"
	if name == "PARTITION" {
		example = "7"
	}
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) == n:
			return nil
		case n == 0:
			return commandError{c.CommandPath(), usageError{fmt.Errorf("takes no arguments, got %q", args)}}
		case len(args) < n:
			return commandError{c.CommandPath(), usageError{fmt.Errorf("missing %s (e.g. %s %s)", name, c.CommandPath(), example)}}
		}
		return commandError{c.CommandPath(), usageError{fmt.Errorf("want one %s, got %q", name, args)}}
	}
}

// adminRun reads the flags and runs admincli's command op; its error is
// printed after the command's path.
func adminRun(op string) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		err := func() error {
			_, err := applyEnv(c.Flags())
			if err != nil {
				return err
			}
			f := c.Flags()
			eps, _ := f.GetString("endpoints")
			o := admincli.Options{Endpoints: strings.Split(eps, ","), Out: c.OutOrStdout(), Err: c.ErrOrStderr(), In: c.InOrStdin()}
			o.Output, _ = f.GetString("output")
			o.Timeout, _ = f.GetDuration("timeout")
			o.Wait, _ = f.GetBool("wait")
			o.DryRun, _ = f.GetBool("dry-run")
			o.Yes, _ = f.GetBool("yes")
			o.Role, _ = f.GetString("role")
			o.TTL, _ = f.GetDuration("ttl")
			if o.Password, err = newPassword(c); err != nil {
				return usageError{err}
			}
			if o.DialOptions, err = grpcDialOptions(f); err != nil {
				return err
			}
			o.Unsafe, _ = f.GetBool("unsafe")
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return adminExit(admincli.Run(ctx, o, op, args))
		}()
		if err == nil {
			return nil
		}
		return commandError{c.CommandPath(), err}
	}
}

// adminExit gives admincli's errors their exit statuses: 2 for a usage
// error or an interruption, else 1.
func adminExit(err error) error {
	switch {
	case errors.Is(err, admincli.ErrUsage):
		return usageError{err}
	case errors.Is(err, admincli.ErrInterrupted):
		return exitError{2, err}
	}
	return err
}

// joinDryRun is cairn server --join --dry-run.
func joinDryRun(ctx context.Context, out, errw io.Writer, cfg node.Config) error {
	addr := cfg.AdvertiseGRPC
	if addr == "" {
		addr = cfg.GRPCAddr
	}
	dial, err := node.PeerDialOptions(cfg.TLS)
	if err != nil {
		return usageError{err}
	}
	return adminExit(admincli.JoinDryRun(ctx, out, errw, admincli.Join{Join: cfg.Join, DataDir: cfg.DataDir,
		Name: cfg.Name, Addr: addr, Capacity: cfg.Capacity, Zone: cfg.Zone, Settings: cfg.Settings, Explicit: cfg.Explicit,
		DialOptions: dial, Token: cfg.JoinToken}))
}
