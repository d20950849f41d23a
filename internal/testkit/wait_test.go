package testkit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fatalT records a Fatalf instead of ending the test.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}
func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestWaitForReturnsOnceTrue(t *testing.T) {
	n := 0
	WaitFor(t, time.Second, "the third call", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestWaitForFailsNamingWhat(t *testing.T) {
	f := &fatalT{TB: t}
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("recovered %v, want the test's Fatalf", r)
			}
		}()
		WaitFor(f, 20*time.Millisecond, "never", func() bool { return false })
	}()
	if !strings.Contains(f.msg, "waiting for never") {
		t.Fatalf("Fatalf format %q does not name what was waited for", f.msg)
	}
}
