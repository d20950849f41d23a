package cluster

import "github.com/cairnkv/cairn/internal/keyspace"

// PartitionOf is the partition of key among p (keyspace.PartitionOf).
func PartitionOf(key []byte, p int) int { return keyspace.PartitionOf(key, p) }

// GroupOf is the replicated group of partition p: group 0 is the meta group.
func GroupOf(p int) uint64 { return uint64(p) + 1 }
