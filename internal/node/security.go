package node

import (
	"context"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/auth"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// securityService serves cairn.v1.Security: users and join tokens in the
// meta group. Every call needs admin (authorizeGRPC's default). NB: in
// node rather than grpcapi: it is the users' owner's (users.go) API, and
// small; it moves with the node split if that grows a security package.
type securityService struct {
	cairnv1.UnimplementedSecurityServer
	n *Node
}

// metaGet reads key from the meta group linearizably.
func (n *Node) metaGet(ctx context.Context, key []byte) (value []byte, version uint64, found bool, err error) {
	rep, err := n.router.Read(ctx, 0, replica.Linearizable, kv.GetQuery(key))
	if err != nil {
		return nil, 0, false, err
	}
	if len(rep.Responses) != 1 || rep.Responses[0].Code != kv.CodeOK || !rep.Responses[0].HasValue {
		return nil, 0, false, nil
	}
	r := rep.Responses[0]
	return r.Value, r.Version, true, nil
}

// metaPut proposes reqs to the meta group; a failed condition is
// FAILED_PRECONDITION naming what.
func (n *Node) metaPut(ctx context.Context, what string, reqs ...kv.Request) (kv.Reply, error) {
	rep, err := n.propose(ctx, 0, kv.NewCommand(reqs...))
	if err != nil {
		return rep, status.Error(codes.Unavailable, err.Error())
	}
	return rep, nil
}

func (s securityService) AddUser(ctx context.Context, r *cairnv1.UserRequest) (*cairnv1.User, error) {
	role, err := userArgs(r, true, true)
	if err != nil {
		return nil, err
	}
	u := auth.User{Name: r.GetName(), Role: role, Hash: s.n.users.hasher.Hash(r.GetPassword())}
	rep, err := s.n.metaPut(ctx, "add user", kv.Put(auth.UserKey(u.Name), u.Encode()).IfAbsent())
	if err != nil {
		return nil, err
	}
	if len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeConditionFailed {
		return nil, status.Errorf(codes.AlreadyExists, "user %s exists (change it with passwd or grant)", u.Name)
	}
	s.n.audit(ctx, "user add", "user", u.Name, "role", role.String())
	return &cairnv1.User{Name: u.Name, Role: role.String()}, nil
}

func (s securityService) RemoveUser(ctx context.Context, r *cairnv1.UserRequest) (*cairnv1.User, error) {
	if err := auth.ValidUserName(r.GetName()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	rep, err := s.n.metaPut(ctx, "remove user", kv.Delete(auth.UserKey(r.GetName())))
	if err != nil {
		return nil, err
	}
	if len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeNotFound {
		return nil, status.Errorf(codes.NotFound, "no user %s", r.GetName())
	}
	s.n.audit(ctx, "user remove", "user", r.GetName())
	return &cairnv1.User{Name: r.GetName()}, nil
}

// change rewrites a user's record with edit, if nobody changed it since
// it was read.
func (s securityService) change(ctx context.Context, name, what string, edit func(*auth.User)) (*cairnv1.User, error) {
	for range 10 {
		b, version, found, err := s.n.metaGet(ctx, auth.UserKey(name))
		if err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		if !found {
			return nil, status.Errorf(codes.NotFound, "no user %s", name)
		}
		u, err := auth.DecodeUser(b)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		edit(&u)
		rep, err := s.n.metaPut(ctx, what, kv.Put(auth.UserKey(name), u.Encode()).IfVersion(version))
		if err != nil {
			return nil, err
		}
		if len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeConditionFailed {
			continue // changed meanwhile: read it again
		}
		return &cairnv1.User{Name: u.Name, Role: u.Role.String()}, nil
	}
	return nil, status.Errorf(codes.Aborted, "user %s keeps changing; try again", name)
}

func (s securityService) SetPassword(ctx context.Context, r *cairnv1.UserRequest) (*cairnv1.User, error) {
	if _, err := userArgs(r, false, true); err != nil {
		return nil, err
	}
	hash := s.n.users.hasher.Hash(r.GetPassword())
	u, err := s.change(ctx, r.GetName(), "passwd", func(u *auth.User) { u.Hash = hash })
	if err == nil {
		s.n.audit(ctx, "user passwd", "user", r.GetName())
	}
	return u, err
}

func (s securityService) Grant(ctx context.Context, r *cairnv1.UserRequest) (*cairnv1.User, error) {
	role, err := userArgs(r, true, false)
	if err != nil {
		return nil, err
	}
	u, err := s.change(ctx, r.GetName(), "grant", func(u *auth.User) { u.Role = role })
	if err == nil {
		s.n.audit(ctx, "user grant", "user", r.GetName(), "role", role.String())
	}
	return u, err
}

func (s securityService) ListUsers(ctx context.Context, _ *cairnv1.ListUsersRequest) (*cairnv1.ListUsersResponse, error) {
	if err := s.n.users.refresh(ctx); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	s.n.users.mu.Lock()
	defer s.n.users.mu.Unlock()
	out := &cairnv1.ListUsersResponse{}
	for _, u := range s.n.users.byName {
		out.Users = append(out.Users, &cairnv1.User{Name: u.Name, Role: u.Role.String()})
	}
	sortUsers(out.Users)
	return out, nil
}

func sortUsers(us []*cairnv1.User) {
	for i := 1; i < len(us); i++ {
		for j := i; j > 0 && us[j].Name < us[j-1].Name; j-- {
			us[j], us[j-1] = us[j-1], us[j]
		}
	}
}

// userArgs checks a request's name, and its role and password when asked.
func userArgs(r *cairnv1.UserRequest, needRole, needPassword bool) (auth.Role, error) {
	if err := auth.ValidUserName(r.GetName()); err != nil {
		return 0, status.Error(codes.InvalidArgument, err.Error())
	}
	var role auth.Role
	if needRole {
		var err error
		if role, err = auth.ParseRole(r.GetRole()); err != nil {
			return 0, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if needPassword {
		if r.GetPassword() == "" {
			return 0, status.Error(codes.InvalidArgument, "a password is needed")
		}
		if len(r.GetPassword()) > auth.MaxPasswordLen {
			return 0, status.Errorf(codes.InvalidArgument, "password over %d bytes", auth.MaxPasswordLen)
		}
	}
	return role, nil
}

// DefaultJoinTokenTTL is a join token's life when none is asked for.
const DefaultJoinTokenTTL = time.Hour

func (s securityService) CreateJoinToken(ctx context.Context, r *cairnv1.CreateJoinTokenRequest) (*cairnv1.CreateJoinTokenResponse, error) {
	ttl := time.Duration(r.GetTtlSeconds()) * time.Second
	if ttl == 0 {
		ttl = DefaultJoinTokenTTL
	}
	tok, rec, err := auth.NewJoinToken(s.n.id.ClusterID.String(), ttl, s.n.clock.Now())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := s.n.metaPut(ctx, "join token", kv.Put(rec.Key(), rec.Encode())); err != nil {
		return nil, err
	}
	s.n.audit(ctx, "join-token create", "id", rec.ID, "expires", rec.Expires)
	return &cairnv1.CreateJoinTokenResponse{Token: tok, Info: &cairnv1.JoinTokenInfo{Id: rec.ID, ExpiresUnix: rec.Expires.Unix()}}, nil
}

func (s securityService) ListJoinTokens(ctx context.Context, _ *cairnv1.ListJoinTokensRequest) (*cairnv1.ListJoinTokensResponse, error) {
	start := []byte(auth.MetaKeyJoinTokenPrefix)
	end := append([]byte(auth.MetaKeyJoinTokenPrefix[:len(auth.MetaKeyJoinTokenPrefix)-1]), '/'+1)
	out := &cairnv1.ListJoinTokensResponse{}
	for start != nil {
		rep, err := s.n.router.Read(ctx, 0, replica.Linearizable, kv.ScanQuery(start, end, 1000))
		if err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		for _, it := range rep.Items {
			rec, err := auth.DecodeJoinToken(it.Value)
			if err != nil || rec.Used {
				continue
			}
			out.Tokens = append(out.Tokens, &cairnv1.JoinTokenInfo{Id: rec.ID, ExpiresUnix: rec.Expires.Unix()})
		}
		start = rep.Next
	}
	return out, nil
}

func (s securityService) RevokeJoinToken(ctx context.Context, r *cairnv1.RevokeJoinTokenRequest) (*cairnv1.RevokeJoinTokenResponse, error) {
	rep, err := s.n.metaPut(ctx, "revoke", kv.Delete(auth.JoinToken{ID: r.GetId()}.Key()))
	if err != nil {
		return nil, err
	}
	if len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeNotFound {
		return nil, status.Errorf(codes.NotFound, "no join token %s", r.GetId())
	}
	s.n.audit(ctx, "join-token revoke", "id", r.GetId())
	return &cairnv1.RevokeJoinTokenResponse{}, nil
}

// joinTokenHeader carries a joining node's --join-token on its Join call.
const joinTokenHeader = "cairn-join-token"

// useJoinToken checks the join token the call carries and, unless
// dryRun, marks it used by name: a secure cluster's Join without a node
// certificate needs one. The error names what is missing or wrong.
func (n *Node) useJoinToken(ctx context.Context, name string, dryRun bool) error {
	md, _ := metadata.FromIncomingContext(ctx)
	toks := md.Get(joinTokenHeader)
	if len(toks) == 0 {
		return status.Error(codes.PermissionDenied, "this cluster is secure: joining needs a join token (cairn admin join-token create, then cairn server --join ... --join-token T) or a node certificate its CA signed (--peer-cert-file)")
	}
	id, secret, err := auth.ParseJoinToken(toks[0])
	if err != nil {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	for range 10 {
		b, version, found, err := n.metaGet(ctx, auth.JoinToken{ID: id}.Key())
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
		if err := rec.Check(n.id.ClusterID.String(), secret, n.clock.Now()); err != nil {
			return status.Error(codes.PermissionDenied, err.Error())
		}
		if dryRun {
			return nil
		}
		rec.Used, rec.UsedBy = true, name
		rep, err := n.metaPut(ctx, "use join token", kv.Put(rec.Key(), rec.Encode()).IfVersion(version))
		if err != nil {
			return err
		}
		if len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeConditionFailed {
			continue
		}
		n.log.Info("audit: join token used", "id", id, "node", name)
		return nil
	}
	return status.Error(codes.Aborted, "join token contended; try again")
}

// audit logs an admin action with who did it (issue: admin actions are
// logged with their author).
func (n *Node) audit(ctx context.Context, action string, attrs ...any) {
	who := "-"
	if p, ok := api.PrincipalOf(ctx); ok {
		who = p.User
	}
	n.log.Info("audit: "+action, append([]any{"by", who, "remote", remoteHost(ctx)}, attrs...)...)
}
