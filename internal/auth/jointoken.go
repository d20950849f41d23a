package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MetaKeyJoinTokenPrefix prefixes the meta group's join-token records.
const MetaKeyJoinTokenPrefix = "auth/join-tokens/"

// A join token is "cairn-join1." followed by base64url(ID ‖ secret): an
// 8-byte ID that names its record and a 16-byte (128-bit) secret, of which
// the cluster keeps only SHA-256(cluster ID ‖ secret), so a copy of the
// meta group cannot be turned into tokens and a token of another cluster
// never matches.
const (
	joinTokenPrefix = "cairn-join1."
	tokenIDLen      = 8
	tokenSecretLen  = 16
)

// Errors a token check returns; the refusal names which.
var (
	ErrTokenMalformed = errors.New("join token malformed (want the whole cairn-join1.… string that cairn admin join-token create printed)")
	ErrTokenUnknown   = errors.New("join token unknown to this cluster (revoked, or made for another cluster)")
	ErrTokenExpired   = errors.New("join token expired")
	ErrTokenUsed      = errors.New("join token already used (tokens are single-use)")
)

// JoinToken is a token's record in the meta group.
type JoinToken struct {
	ID      string    `json:"id"` // hex of the token's ID
	Digest  string    `json:"digest"`
	Expires time.Time `json:"expires"`
	Used    bool      `json:"used,omitempty"`
	UsedBy  string    `json:"used_by,omitempty"` // the node that joined with it
}

// Key is where the record lives in the meta group.
func (r JoinToken) Key() []byte { return []byte(MetaKeyJoinTokenPrefix + r.ID) }

// NewJoinToken makes a token for clusterID valid for ttl from now: the
// string to hand the joining node's operator, and the record to store.
func NewJoinToken(clusterID string, ttl time.Duration, now time.Time) (string, JoinToken, error) {
	if ttl <= 0 {
		return "", JoinToken{}, fmt.Errorf("join token ttl %v: want a positive duration", ttl)
	}
	raw := make([]byte, tokenIDLen+tokenSecretLen)
	if _, err := rand.Read(raw); err != nil {
		return "", JoinToken{}, err
	}
	id, secret := raw[:tokenIDLen], raw[tokenIDLen:]
	rec := JoinToken{ID: hex.EncodeToString(id), Digest: digest(clusterID, secret), Expires: now.Add(ttl).UTC()}
	return joinTokenPrefix + base64.RawURLEncoding.EncodeToString(raw), rec, nil
}

// ParseJoinToken splits a token into the ID of its record and its secret.
func ParseJoinToken(tok string) (id string, secret []byte, err error) {
	body, ok := strings.CutPrefix(strings.TrimSpace(tok), joinTokenPrefix)
	if !ok {
		return "", nil, ErrTokenMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) != tokenIDLen+tokenSecretLen {
		return "", nil, ErrTokenMalformed
	}
	return hex.EncodeToString(raw[:tokenIDLen]), raw[tokenIDLen:], nil
}

// Check says whether secret opens r for clusterID at now.
func (r JoinToken) Check(clusterID string, secret []byte, now time.Time) error {
	if subtle.ConstantTimeCompare([]byte(digest(clusterID, secret)), []byte(r.Digest)) != 1 {
		return ErrTokenUnknown
	}
	if r.Used {
		return ErrTokenUsed
	}
	if !now.Before(r.Expires) {
		return fmt.Errorf("%w at %s", ErrTokenExpired, r.Expires.Format(time.RFC3339))
	}
	return nil
}

// Encode returns the stored record.
func (r JoinToken) Encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

// DecodeJoinToken reads a stored record.
func DecodeJoinToken(b []byte) (JoinToken, error) {
	var r JoinToken
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("auth: join token record: %w", err)
	}
	if len(r.ID) != 2*tokenIDLen || len(r.Digest) != 2*sha256.Size {
		return r, errors.New("auth: join token record malformed")
	}
	return r, nil
}

func digest(clusterID string, secret []byte) string {
	h := sha256.New()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(clusterID)))
	h.Write(n[:])
	h.Write([]byte(clusterID))
	h.Write(secret)
	return hex.EncodeToString(h.Sum(nil))
}
