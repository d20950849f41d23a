// Package apitest is an in-process Backend for the front doors' unit tests:
// the real kv state machine on in-memory storage (kv/kvtest, so that no
// package under internal/api imports storage), one group per partition,
// applied in order under a lock — no replication. End-to-end
// tests run the doors against real nodes; this only isolates a door.
package apitest
