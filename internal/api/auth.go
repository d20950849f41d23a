package api

import (
	"context"
	"errors"

	"github.com/cairnkv/cairn/internal/auth"
)

// Principal is who a request runs as: a user and the role it holds.
type Principal struct {
	User string
	Role auth.Role
}

// Allows says whether p may do what perm names.
func (p Principal) Allows(perm auth.Permission) bool { return p.Role.Allows(perm) }

// Authenticator is what the doors ask about users (the node's, over the
// users kept in the meta group). A door with a nil Authenticator, or one
// whose Required is false, lets everyone in as Anonymous.
type Authenticator interface {
	// Required says whether clients must log in: the cluster has users
	// (it was created with --initial-admin-password-file).
	Required() bool
	// Login checks user's password for a client at remote (an address;
	// failures are throttled per address and counted). It fails with
	// ErrWrongPass for any mismatch (unknown user, bad password), with
	// ErrThrottled while remote must wait, or with the reason the user
	// records cannot be read.
	Login(ctx context.Context, remote, user, password string) (Principal, error)
}

// Anonymous is everyone on a cluster without users: it may do anything,
// as on a cluster before security (cairn dev, --insecure).
var Anonymous = Principal{User: "default", Role: auth.RoleAdmin}

// Login errors.
var (
	ErrWrongPass = errors.New("invalid username-password pair or user is disabled")
	ErrThrottled = errors.New("too many failed logins from this address; wait and try again")
)

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalOf is the principal ctx carries; ok is false when none.
func PrincipalOf(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
