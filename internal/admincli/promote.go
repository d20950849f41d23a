package admincli

import (
	"context"
	"fmt"
	"strconv"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// promote is `cairn admin promote PARTITION NODE [--unsafe]`.
func promote(ctx context.Context, o Options, a *conn, args []string) error {
	if len(args) != 2 {
		return usageError{fmt.Errorf("want PARTITION NODE, got %q", args)}
	}
	p, err := strconv.Atoi(args[0])
	if err != nil || p < 0 {
		return usageError{fmt.Errorf("PARTITION %q: want a partition number (0 to partitions-1)", args[0])}
	}
	resp, err := call(ctx, a, func(ctx context.Context, c pb.AdminClient) (*pb.PromoteResponse, error) {
		return c.Promote(ctx, &pb.PromoteRequest{Partition: int32(p), Node: args[1], Unsafe: o.Unsafe})
	})
	if err != nil {
		return err
	}
	if o.Output == "json" {
		return writeProtoJSON(o.Out, resp)
	}
	if resp.GetPrevious() == resp.GetLeader() {
		fmt.Fprintf(o.Out, "partition %d: %s leads it already (epoch or term %d)\n", p, resp.GetLeader(), resp.GetTerm())
		return nil
	}
	fmt.Fprintf(o.Out, "partition %d: %s handed over to %s (epoch or term %d)\n", p, resp.GetPrevious(), resp.GetLeader(), resp.GetTerm())
	return nil
}
