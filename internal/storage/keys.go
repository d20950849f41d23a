package storage

import "encoding/binary"

// Key layout (DESIGN.md, Storage). Group IDs and indexes are fixed-width
// big-endian so that byte order is numeric order.
//
//	/n/identity, /n/cluster           node name, cluster ID, settings
//	/n/format                         the storage format of everything below (format.go)
//	/u/<group>/log/<index>            log entries
//	/u/<group>/hardstate              term, vote, commit
//	/u/<group>/truncated              {index, term} of the entry before the first in the log
//	/u/<group>/tombstone              next replica ID this node may accept for the group
//	/u/<group>/consistency            what consistency checks found: this replica differs, or the group has no majority
//	/r/<group>/applied                {index, term}, written with the entries it covers
//	/r/<group>/descriptor             replicas, next replica ID, membership version, ConfState
//	/r/<group>/sessions/<client>      a client session
//	/r/<group>/expiry/<time><key>     expiry index
//	/r/<group>/data/<key>             value, version, deadline
//	/r/<group>/stats                  counts kept in the replicated state
//
// Everything under /r/<group>/ travels in a snapshot; /u/<group>/ stays with
// the replica.

var (
	IdentityKey = []byte("/n/identity")
	ClusterKey  = []byte("/n/cluster")
	FormatKey   = []byte("/n/format") // see FormatVersion
)

func groupKey(kind byte, g uint64, suffix string, extra int) []byte {
	k := make([]byte, 0, 3+8+len(suffix)+extra)
	k = append(k, '/', kind, '/')
	k = binary.BigEndian.AppendUint64(k, g)
	k = append(k, suffix...)
	return k
}

// ReplicatedSpan is [start, end) of every key a snapshot of group g carries.
func ReplicatedSpan(g uint64) (start, end []byte) {
	return groupKey('r', g, "/", 0), groupKey('r', g, "0", 0) // '0' follows '/'
}

// UnreplicatedSpan is [start, end) of group g's replica-local keys.
func UnreplicatedSpan(g uint64) (start, end []byte) {
	return groupKey('u', g, "/", 0), groupKey('u', g, "0", 0)
}

// LogKey is the key of entry index of group g.
func LogKey(g, index uint64) []byte {
	return binary.BigEndian.AppendUint64(groupKey('u', g, "/log/", 8), index)
}

// LogSpan is [start, end) of group g's log.
func LogSpan(g uint64) (start, end []byte) {
	return groupKey('u', g, "/log/", 0), groupKey('u', g, "/log0", 0)
}

// LogIndex decodes the index from a LogKey of any group.
func LogIndex(key []byte) uint64 {
	if len(key) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(key[len(key)-8:])
}

func HardStateKey(g uint64) []byte  { return groupKey('u', g, "/hardstate", 0) }
func TruncatedKey(g uint64) []byte  { return groupKey('u', g, "/truncated", 0) }
func TombstoneKey(g uint64) []byte  { return groupKey('u', g, "/tombstone", 0) }
func AppliedKey(g uint64) []byte    { return groupKey('r', g, "/applied", 0) }
func DescriptorKey(g uint64) []byte { return groupKey('r', g, "/descriptor", 0) }
func StatsKey(g uint64) []byte      { return groupKey('r', g, "/stats", 0) }

// ConsistencyKey holds what consistency checks found about the local
// replica of g; replica-local, so a snapshot never carries it and a
// destroyed replica loses it.
func ConsistencyKey(g uint64) []byte { return groupKey('u', g, "/consistency", 0) }

// SessionKey is the key of client's session in group g.
func SessionKey(g, client uint64) []byte {
	return binary.BigEndian.AppendUint64(groupKey('r', g, "/sessions/", 8), client)
}

// SessionSpan is [start, end) of group g's sessions.
func SessionSpan(g uint64) (start, end []byte) {
	return groupKey('r', g, "/sessions/", 0), groupKey('r', g, "/sessions0", 0)
}

// ExpiryKey orders key of group g by its deadline (Unix nanoseconds).
func ExpiryKey(g uint64, deadline int64, key []byte) []byte {
	k := groupKey('r', g, "/expiry/", 8+len(key))
	k = binary.BigEndian.AppendUint64(k, uint64(deadline))
	return append(k, key...)
}

// ExpirySpan is [start, end) of group g's expiry index.
func ExpirySpan(g uint64) (start, end []byte) {
	return groupKey('r', g, "/expiry/", 0), groupKey('r', g, "/expiry0", 0)
}

// DataKey is the key under which user key is stored in group g.
func DataKey(g uint64, key []byte) []byte {
	return append(groupKey('r', g, "/data/", len(key)), key...)
}

// DataPrefix is the prefix of every data key of group g.
func DataPrefix(g uint64) []byte { return groupKey('r', g, "/data/", 0) }

// DataSpan is [start, end) of group g's data keys.
func DataSpan(g uint64) (start, end []byte) {
	return groupKey('r', g, "/data/", 0), groupKey('r', g, "/data0", 0)
}
