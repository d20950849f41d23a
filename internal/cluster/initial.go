package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/cairnkv/cairn/internal/hashring"
)

// ErrInitialCluster is wrapped by every error ParseInitialCluster returns.
var ErrInitialCluster = errors.New("cluster: bad --initial-cluster")

// Member is one node as --initial-cluster names it, and as the meta group
// records it.
type Member struct {
	Name string `json:"name"`
	// Addr is the node's advertised gRPC address, host:port.
	Addr string `json:"addr"`
	// Capacity is the node's weight on the ring (--capacity): 0 means 1.
	Capacity float64 `json:"capacity,omitempty"`
	// Zone is the node's failure domain (--zone): no two replicas of a
	// partition in one zone while there are at least R zones.
	Zone string `json:"zone,omitempty"`
	// State is joining, up, draining, down or removed (NodeState*); "" is
	// up. Only the meta group's records carry it.
	State string `json:"state,omitempty"`
}

// String is the member's --initial-cluster entry.
func (m Member) String() string {
	s := m.Name + "=" + m.Addr
	if m.Zone != "" {
		s += ";zone=" + m.Zone
	}
	if m.Capacity != 0 && m.Capacity != 1 {
		s += ";capacity=" + strconv.FormatFloat(m.Capacity, 'g', -1, 64)
	}
	return s
}

// Weight is the member's ring capacity, 1 when unset.
func (m Member) Weight() float64 {
	if m.Capacity == 0 {
		return 1
	}
	return m.Capacity
}

// States of a node in the meta group (DESIGN.md, Membership and failure).
const (
	NodeJoining  = "joining"
	NodeUp       = "up"
	NodeDraining = "draining"
	NodeDown     = "down"
	NodeRemoved  = "removed"
)

// StateOf is m's state, NodeUp when unset.
func (m Member) StateOf() string {
	if m.State == "" {
		return NodeUp
	}
	return m.State
}

// ValidCapacity checks a --capacity value.
func ValidCapacity(c float64) error {
	if math.IsNaN(c) || c < hashring.MinCapacity || c > hashring.MaxCapacity {
		return fmt.Errorf("capacity %v: must be between %g and %g", c, hashring.MinCapacity, hashring.MaxCapacity)
	}
	return nil
}

// ValidZone checks a --zone value: at most MaxNameLen letters, digits, '-',
// '_' or '.' ("" is no zone).
func ValidZone(z string) error {
	if z == "" {
		return nil
	}
	if err := ValidName(z); err != nil {
		return fmt.Errorf("zone %q: use at most %d letters, digits, '-', '_', '.'", z, MaxNameLen)
	}
	return nil
}

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
// "n1=10.0.0.1:7379,n2=10.0.0.2:7379", where an entry may add the node's
// zone and ring capacity: "n1=10.0.0.1:7379;zone=a;capacity=2". Every
// founder must be given the same list, so every founder places partitions
// alike. Spaces around an entry are ignored.
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
		head, opts, _ := strings.Cut(entry, ";")
		name, addr, ok := strings.Cut(head, "=")
		if !ok {
			return nil, fmt.Errorf("%w: entry %d %q: missing '='; want name=host:port", ErrInitialCluster, i+1, entry)
		}
		m := Member{Name: strings.TrimSpace(name), Addr: strings.TrimSpace(addr)}
		if opts != "" {
			for opt := range strings.SplitSeq(opts, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(opt), "=")
				switch k {
				case "zone":
					m.Zone = v
				case "capacity":
					c, err := strconv.ParseFloat(v, 64)
					if err != nil {
						return nil, fmt.Errorf("%w: entry %d %q: capacity %q is not a number", ErrInitialCluster, i+1, entry, v)
					}
					if err := ValidCapacity(c); err != nil {
						return nil, fmt.Errorf("%w: entry %d %q: %v", ErrInitialCluster, i+1, entry, err)
					}
					m.Capacity = c
				default:
					return nil, fmt.Errorf("%w: entry %d %q: unknown option %q; want zone=Z or capacity=C", ErrInitialCluster, i+1, entry, opt)
				}
			}
		}
		members = append(members, m)
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
		if m.Capacity != 0 {
			if err := ValidCapacity(m.Capacity); err != nil {
				return nil, fmt.Errorf("%w: entry %d %q: %v", ErrInitialCluster, n, m.String(), err)
			}
		}
		if err := ValidZone(m.Zone); err != nil {
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
		m.Addr = canon
		if m.Capacity == 1 {
			m.Capacity = 0 // the default, written one way
		}
		members = append(members, m)
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
		// Zone and capacity count only when set, so IDs made before they
		// existed stay the same: founders that disagree on them place
		// partitions differently and must not form one cluster.
		field(Member{Name: m.Name, Addr: m.Addr, Zone: m.Zone, Capacity: m.Capacity}.String())
	}
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// CheckOwnEntry refuses a founder whose --capacity or --zone (capacity,
// zone; zero when not given) differs from its --initial-cluster entry:
// every founder places partitions by the entries, so a flag that disagrees
// would be silently ignored.
func CheckOwnEntry(name string, capacity float64, zone string, founders []Member) error {
	for _, m := range founders {
		if m.Name != name {
			continue
		}
		if capacity != 0 && capacity != m.Weight() {
			return fmt.Errorf("--capacity %v differs from the capacity %v that --initial-cluster gives %s (name=addr;capacity=C); founders are placed by their entries",
				capacity, m.Weight(), name)
		}
		if zone != "" && zone != m.Zone {
			return fmt.Errorf("--zone %q differs from the zone %q that --initial-cluster gives %s (name=addr;zone=Z); founders are placed by their entries",
				zone, m.Zone, name)
		}
	}
	return nil
}
