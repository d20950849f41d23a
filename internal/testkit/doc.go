// Package testkit holds the helpers that tests of many packages share, so
// each is written once: WaitFor, the one polling wait with a deadline that
// fails the test naming what it waited for. The in-process cluster harness is
// testkit/testcluster, apart so that this package imports nothing of
// Cairn's and any package's tests may use it.
package testkit
