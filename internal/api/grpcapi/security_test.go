package grpcapi

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/auth/gate"
	"github.com/cairnkv/cairn/internal/auth/gate/gatetest"
	"github.com/cairnkv/cairn/internal/clock"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestSecurityUsersAndTokens(t *testing.T) {
	meta := gatetest.NewMeta()
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	log := slog.New(slog.DiscardHandler)
	users := gate.NewUsers(gate.UsersConfig{Meta: meta, Clock: clk, Logger: log, Registry: prometheus.NewRegistry(), Timeout: time.Second})
	s := NewSecurity(SecurityConfig{Meta: meta, Users: users, ClusterID: "c1", Clock: clk, Logger: log})
	ctx := context.Background()
	code := func(err error) codes.Code { return status.Code(err) }

	if _, err := s.AddUser(ctx, &cairnv1.UserRequest{Name: "bob", Role: "read", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r    *cairnv1.UserRequest
		want codes.Code
	}{
		{&cairnv1.UserRequest{Name: "bob", Role: "read", Password: "p"}, codes.AlreadyExists},
		{&cairnv1.UserRequest{Name: "eve", Role: "god", Password: "p"}, codes.InvalidArgument},
		{&cairnv1.UserRequest{Name: "eve", Role: "read"}, codes.InvalidArgument},
	} {
		if _, err := s.AddUser(ctx, c.r); code(err) != c.want {
			t.Fatalf("AddUser %v: %v, want %v", c.r, err, c.want)
		}
	}
	if _, err := s.AddUser(ctx, &cairnv1.UserRequest{Name: "al", Role: "admin", Password: "q"}); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Grant(ctx, &cairnv1.UserRequest{Name: "bob", Role: "readwrite"}); err != nil || u.Role != "readwrite" {
		t.Fatalf("Grant: %v %v", u, err)
	}
	if _, err := s.Grant(ctx, &cairnv1.UserRequest{Name: "nobody", Role: "read"}); code(err) != codes.NotFound {
		t.Fatalf("Grant to nobody: %v", err)
	}
	if _, err := s.SetPassword(ctx, &cairnv1.UserRequest{Name: "bob", Password: "p2"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListUsers(ctx, &cairnv1.ListUsersRequest{})
	if err != nil || len(list.Users) != 2 || list.Users[0].Name != "al" || list.Users[1].Name != "bob" || list.Users[1].Role != "readwrite" {
		t.Fatalf("ListUsers: %v %v", list, err)
	}
	if p, err := users.Login(ctx, "h", "bob", "p2"); err != nil || p.User != "bob" {
		t.Fatalf("login with the new password: %v %v", p, err)
	}
	if _, err := s.RemoveUser(ctx, &cairnv1.UserRequest{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveUser(ctx, &cairnv1.UserRequest{Name: "bob"}); code(err) != codes.NotFound {
		t.Fatalf("removing twice: %v", err)
	}

	tok, err := s.CreateJoinToken(ctx, &cairnv1.CreateJoinTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Unix(tok.Info.ExpiresUnix, 0).Sub(clk.Now()); got != DefaultJoinTokenTTL {
		t.Fatalf("default life %v", got)
	}
	toks, err := s.ListJoinTokens(ctx, &cairnv1.ListJoinTokensRequest{})
	if err != nil || len(toks.Tokens) != 1 || toks.Tokens[0].Id != tok.Info.Id {
		t.Fatalf("ListJoinTokens: %v %v", toks, err)
	}
	if _, err := s.RevokeJoinToken(ctx, &cairnv1.RevokeJoinTokenRequest{Id: tok.Info.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeJoinToken(ctx, &cairnv1.RevokeJoinTokenRequest{Id: tok.Info.Id}); code(err) != codes.NotFound {
		t.Fatalf("revoking twice: %v", err)
	}
	meta.Fail = context.DeadlineExceeded
	if _, err := s.ListUsers(ctx, &cairnv1.ListUsersRequest{}); code(err) != codes.Unavailable {
		t.Fatalf("ListUsers without a meta group: %v", err)
	}
}
