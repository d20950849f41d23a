// Package testcluster is the one in-process cluster harness of the tests:
// servers on loopback started by the test's own start function (its
// Config), stopped, restarted on their address and data directory, joined
// by new servers, and stopped when the test ends. It is generic over the
// server and does not import internal/node, so node's own tests can use
// it as well as the client's and the CLI's. (It lives apart from testkit,
// which every package's tests may import, because it imports
// internal/cluster.)
package testcluster
