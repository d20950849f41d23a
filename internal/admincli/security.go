package admincli

import (
	"context"
	"fmt"
	"time"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
)

// securityCmd runs cairn admin user … and join-token … (the Security
// service; every call needs the admin role).
func securityCmd(cmd string) func(context.Context, Options, *conn, []string) error {
	return func(ctx context.Context, o Options, a *conn, args []string) error {
		sec := func(fn func(context.Context, pb.SecurityClient) (*pb.User, error)) error {
			u, err := callConn(ctx, a, func(ctx context.Context, cc grpc.ClientConnInterface) (*pb.User, error) {
				return fn(ctx, pb.NewSecurityClient(cc))
			})
			if err != nil {
				return err
			}
			if o.Output == "json" {
				return writeProtoJSON(o.Out, u)
			}
			fmt.Fprintf(o.Out, "%s: %s\n", cmd, u.GetName())
			return nil
		}
		name := ""
		if len(args) > 0 {
			name = args[0]
		}
		req := &pb.UserRequest{Name: name, Role: o.Role, Password: o.Password}
		switch cmd {
		case "user add":
			return sec(func(ctx context.Context, c pb.SecurityClient) (*pb.User, error) { return c.AddUser(ctx, req) })
		case "user remove":
			return sec(func(ctx context.Context, c pb.SecurityClient) (*pb.User, error) { return c.RemoveUser(ctx, req) })
		case "user passwd":
			return sec(func(ctx context.Context, c pb.SecurityClient) (*pb.User, error) { return c.SetPassword(ctx, req) })
		case "user grant":
			return sec(func(ctx context.Context, c pb.SecurityClient) (*pb.User, error) { return c.Grant(ctx, req) })
		case "user list":
			r, err := callConn(ctx, a, func(ctx context.Context, cc grpc.ClientConnInterface) (*pb.ListUsersResponse, error) {
				return pb.NewSecurityClient(cc).ListUsers(ctx, &pb.ListUsersRequest{})
			})
			if err != nil {
				return err
			}
			if o.Output == "json" {
				return writeProtoJSON(o.Out, r)
			}
			fmt.Fprintf(o.Out, "%-24s %s\n", "USER", "ROLE")
			for _, u := range r.GetUsers() {
				fmt.Fprintf(o.Out, "%-24s %s\n", u.GetName(), u.GetRole())
			}
			return nil
		case "join-token create":
			r, err := callConn(ctx, a, func(ctx context.Context, cc grpc.ClientConnInterface) (*pb.CreateJoinTokenResponse, error) {
				return pb.NewSecurityClient(cc).CreateJoinToken(ctx, &pb.CreateJoinTokenRequest{TtlSeconds: int64(o.TTL / time.Second)})
			})
			if err != nil {
				return err
			}
			if o.Output == "json" {
				return writeProtoJSON(o.Out, r)
			}
			fmt.Fprintln(o.Out, r.GetToken())
			fmt.Fprintf(o.Err, "join token %s, single-use, expires %s\n", r.GetInfo().GetId(), time.Unix(r.GetInfo().GetExpiresUnix(), 0).UTC().Format(time.RFC3339))
			return nil
		case "join-token list":
			r, err := callConn(ctx, a, func(ctx context.Context, cc grpc.ClientConnInterface) (*pb.ListJoinTokensResponse, error) {
				return pb.NewSecurityClient(cc).ListJoinTokens(ctx, &pb.ListJoinTokensRequest{})
			})
			if err != nil {
				return err
			}
			if o.Output == "json" {
				return writeProtoJSON(o.Out, r)
			}
			fmt.Fprintf(o.Out, "%-32s %s\n", "ID", "EXPIRES")
			for _, t := range r.GetTokens() {
				fmt.Fprintf(o.Out, "%-32s %s\n", t.GetId(), time.Unix(t.GetExpiresUnix(), 0).UTC().Format(time.RFC3339))
			}
			return nil
		case "join-token revoke":
			_, err := callConn(ctx, a, func(ctx context.Context, cc grpc.ClientConnInterface) (*pb.RevokeJoinTokenResponse, error) {
				return pb.NewSecurityClient(cc).RevokeJoinToken(ctx, &pb.RevokeJoinTokenRequest{Id: name})
			})
			if err == nil && o.Output != "json" {
				fmt.Fprintf(o.Out, "revoked %s\n", name)
			}
			return err
		}
		return usageError{fmt.Errorf("unknown command %q", cmd)}
	}
}
