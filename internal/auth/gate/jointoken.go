package gate

import (
	"context"

	"github.com/cairnkv/cairn/internal/auth"
	"github.com/cairnkv/cairn/internal/kv"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// JoinTokenHeader carries a joining node's --join-token on its Join call.
const JoinTokenHeader = "cairn-join-token"

// useJoinToken checks the join token the call carries and, unless
// dryRun, marks it used by name: a secure cluster's Join without a node
// certificate needs one. The error names what is missing or wrong.
func (g *Gate) useJoinToken(ctx context.Context, name string, dryRun bool) error {
	md, _ := metadata.FromIncomingContext(ctx)
	toks := md.Get(JoinTokenHeader)
	if len(toks) == 0 {
		return status.Error(codes.PermissionDenied, "this cluster is secure: joining needs a join token (cairn admin join-token create, then cairn server --join ... --join-token T) or a node certificate its CA signed (--peer-cert-file)")
	}
	id, secret, err := auth.ParseJoinToken(toks[0])
	if err != nil {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	for range 10 {
		b, version, found, err := Get(ctx, g.cfg.Meta, auth.JoinToken{ID: id}.Key())
		if err != nil {
			return status.Error(codes.Unavailable, err.Error())
		}
		if !found {
			return status.Error(codes.PermissionDenied, auth.ErrTokenUnknown.Error())
		}
		rec, err := auth.DecodeJoinToken(b)
		if err != nil {
			return status.Error(codes.PermissionDenied, err.Error())
		}
		if rec.Used && rec.UsedBy == name {
			return nil // this node's retry, or its call passed on to the meta leader
		}
		if err := rec.Check(g.cfg.ClusterID, secret, g.cfg.Clock.Now()); err != nil {
			return status.Error(codes.PermissionDenied, err.Error())
		}
		if dryRun {
			return nil
		}
		rec.Used, rec.UsedBy = true, name
		rep, err := g.cfg.Meta.Propose(ctx, kv.NewCommand(kv.Put(rec.Key(), rec.Encode()).IfVersion(version)))
		if err != nil {
			return status.Error(codes.Unavailable, err.Error())
		}
		if len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeConditionFailed {
			continue
		}
		g.cfg.Logger.Info("audit: join token used", "id", id, "node", name)
		return nil
	}
	return status.Error(codes.Aborted, "join token contended; try again")
}
