package admincli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// verify is `cairn admin verify [PARTITION]`: an error (exit 1) when any
// partition checked does not agree, after printing every verdict.
func verify(ctx context.Context, o Options, a *conn, args []string) error {
	req := &pb.VerifyRequest{}
	if len(args) == 1 {
		p, err := strconv.Atoi(args[0])
		if err != nil || p < 0 {
			return usageError{fmt.Errorf("PARTITION %q: want a partition number (0 to partitions-1)", args[0])}
		}
		req.Partitions = []int32{int32(p)}
	}
	resp, err := call(ctx, a, func(ctx context.Context, cl pb.AdminClient) (*pb.VerifyResponse, error) {
		return cl.Verify(ctx, req)
	})
	if err != nil {
		return err
	}
	sum := summarize(resp)
	if o.Output == "json" {
		for _, p := range resp.GetPartitions() {
			if err := writeProtoJSON(o.Out, p); err != nil {
				return err
			}
		}
		b, _ := json.Marshal(sum)
		fmt.Fprintf(o.Out, "%s\n", b)
	} else {
		writeVerify(o.Out, resp, sum)
	}
	if !sum.OK {
		return shownError{fmt.Errorf("%d of %d %s did not agree", sum.Partitions-sum.Agree, sum.Partitions,
			plural(sum.Partitions, "partition", "partitions"))}
	}
	return nil
}

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
