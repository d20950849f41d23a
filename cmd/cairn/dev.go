package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairnkv/cairn/internal/devcluster"
	"github.com/spf13/cobra"
)

func devCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster of real cairn server processes",
		Long: `Run a local development cluster: --nodes real "cairn server" processes on
loopback, node i on RESP B+i-1, gRPC B+1000+i-1 and HTTP B+2000+i-1 for
--base-port B (default 6379: node 1 on 6379, 7379 and 8379), data under
--data-dir kept between runs (--fresh starts over). Waits until every node
is ready, prints how to reach them, and stops them cleanly on Ctrl-C, SIGTERM
or SIGHUP.

The servers run in a process group of their own and end with cairn dev,
also when it is killed (kill -9); each one's pid is in <data-dir>/<node>.pid
while it runs, and a cairn dev that finds a live server there refuses to
start, naming it. A --data-dir keeps the node count and ports its cluster
was founded with: another --nodes or --base-port needs --fresh.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.Int("nodes", 3, "number of nodes (1 to 9)")
	f.Int("base-port", devcluster.DefaultBasePort, "node i listens on RESP base+i-1, gRPC base+1000+i-1, HTTP base+2000+i-1")
	f.Bool("fresh", false, "delete --data-dir first")
	f.String("data-dir", "./cairn-dev", "where the nodes keep their data")
	f.String("engine", "raft", "replication engine of a new cluster: raft, paxos or primary-backup (an existing --data-dir keeps the one it was created with)")
	f.String("pb-mode", "sync", "with --engine primary-backup: sync or async (see cairn server --help)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if _, err := applyEnv(cmd.Flags()); err != nil {
			return err
		}
		log, err := newLogger(cmd)
		if err != nil {
			return err
		}
		nodes, _ := f.GetInt("nodes")
		base, _ := f.GetInt("base-port")
		fresh, _ := f.GetBool("fresh")
		dir, _ := f.GetString("data-dir")
		var engine string // unless asked, the server's default, or what --data-dir was created with
		if f.Changed("engine") {
			engine, _ = f.GetString("engine")
		}
		var pbMode string
		if f.Changed("pb-mode") {
			pbMode, _ = f.GetString("pb-mode")
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		defer stop()
		return devcluster.Run(ctx, devcluster.Config{
			Nodes: nodes, BasePort: base, DataDir: dir, Fresh: fresh, Binary: exe, Out: os.Stdout, Logger: log, Engine: engine, PBMode: pbMode,
		})
	}
	return cmd
}
