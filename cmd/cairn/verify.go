package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// verifyCmd is `cairn admin verify [PARTITION]`.
func verifyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify [PARTITION]",
		Short: "Check now that every replica of every partition (or of one) holds the same state",
		Long: `Run a consistency check now on every partition, or on PARTITION: its leader
proposes a check entry, every replica digests (SHA-256) its replicated state
at exactly that log index, and the leader compares the digests. The digest a
majority of the voters hold is right. Leaders also check on their own every
--consistency-check-interval (cairn server; default 1 min).

Prints, per partition, each replica's node, the index its digest covers and
the digest's first 12 hex digits, and the verdict: agree (every voter
reported the same digest), mismatch (the replicas marked DIFFERS disagree with
the majority: they stop serving and are rebuilt from a snapshot of the
majority), no-majority (the replicas differ and no majority agrees: the
partition refuses writes until repaired), incomplete (not every voter
reported in time), error (the check could not run). With -o json: one line
per partition, then a summary line.

Exit status: 0 when every partition checked agrees, 1 otherwise.

Example:

  cairn admin verify
  cairn admin verify 7 -o json`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return commandError{c.CommandPath(), usageError{fmt.Errorf("want at most one PARTITION, got %q", args)}}
			}
			return nil
		},
	}
	c.RunE = adminRun("verify")
	return c
}
