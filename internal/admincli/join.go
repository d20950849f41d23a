package admincli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/cairnkv/cairn/internal/cluster"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Join is what `cairn server --join ADDR --dry-run` was given.
type Join struct {
	Join    string // --join: the member to ask
	DataDir string // --data-dir, only to warn when it is not empty
	Name    string // --name
	// Addr is the gRPC address the node would advertise
	// (--advertise-grpc-addr, else --grpc-addr).
	Addr     string
	Capacity float64 // --capacity
	Zone     string  // --zone
	// Settings and Explicit are the creation settings and which of them
	// were given (node.Config's); only those given are sent.
	Settings cluster.Settings
	Explicit map[string]bool
	// DialOptions dial the member as the joining node would (its peer
	// certificate); none: plaintext.
	DialOptions []grpc.DialOption
	// Token is --join-token, checked (not used up) by the dry run.
	Token string
}

// JoinDryRun asks the member at j.Join which moves adding this node would
// cause, and prints them to out (a note about a non-empty data directory
// to errw). Nothing is created, not even the data directory.
func JoinDryRun(ctx context.Context, out, errw io.Writer, j Join) error {
	if entries, err := os.ReadDir(j.DataDir); err == nil && len(entries) > 0 {
		fmt.Fprintf(errw, "note: --data-dir %s is not empty: started for real, this node would restart from it and ignore --join\n", j.DataDir)
	}
	settings, err := cluster.ExplicitSettings(j.Settings, j.Explicit)
	if err != nil {
		return usageError{err}
	}
	req := &pb.JoinRequest{Name: j.Name, GrpcAddr: j.Addr, Capacity: j.Capacity, Zone: j.Zone,
		Settings: settings, DryRun: true}
	a := newConn([]string{j.Join}, DefaultTimeout, j.DialOptions)
	defer a.close()
	resp, err := call(ctx, a, func(ctx context.Context, c pb.AdminClient) (*pb.JoinResponse, error) {
		if j.Token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "cairn-join-token", j.Token)
		}
		return c.Join(ctx, req)
	})
	if err != nil {
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		return fmt.Errorf("--join %s: %w", j.Join, adminError(err, DefaultTimeout))
	}
	writeMoves(out, resp.GetMoves())
	return nil
}
