package primarybackup

import (
	"fmt"
	"strings"
	"testing"
)

// catchTB stops a history at its first failure, for a test that wants it
// to fail.
type catchTB struct {
	testing.TB
	msg string
}

type caught struct{}

func (c *catchTB) Helper()                   {}
func (c *catchTB) Log(...any)                {}
func (c *catchTB) Logf(string, ...any)       {}
func (c *catchTB) Failed() bool              { return c.msg != "" }
func (c *catchTB) Fatal(args ...any)         { c.msg = fmt.Sprint(args...); panic(caught{}) }
func (c *catchTB) Fatalf(f string, a ...any) { c.msg = fmt.Sprintf(f, a...); panic(caught{}) }
func (c *catchTB) Errorf(f string, a ...any) { c.msg = fmt.Sprintf(f, a...); panic(caught{}) }

// simulate runs one seeded history and returns its failure, if any.
func simulate(t *testing.T, seed uint64, n int) (msg string) {
	tb := &catchTB{TB: t}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(caught); !ok {
				panic(r)
			}
			msg = tb.msg
		}
	}()
	runRandom(tb, seed, n, 1500)
	return ""
}

// brokenModes are the deliberately broken modes and the failure each must
// give. Each is caught by a pinned seed here (TestBrokenSeeds) and, where
// a script shows it, by an interaction script (TestBrokenScripts).
var brokenModes = []struct {
	name string
	set  *bool
	want string
	// seed and n pin a history that catches it (the first TestBrokenModes
	// finds).
	seed uint64
	n    int
}{
	{"ack before every in-sync member has it", &broken.ackBeforeAll, "SAFETY", 0, 3},
	{"drop a backup from the in-sync set after acknowledging without it", &broken.dropAfterAck, "SAFETY", 0, 3},
	{"promote a backup not in the in-sync set", &broken.promoteOutside, "SAFETY", 0, 3},
	{"the old primary commits after a new epoch", &broken.oldCommits, "SAFETY", 13, 5},
	{"serve reads before taking office", &broken.earlyReads, "read", 0, 3},
	{"admit a backup to the in-sync set while acknowledging without it", &broken.admitWhileAck, "SAFETY", 12, 3},
}

// TestBrokenModes: each broken mode makes a seeded history fail within a
// bounded number of seeds, with the failure it should.
func TestBrokenModes(t *testing.T) {
	for _, tc := range brokenModes {
		t.Run(tc.name, func(t *testing.T) {
			*tc.set = true
			defer func() { *tc.set = false }()
			for seed := range uint64(200) {
				for _, n := range []int{3, 5} {
					if msg := simulate(t, seed, n); msg != "" {
						if !strings.Contains(msg, tc.want) {
							t.Fatalf("seed %d, %d replicas: failed, but with %q", seed, n, msg)
						}
						t.Logf("caught at seed %d, %d replicas: %s", seed, n, msg)
						return
					}
				}
			}
			t.Fatal("never caught")
		})
	}
}

// TestBrokenSeeds: each pinned history fails with its mode on, with the
// failure it should, and passes with it off, so the catch is the mode's.
func TestBrokenSeeds(t *testing.T) {
	for _, tc := range brokenModes {
		t.Run(tc.name, func(t *testing.T) {
			if msg := simulate(t, tc.seed, tc.n); msg != "" {
				t.Fatalf("seed %d, %d replicas, mode off: %s", tc.seed, tc.n, msg)
			}
			*tc.set = true
			defer func() { *tc.set = false }()
			msg := simulate(t, tc.seed, tc.n)
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("seed %d, %d replicas, mode on: got %q, want a failure with %q", tc.seed, tc.n, msg, tc.want)
			}
		})
	}
}
