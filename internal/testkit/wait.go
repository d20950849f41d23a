package testkit

import (
	"testing"
	"time"
)

// pollEvery is how often WaitFor asks again.
const pollEvery = 5 * time.Millisecond

// WaitFor polls cond until it holds, for at most d of real time, and fails
// t naming what it waited for when it never did.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(pollEvery)
	}
}
