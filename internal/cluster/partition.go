package cluster

import "github.com/cairnkv/cairn/internal/keyspace"

// PartitionOf is the partition of key among p (keyspace.PartitionOf).
func PartitionOf(key []byte, p int) int { return keyspace.PartitionOf(key, p) }
