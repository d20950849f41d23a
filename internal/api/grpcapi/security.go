package grpcapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/cairnkv/cairn/internal/auth"
	"github.com/cairnkv/cairn/internal/auth/gate"
	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/kv"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SecurityUsers is the node's view of the meta group's users (a
// gate.Users).
type SecurityUsers interface {
	// Refresh reads the records again.
	Refresh(ctx context.Context) error
	// List is every user as last read, by name.
	List() []auth.User
	// Hash is a password's stored form.
	Hash(password string) string
}

// SecurityConfig is what the Security service reads and writes.
type SecurityConfig struct {
	Meta      gate.Meta // users and join tokens live in the meta group
	Users     SecurityUsers
	ClusterID string
	Clock     clock.Clock
	Logger    *slog.Logger
}

// Security serves cairn.v1.Security: users and join tokens in the meta
// group. Every call needs admin (the gate's default).
type Security struct {
	cairnv1.UnimplementedSecurityServer
	cfg SecurityConfig
}

// NewSecurity makes the service.
func NewSecurity(cfg SecurityConfig) *Security { return &Security{cfg: cfg} }

// Register adds the service to srv.
func (s *Security) Register(srv *grpc.Server) { cairnv1.RegisterSecurityServer(srv, s) }

// propose applies reqs in the meta group; a failure is UNAVAILABLE.
func (s *Security) propose(ctx context.Context, reqs ...kv.Request) (kv.Reply, error) {
	rep, err := s.cfg.Meta.Propose(ctx, kv.NewCommand(reqs...))
	if err != nil {
		return rep, status.Error(codes.Unavailable, err.Error())
	}
	return rep, nil
}

func (s *Security) audit(ctx context.Context, action string, attrs ...any) {
	gate.Audit(ctx, s.cfg.Logger, action, attrs...)
}

func (s *Security) AddUser(ctx context.Context, r *cairnv1.UserRequest) (*cairnv1.User, error) {
	role, err := userArgs(r, true, true)
	if err != nil {
		return nil, err
	}
	u := auth.User{Name: r.GetName(), Role: role, Hash: s.cfg.Users.Hash(r.GetPassword())}
	rep, err := s.propose(ctx, kv.Put(auth.UserKey(u.Name), u.Encode()).IfAbsent())
	if err != nil {
		return nil, err
	}
	if len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeConditionFailed {
		return nil, status.Errorf(codes.AlreadyExists, "user %s exists (change it with passwd or grant)", u.Name)
	}
	s.audit(ctx, "user add", "user", u.Name, "role", role.String())
	return &cairnv1.User{Name: u.Name, Role: role.String()}, nil
}

func (s *Security) RemoveUser(ctx context.Context, r *cairnv1.UserRequest) (*cairnv1.User, error) {
	if err := auth.ValidUserName(r.GetName()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	rep, err := s.propose(ctx, kv.Delete(auth.UserKey(r.GetName())))
	if err != nil {
		return nil, err
	}
	if len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeNotFound {
		return nil, status.Errorf(codes.NotFound, "no user %s", r.GetName())
	}
	s.audit(ctx, "user remove", "user", r.GetName())
	return &cairnv1.User{Name: r.GetName()}, nil
}

// change rewrites a user's record with edit, if nobody changed it since
// it was read.
func (s *Security) change(ctx context.Context, name string, edit func(*auth.User)) (*cairnv1.User, error) {
	for range 10 {
		b, version, found, err := gate.Get(ctx, s.cfg.Meta, auth.UserKey(name))
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
		rep, err := s.propose(ctx, kv.Put(auth.UserKey(name), u.Encode()).IfVersion(version))
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

func (s *Security) SetPassword(ctx context.Context, r *cairnv1.UserRequest) (*cairnv1.User, error) {
	if _, err := userArgs(r, false, true); err != nil {
		return nil, err
	}
	hash := s.cfg.Users.Hash(r.GetPassword())
	u, err := s.change(ctx, r.GetName(), func(u *auth.User) { u.Hash = hash })
	if err == nil {
		s.audit(ctx, "user passwd", "user", r.GetName())
	}
	return u, err
}

func (s *Security) Grant(ctx context.Context, r *cairnv1.UserRequest) (*cairnv1.User, error) {
	role, err := userArgs(r, true, false)
	if err != nil {
		return nil, err
	}
	u, err := s.change(ctx, r.GetName(), func(u *auth.User) { u.Role = role })
	if err == nil {
		s.audit(ctx, "user grant", "user", r.GetName(), "role", role.String())
	}
	return u, err
}

func (s *Security) ListUsers(ctx context.Context, _ *cairnv1.ListUsersRequest) (*cairnv1.ListUsersResponse, error) {
	if err := s.cfg.Users.Refresh(ctx); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	out := &cairnv1.ListUsersResponse{}
	for _, u := range s.cfg.Users.List() {
		out.Users = append(out.Users, &cairnv1.User{Name: u.Name, Role: u.Role.String()})
	}
	return out, nil
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

func (s *Security) CreateJoinToken(ctx context.Context, r *cairnv1.CreateJoinTokenRequest) (*cairnv1.CreateJoinTokenResponse, error) {
	ttl := time.Duration(r.GetTtlSeconds()) * time.Second
	if ttl == 0 {
		ttl = DefaultJoinTokenTTL
	}
	tok, rec, err := auth.NewJoinToken(s.cfg.ClusterID, ttl, s.cfg.Clock.Now())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := s.propose(ctx, kv.Put(rec.Key(), rec.Encode())); err != nil {
		return nil, err
	}
	s.audit(ctx, "join-token create", "id", rec.ID, "expires", rec.Expires)
	return &cairnv1.CreateJoinTokenResponse{Token: tok, Info: &cairnv1.JoinTokenInfo{Id: rec.ID, ExpiresUnix: rec.Expires.Unix()}}, nil
}

func (s *Security) ListJoinTokens(ctx context.Context, _ *cairnv1.ListJoinTokensRequest) (*cairnv1.ListJoinTokensResponse, error) {
	out := &cairnv1.ListJoinTokensResponse{}
	err := gate.Scan(ctx, s.cfg.Meta, auth.MetaKeyJoinTokenPrefix, func(it kv.Item) {
		rec, err := auth.DecodeJoinToken(it.Value)
		if err != nil || rec.Used {
			return
		}
		out.Tokens = append(out.Tokens, &cairnv1.JoinTokenInfo{Id: rec.ID, ExpiresUnix: rec.Expires.Unix()})
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return out, nil
}

func (s *Security) RevokeJoinToken(ctx context.Context, r *cairnv1.RevokeJoinTokenRequest) (*cairnv1.RevokeJoinTokenResponse, error) {
	rep, err := s.propose(ctx, kv.Delete(auth.JoinToken{ID: r.GetId()}.Key()))
	if err != nil {
		return nil, err
	}
	if len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeNotFound {
		return nil, status.Errorf(codes.NotFound, "no join token %s", r.GetId())
	}
	s.audit(ctx, "join-token revoke", "id", r.GetId())
	return &cairnv1.RevokeJoinTokenResponse{}, nil
}
