package apitest

import (
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
)

// WaitFor waits up to 5 s for cond (testkit.WaitFor), and fails t naming
// what it waited for.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, 5*time.Second, what, cond)
}

// Counter is the value of the counter name in reg (its first series; 0
// when it has none yet).
func Counter(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
