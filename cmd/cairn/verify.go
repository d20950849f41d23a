package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
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
	c.RunE = adminRun(func(ctx context.Context, o adminOptions, a *adminConn, args []string) error {
		req := &pb.VerifyRequest{}
		if len(args) == 1 {
			p, err := strconv.Atoi(args[0])
			if err != nil || p < 0 {
				return usageError{fmt.Errorf("PARTITION %q: want a partition number (0 to partitions-1)", args[0])}
			}
			req.Partitions = []int32{int32(p)}
		}
		resp, err := adminCall(ctx, a, func(ctx context.Context, cl pb.AdminClient) (*pb.VerifyResponse, error) {
			return cl.Verify(ctx, req)
		})
		if err != nil {
			return err
		}
		sum := summarize(resp)
		if o.output == "json" {
			for _, p := range resp.GetPartitions() {
				if err := writeProtoJSON(o.out, p); err != nil {
					return err
				}
			}
			b, _ := json.Marshal(sum)
			fmt.Fprintf(o.out, "%s\n", b)
		} else {
			writeVerify(o.out, resp, sum)
		}
		if !sum.OK {
			return shownError{fmt.Errorf("%d of %d %s did not agree", sum.Partitions-sum.Agree, sum.Partitions,
				plural(sum.Partitions, "partition", "partitions"))}
		}
		return nil
	})
	return c
}

// shownError is a failure the command has printed already, with its JSON
// line under -o json; it still exits 1.
type shownError struct{ error }

// verifySummary is the last line of cairn admin verify -o json.
type verifySummary struct {
	Partitions int  `json:"partitions"`
	Agree      int  `json:"agree"`
	Mismatch   int  `json:"mismatch"`
	NoMajority int  `json:"no_majority"`
	Incomplete int  `json:"incomplete"`
	Errors     int  `json:"errors"`
	OK         bool `json:"ok"`
}

func summarize(r *pb.VerifyResponse) verifySummary {
	s := verifySummary{Partitions: len(r.GetPartitions())}
	for _, p := range r.GetPartitions() {
		switch p.GetVerdict() {
		case "agree":
			s.Agree++
		case "mismatch":
			s.Mismatch++
		case "no-majority":
			s.NoMajority++
		case "incomplete":
			s.Incomplete++
		default:
			s.Errors++
		}
	}
	s.OK = s.Agree == s.Partitions
	return s
}

// writeVerify prints one row per replica, partition by partition, then
// the count of each verdict.
func writeVerify(w io.Writer, r *pb.VerifyResponse, s verifySummary) {
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tVERDICT\tREPLICA\tNODE\tINDEX\tDIGEST\tNOTE")
	for _, p := range r.GetPartitions() {
		if p.GetVerdict() == "error" || len(p.GetReplicas()) == 0 {
			fmt.Fprintf(tw, "%d\t%s\t-\t-\t-\t-\t%s\n", p.GetPartition(), p.GetVerdict(), p.GetError())
			continue
		}
		for _, rd := range p.GetReplicas() {
			index, digest, note := "-", "-", ""
			if rd.GetReported() && rd.GetError() == "" {
				index, digest = strconv.FormatUint(rd.GetIndex(), 10), rd.GetDigest()[:min(12, len(rd.GetDigest()))]
			}
			var notes []string
			if rd.GetNode() == p.GetLeader() {
				notes = append(notes, "leader")
			}
			if !rd.GetVoter() {
				notes = append(notes, "learner")
			}
			switch {
			case rd.GetDiffers():
				notes = append(notes, "DIFFERS")
			case rd.GetError() != "":
				notes = append(notes, "error: "+rd.GetError())
			case !rd.GetReported():
				notes = append(notes, "no report")
			}
			note = strings.Join(notes, ", ")
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\n", p.GetPartition(), p.GetVerdict(), rd.GetReplica(), rd.GetNode(), index, digest, note)
		}
	}
	_ = tw.Flush()
	for _, line := range strings.SplitAfter(table.String(), "\n") {
		if line != "" {
			fmt.Fprintln(w, strings.TrimRight(line, " \n"))
		}
	}
	fmt.Fprintf(w, "%d %s: %d agree, %d mismatch, %d no-majority, %d incomplete, %d errors\n", s.Partitions,
		plural(s.Partitions, "partition", "partitions"), s.Agree, s.Mismatch, s.NoMajority, s.Incomplete, s.Errors)
}
