// Package testkit holds the helpers that tests of many packages share, so
// each is written once: WaitFor, the one polling wait with a deadline that
// fails the test naming what it waited for.
package testkit
