// Package keyspace maps keys to partitions (DESIGN.md, Words). It is a
// leaf: the server (internal/cluster) and the public client both use it, and
// it imports nothing of the server, so the client does not pull in the
// storage engine.
package keyspace
