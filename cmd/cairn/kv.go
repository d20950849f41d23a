package main

import (
	"errors"
	"os"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/kvcli"
	"github.com/spf13/cobra"
)

func kvCmd() *cobra.Command {
	kv := &cobra.Command{
		Use:   "kv",
		Short: "Read and write keys over gRPC",
		Long: `Read and write keys through any node's gRPC port. --endpoints are tried in
order until one answers. Output is human by default; -o json prints one JSON
object per line (for a missing key too: {"key":...,"found":false}).

Exit status: 0 done, 1 failed, 2 usage, 3 the key does not exist (get, del),
4 no endpoint answered; see cairn --help.`,
	}
	pf := kv.PersistentFlags()
	pf.String("endpoints", "127.0.0.1:7379", "comma-separated gRPC addresses of nodes")
	pf.StringP("output", "o", "table", "output: table or json")
	pf.Duration("timeout", 5*time.Second, "per-request timeout")
	addClientFlags(pf)
	sub := func(use, short string, args int, setup func(*cobra.Command)) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(args)}
		if setup != nil {
			setup(c)
		}
		c.RunE = func(c *cobra.Command, a []string) error {
			if _, err := applyEnv(c.Flags()); err != nil {
				return err
			}
			f := c.Flags()
			eps, _ := f.GetString("endpoints")
			out, _ := f.GetString("output")
			timeout, _ := f.GetDuration("timeout")
			o := kvcli.Options{Endpoints: strings.Split(eps, ","), Output: out, Timeout: timeout, Out: os.Stdout}
			o.Consistency, _ = f.GetString("consistency")
			o.TTL, _ = f.GetDuration("ttl")
			o.By, _ = f.GetInt64("by")
			o.Prefix, _ = f.GetString("prefix")
			o.Limit, _ = f.GetInt("limit")
			var err error
			if o.DialOptions, err = grpcDialOptions(f); err != nil {
				return err
			}
			err = kvcli.Run(c.Context(), o, strings.Fields(use)[0], a)
			if errors.Is(err, kvcli.ErrNotFound) && out == "json" {
				os.Exit(exitNotFound) // the JSON line said so
			}
			return err
		}
		return c
	}
	read := func(c *cobra.Command) {
		c.Flags().String("consistency", "linearizable", "linearizable, follower or stale")
	}
	kv.AddCommand(
		sub("get KEY", "Print a key's value", 1, read),
		sub("put KEY VALUE", "Set a key", 2, func(c *cobra.Command) {
			c.Flags().Duration("ttl", 0, "expire the key after this long (0: never)")
		}),
		sub("del KEY", "Delete a key", 1, nil),
		sub("incr KEY", "Add to an integer key (missing counts as 0)", 1, func(c *cobra.Command) {
			c.Flags().Int64("by", 1, "increment")
		}),
		sub("scan", "List keys and values in key order per partition", 0, func(c *cobra.Command) {
			read(c)
			c.Flags().String("prefix", "", "only keys with this prefix")
			c.Flags().Int("limit", 0, "at most this many (0: all)")
		}),
	)
	return kv
}
