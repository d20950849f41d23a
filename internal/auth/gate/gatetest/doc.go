// Package gatetest is an in-memory meta group for the tests of what reads
// and writes users and join tokens through gate.Meta: kvtest's state
// machine, one command per entry, applied at once.
package gatetest
