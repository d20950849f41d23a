package paxos

import (
	"fmt"
	"strings"
	"testing"
)

// catchTB stops a simulation at its first failure, for a test that wants
// the simulation to fail.
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

// simulate runs one seed and returns its failure, if any.
func simulate(t *testing.T, seed uint64, voters int) (msg string) {
	tb := &catchTB{TB: t}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(caught); !ok {
				panic(r)
			}
			msg = tb.msg
		}
	}()
	runSeedTB(tb, seed, voters, 1500)
	return ""
}

// TestBrokenModes: each deliberately broken mode makes the simulation
// fail within a bounded number of seeds, with the failure it should: the
// simulation is able to catch these bugs.
func TestBrokenModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  *bool
		want string
	}{
		{"ack before fsync", &broken.ackBeforeFsync, "SAFETY"},
		{"phase 1 omits chosen slots", &broken.omitChosen, "SAFETY"},
		{"reads before recovery", &broken.earlyReads, "read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*tc.set = true
			defer func() { *tc.set = false }()
			for seed := range uint64(300) {
				for _, voters := range []int{3, 5} {
					if msg := simulate(t, seed, voters); msg != "" {
						if !strings.Contains(msg, tc.want) {
							t.Fatalf("seed %d, %d voters: failed, but with %q", seed, voters, msg)
						}
						t.Logf("caught at seed %d, %d voters: %s", seed, voters, msg)
						return
					}
				}
			}
			t.Fatal("the simulation never caught it")
		})
	}
}
