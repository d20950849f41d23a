// Package testkit holds the helpers that tests of many packages share, so
// each is written once: WaitFor, the one polling wait with a deadline that
// fails the test naming what it waited for, and Cluster, the one
// in-process cluster harness (servers on loopback, started by the test's
// own start function, stopped, restarted on their address and data, and
// cleaned up with the test).
package testkit
