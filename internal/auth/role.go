package auth

import "fmt"

// Role is what a user may do. Roles are ordered: each allows what the one
// below it allows.
type Role uint8

const (
	RoleNone Role = iota
	// RoleRead reads keys.
	RoleRead
	// RoleReadWrite reads and writes keys.
	RoleReadWrite
	// RoleAdmin also runs admin commands: membership, users, join tokens,
	// FLUSHALL, /debug/pprof and fault injection.
	RoleAdmin
)

// Permission is what a request needs.
type Permission uint8

const (
	PermRead Permission = iota + 1
	PermWrite
	PermAdmin
)

var roleNames = [...]string{RoleNone: "none", RoleRead: "read", RoleReadWrite: "readwrite", RoleAdmin: "admin"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	for r, name := range roleNames {
		if r != int(RoleNone) && s == name {
			return Role(r), nil
		}
	}
	return RoleNone, fmt.Errorf("role %q: want read, readwrite or admin", s)
}

// Allows says whether a user of role r may do what p names.
func (r Role) Allows(p Permission) bool {
	switch p {
	case PermRead:
		return r >= RoleRead && r <= RoleAdmin
	case PermWrite:
		return r >= RoleReadWrite && r <= RoleAdmin
	case PermAdmin:
		return r == RoleAdmin
	}
	return false
}
