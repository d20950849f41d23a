package paxos

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
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
	return simulateMembers(t, seed, voters, 0)
}

// simulateMembers is simulate with learners and membership changes
// (runSeedMembers).
func simulateMembers(t *testing.T, seed uint64, voters, learners int) (msg string) {
	tb := &catchTB{TB: t}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(caught); !ok {
				panic(r)
			}
			msg = tb.msg
		}
	}()
	runSeedMembers(tb, seed, voters, learners, 1500)
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

// scriptTB runs an interaction script with a deliberately broken mode:
// it records the first output that differs from the script's and goes
// on, and stops at the first failure of the harness itself (a SAFETY
// violation, a read answered too early, a command that cannot run).
type scriptTB struct {
	testing.TB
	mismatch string // the first output differing from the script's
	failure  string // the first failure of the harness
}

func (s *scriptTB) Helper()                   {}
func (s *scriptTB) Log(...any)                {}
func (s *scriptTB) Logf(string, ...any)       {}
func (s *scriptTB) Failed() bool              { return s.failure != "" }
func (s *scriptTB) FailNow()                  { s.fail("FailNow") }
func (s *scriptTB) Fatal(args ...any)         { s.fail(fmt.Sprint(args...)) }
func (s *scriptTB) Fatalf(f string, a ...any) { s.fail(fmt.Sprintf(f, a...)) }
func (s *scriptTB) Errorf(f string, a ...any) { s.fail(fmt.Sprintf(f, a...)) }

func (s *scriptTB) fail(msg string) {
	// datadriven's two forms of "the output differs".
	if strings.Contains(msg, "output didn't match expected") || strings.Contains(msg, "\nexpected:\n") {
		if s.mismatch == "" {
			s.mismatch = msg
		}
		return
	}
	if s.failure == "" {
		s.failure = msg
	}
	panic(caught{})
}

// runScript runs the interaction script at path (never rewriting it).
func runScript(t *testing.T, path string) (s *scriptTB) {
	s = &scriptTB{TB: t}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(caught); !ok {
				panic(r)
			}
		}
	}()
	e := newIEnv(s)
	datadriven.RunTestAny(s, path, func(_ testing.TB, d *datadriven.TestData) string {
		return e.handle(s, d)
	})
	return s
}

// TestBrokenScripts: each deliberately broken mode makes its interaction
// script fail as it should — the harness's safety checker firing where
// the break makes two values chosen in one slot, or the output changing
// where the break is a liveness bug — and the same script passes
// without the break.
func TestBrokenScripts(t *testing.T) {
	if f := flag.Lookup("rewrite"); f != nil && f.Value.String() == "true" {
		t.Skip("-rewrite: the scripts are being rewritten")
	}
	for _, tc := range []struct {
		name   string
		set    *bool
		script string
		// failure: the harness must fail with this; else mismatch: the
		// output must differ, the first difference showing this.
		failure, mismatch string
	}{
		{"accept without raising the promise", &broken.acceptNoRaise, "duelling_proposers", "SAFETY", ""},
		{"count a stale phase-1 answer", &broken.staleP1, "stale_promise", "SAFETY", ""},
		{"no no-op fill", &broken.noNoopFill, "recovery_holes", "", "13:noop@0.2.2"},
		{"no-op in a slot reported chosen", &broken.noopInChosen, "chosen_truncated", "SAFETY", ""},
		{"delete the tail on accept", &broken.deleteTail, "accept_tail", "SAFETY", ""},
		{"snapshot drops votes above it", &broken.snapDropsVotes, "snapshot_votes", "SAFETY", ""},
		{"reads before recovery", &broken.earlyReads, "read_recovery", "read", ""},
		{"a stop kept under a higher-ballot value", &broken.stopKept, "stop_leftover", "SAFETY", ""},
		{"judge an accept by the slot's ballot, not the promise", &broken.slotBallot, "slot_ballot", "SAFETY", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", "interaction", tc.script+".txt")
			if s := runScript(t, path); s.failure != "" || s.mismatch != "" {
				t.Fatalf("%s fails without the break:\n%s%s", tc.script, s.failure, s.mismatch)
			}
			*tc.set = true
			defer func() { *tc.set = false }()
			s := runScript(t, path)
			switch {
			case tc.failure != "":
				if !strings.Contains(s.failure, tc.failure) {
					t.Fatalf("%s: want a failure with %q, got %q (first output difference: %s)", tc.script, tc.failure, s.failure, s.mismatch)
				}
				t.Logf("caught by %s: %s", tc.script, s.failure)
			default:
				if s.failure != "" || !strings.Contains(s.mismatch, tc.mismatch) {
					t.Fatalf("%s: want the output to differ at %q, got failure %q, difference %s", tc.script, tc.mismatch, s.failure, s.mismatch)
				}
				t.Logf("caught by %s: %s", tc.script, s.mismatch)
			}
		})
	}
}

// TestBrokenSeeds pins, for the broken modes the simulation catches, a
// seed that fails with the break and passes without it. (Counting a
// stale phase-1 answer and accepting without raising the promise need a
// message held back across two elections; the simulation did not produce
// one in 200 seeds of 3 and 5 voters, and their scripts catch them.)
// A change to the core or the harness may move a pinned seed's history:
// find another failing seed and pin it, never drop the case.
func TestBrokenSeeds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		set    *bool
		seed   uint64
		voters int
		want   string
		// learners: run TestSimulationMembership's history (learners
		// and membership changes).
		learners int
	}{
		{"no no-op fill", &broken.noNoopFill, 98, 5, "LIVENESS", 0},
		{"no-op in a slot reported chosen", &broken.noopInChosen, 1, 3, "SAFETY", 0},
		{"delete the tail on accept", &broken.deleteTail, 3, 5, "SAFETY", 0},
		{"snapshot drops votes above it", &broken.snapDropsVotes, 34, 3, "SAFETY", 0},
		// A replica that had not learned the stop chosen proposed it again
		// under a ballot of the next epoch; the next epoch's leader put a
		// no-op above it. Another such replica, recovering, took the
		// stop's epoch from its ballot, found the no-op a higher ballot
		// of that epoch and made the chosen stop a no-op.
		{"a stop's epoch taken from its ballot", &broken.stopBallotEpoch, 1264, 5, "SAFETY", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := simulateMembers(t, tc.seed, tc.voters, tc.learners); msg != "" {
				t.Fatalf("seed %d, %d voters fails without the break: %s", tc.seed, tc.voters, msg)
			}
			*tc.set = true
			defer func() { *tc.set = false }()
			msg := simulateMembers(t, tc.seed, tc.voters, tc.learners)
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("seed %d, %d voters: want a failure with %q, got %q", tc.seed, tc.voters, tc.want, msg)
			}
			t.Logf("seed %d, %d voters: %.120s", tc.seed, tc.voters, msg)
		})
	}
}
