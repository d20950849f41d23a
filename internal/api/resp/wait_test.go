package resp

import (
	"context"
	"testing"
	"time"
)

// WAIT through go-redis against the one-replica fake backend: no other
// replica ever holds a write, so WAIT 0 answers at once, WAIT 1 answers 0
// after its timeout, and a connection that wrote nothing gets R−1.
func TestWait(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	if n, err := e.rdb.Wait(ctx, 0, 0).Result(); err != nil || n != 0 {
		t.Fatalf("WAIT 0 0 before any write = %d, %v; want R-1 = 0", n, err)
	}
	if err := e.rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := e.rdb.Wait(ctx, 0, 0).Result(); err != nil || n != 0 {
		t.Fatalf("WAIT 0 0 = %d, %v", n, err)
	}
	start := time.Now()
	if n, err := e.rdb.Wait(ctx, 1, 100*time.Millisecond).Result(); err != nil || n != 0 {
		t.Fatalf("WAIT 1 100 = %d, %v; want 0 (no replica holds it)", n, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("WAIT 1 100 answered after %v, before its timeout", d)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"WAIT", "x", "0"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"WAIT", "1", "-5"}, "-ERR timeout is negative\r\n"},
		{[]string{"WAIT", "1"}, "-ERR wrong number of arguments for 'wait' command\r\n"},
	} {
		if got := e.raw(t, cmd(tc.args...), len(tc.want)); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.args, got, tc.want)
		}
	}
}
