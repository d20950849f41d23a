package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// ErrInitialCluster is wrapped by every error ParseInitialCluster returns.
var ErrInitialCluster = errors.New("cluster: bad --initial-cluster")

// Member is one founding node as --initial-cluster names it.
type Member struct {
	Name string `json:"name"`
	// Addr is the node's advertised gRPC address, host:port.
	Addr string `json:"addr"`
}

func (m Member) String() string { return m.Name + "=" + m.Addr }

// MaxNameLen bounds a node name: names appear in keys, descriptors and every
// handshake.
const MaxNameLen = 64

// ValidName reports whether name may name a node: 1 to MaxNameLen letters,
// digits, '-', '_' or '.'. NB: stricter than etcd (which takes anything),
// because a name is part of storage keys (/n/peers/<name>, members/<name>)
// and of log lines, where a '/' or a space would be a trap.
func ValidName(name string) error {
	if name == "" {
		return errors.New("cluster: empty node name")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("cluster: node name %q is longer than %d bytes", name, MaxNameLen)
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("cluster: node name %q: %q is not allowed (use letters, digits, '-', '_', '.')", name, c)
		}
	}
	return nil
}

// ParseInitialCluster parses etcd's --initial-cluster form,
// "n1=10.0.0.1:7379,n2=10.0.0.2:7379". Spaces around an entry are ignored.
// The members are returned in the order given; everything that must agree
// between founders (ClusterID, FoundingDescriptors, MetaSeed) orders them by
// name itself. A duplicate name or address is refused with an error naming
// both entries.
func ParseInitialCluster(s string) ([]Member, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty; want name=host:port[,name=host:port...]", ErrInitialCluster)
	}
	var members []Member
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		name, addr, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("%w: entry %d %q: missing '='; want name=host:port", ErrInitialCluster, i+1, entry)
		}
		members = append(members, Member{Name: strings.TrimSpace(name), Addr: strings.TrimSpace(addr)})
	}
	return checkMembers(members)
}

// checkMembers validates every name and address, refuses duplicates, and
// returns a copy with canonical addresses, in the order given.
func checkMembers(in []Member) ([]Member, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: no members; want name=host:port[,name=host:port...]", ErrInitialCluster)
	}
	members := make([]Member, 0, len(in))
	names := make(map[string]int)
	addrs := make(map[string]int)
	for i, m := range in {
		n := i + 1
		if err := ValidName(m.Name); err != nil {
			return nil, fmt.Errorf("%w: entry %d %q: %v", ErrInitialCluster, n, m.String(), strings.TrimPrefix(err.Error(), "cluster: "))
		}
		canon, err := canonicalAddr(m.Addr)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d %q: %v", ErrInitialCluster, n, m.String(), err)
		}
		if j, dup := names[m.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate name %q (entries %d and %d)", ErrInitialCluster, m.Name, j, n)
		}
		if j, dup := addrs[canon]; dup {
			return nil, fmt.Errorf("%w: duplicate address %s (entries %d %q and %d %q)",
				ErrInitialCluster, canon, j, members[j-1].Name, n, m.Name)
		}
		names[m.Name], addrs[canon] = n, n
		members = append(members, Member{Name: m.Name, Addr: canon})
	}
	return members, nil
}

// canonicalAddr checks host:port and returns it in net.JoinHostPort's form,
// so "[::1]:7379" written two ways compares equal. Names are not resolved:
// "localhost:7379" and "127.0.0.1:7379" are different addresses here.
func canonicalAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: want host:port", addr)
	}
	if host == "" {
		return "", fmt.Errorf("address %q: no host (peers must be able to dial it)", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("address %q: port must be 1-65535", addr)
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// DefaultInitialCluster is --initial-cluster's default: this node alone.
func DefaultInitialCluster(name, addr string) []Member {
	return []Member{{Name: name, Addr: addr}}
}

// FormatInitialCluster is ParseInitialCluster's inverse.
func FormatInitialCluster(members []Member) string {
	parts := make([]string, len(members))
	for i, m := range members {
		parts[i] = m.String()
	}
	return strings.Join(parts, ",")
}

// sortedMembers returns a copy of members ordered by name: the order every
// founder agrees on.
func sortedMembers(members []Member) []Member {
	s := slices.Clone(members)
	slices.SortFunc(s, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// ID is a cluster ID. It converts to the [16]byte that transport.Config
// takes without a cast.
type ID [16]byte

// String is the ID in lower-case hex (32 characters).
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID (no cluster).
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler (JSON writes the hex form).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses the hex form String writes.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return ID{}, fmt.Errorf("cluster: cluster ID %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("cluster: cluster ID %q: %v", s, err)
	}
	return id, nil
}

// ClusterID derives the cluster ID from the founding members and
// --initial-cluster-token alone (etcd's way), so every founder computes the
// same ID without talking to the others: the first 16 bytes of SHA-256 over
// a domain tag, the token and the name-sorted name=addr list, each part
// length-prefixed so no two inputs collide by concatenation. The order of
// members does not matter.
//
// NB: DESIGN.md's Words table calls the ID random; Identity derives it from
// the flags, which is what lets founders bootstrap independently. Two
// clusters made with the same members and token get the same ID: the token
// is what tells them apart, as in etcd.
func ClusterID(members []Member, token string) ID {
	h := sha256.New()
	field := func(s string) {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("cairn cluster id v1")
	field(token)
	for _, m := range sortedMembers(members) {
		field(m.Name + "=" + m.Addr)
	}
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}
