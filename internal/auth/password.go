package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum for argon2id (19 MiB, 2 passes, one
// lane), a 16-byte salt and a 32-byte tag. A stored hash carries its
// parameters, so raising them later leaves old hashes readable.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	saltLen        = 16
	tagLen         = 32
)

// MaxPasswordLen bounds what is hashed: a login is refused before hashing
// a longer one (hashing cost must not be the attacker's to choose).
const MaxPasswordLen = 1024

// ErrBadHash: a stored hash that does not parse.
var ErrBadHash = errors.New("auth: stored password hash is malformed")

// Hasher hashes and verifies passwords, at most a few at once: each takes
// argonMemoryKiB of memory, and a flood of logins must queue, not exhaust
// the node.
type Hasher struct {
	sem   chan struct{}
	dummy string
}

// NewHasher lets concurrent hashes run at once (0: GOMAXPROCS).
func NewHasher(concurrent int) *Hasher {
	if concurrent <= 0 {
		concurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{sem: make(chan struct{}, concurrent)}
	h.dummy = h.Hash("not a password anyone has")
	return h
}

// Hash returns password's argon2id hash in the PHC string format:
// $argon2id$v=19$m=...,t=...,p=...$salt$tag.
func (h *Hasher) Hash(password string) string {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	tag := h.derive(password, salt, argonTime, argonMemoryKiB, argonThreads, tagLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(tag))
}

// Verify says whether password matches hash, in time that does not depend
// on where they differ. An empty hash (an unknown user) is checked against
// a dummy so that a miss costs what a hit costs.
func (h *Hasher) Verify(hash, password string) (bool, error) {
	known := hash != ""
	if !known {
		hash = h.dummy
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	p, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	tag := h.derive(password, p.salt, p.time, p.memory, p.threads, uint32(len(p.tag)))
	return subtle.ConstantTimeCompare(tag, p.tag) == 1 && known, nil
}

func (h *Hasher) derive(password string, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	return argon2.IDKey([]byte(password), salt, t, m, p, n)
}

type argonHash struct {
	time, memory uint32
	threads      uint8
	salt, tag    []byte
}

// parseHash reads a PHC string, bounding its parameters so that a bad
// record cannot make a login allocate or spin without limit.
func parseHash(s string) (argonHash, error) {
	var p argonHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, ErrBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, ErrBadHash
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil ||
		p.memory < 8 || p.memory > 1<<20 || p.time < 1 || p.time > 16 || threads < 1 || threads > 16 {
		return p, ErrBadHash
	}
	p.threads = uint8(threads)
	var err error
	enc := base64.RawStdEncoding
	if p.salt, err = enc.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, ErrBadHash
	}
	if p.tag, err = enc.DecodeString(parts[5]); err != nil || len(p.tag) < 16 || len(p.tag) > 64 {
		return p, ErrBadHash
	}
	return p, nil
}
