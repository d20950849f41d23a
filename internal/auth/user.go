package auth

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MetaKeyUserPrefix prefixes the meta group's user records.
const MetaKeyUserPrefix = "auth/users/"

// UserKey is where user name's record lives in the meta group.
func UserKey(name string) []byte { return []byte(MetaKeyUserPrefix + name) }

// MaxUserNameLen bounds a user's name.
const MaxUserNameLen = 64

// ValidUserName says whether name may name a user: 1 to 64 bytes of
// letters, digits and ._- (what a RESP AUTH, a certificate's common name
// and a meta key all carry without escaping).
func ValidUserName(name string) error {
	if name == "" || len(name) > MaxUserNameLen {
		return fmt.Errorf("user name %q: want 1 to %d characters", name, MaxUserNameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("user name %q: only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// User is one user's record.
type User struct {
	Name string `json:"name"`
	Role Role   `json:"-"`
	// Hash is the password's hash (Hasher.Hash); empty: no password (the
	// user authenticates by client certificate only).
	Hash string `json:"hash,omitempty"`
}

// userRecord is User on disk: JSON with a format version and the role by
// name, so a record stays readable by people and by later versions.
type userRecord struct {
	Version int    `json:"v"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Hash    string `json:"hash,omitempty"`
}

const userRecordVersion = 1

// Encode returns the record stored at UserKey(u.Name).
func (u User) Encode() []byte {
	b, err := json.Marshal(userRecord{Version: userRecordVersion, Name: u.Name, Role: u.Role.String(), Hash: u.Hash})
	if err != nil {
		panic(err) // strings only
	}
	return b
}

// DecodeUser reads a stored record, refusing one from a newer version.
func DecodeUser(b []byte) (User, error) {
	var r userRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return User{}, fmt.Errorf("auth: user record: %w", err)
	}
	if r.Version != userRecordVersion {
		return User{}, fmt.Errorf("auth: user record version %d, this binary reads %d", r.Version, userRecordVersion)
	}
	role, err := ParseRole(r.Role)
	if err != nil {
		return User{}, fmt.Errorf("auth: user %q: %w", r.Name, err)
	}
	if err := ValidUserName(r.Name); err != nil {
		return User{}, errors.Join(errors.New("auth: user record"), err)
	}
	return User{Name: r.Name, Role: role, Hash: r.Hash}, nil
}
