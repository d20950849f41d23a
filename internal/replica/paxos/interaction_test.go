package paxos

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestInteraction runs the scripted interaction tests in
// testdata/interaction, as the Raft engine's do: each script drives a few
// cores over in-memory stores and a queued network step by step
// (interaction_env_test.go), the harness checking safety after every
// round, and its expected output shows what happened. Regenerate with
//
//	go test ./internal/replica/paxos -run TestInteraction -rewrite
//
// and read it: the output must show correct Paxos, not only the
// behaviour of the day.
//
// Commands (node nI is replica I; the group starts with every promise
// 0.0.0, commit 10 and the log truncated at 10):
//
//	create [voters=N] [learners=M] [seed=S]   N voters n1..nN, then M learners
//	add-node nI...              an empty node for a replica added later
//	campaign nI [hold]          Core.Campaign: a forced candidacy (no pre-prepare)
//	timeout nI                  tick nI alone until it leaves follower (pre-prepare)
//	tick [nI...] [n=K]          K ticks of the nodes (default all), rounds after each
//	process [nI...]             rounds only, nothing delivered
//	stabilize [nI...]           deliver in order, rounds after each, until no
//	                            message among the named nodes (default all) is left
//	msgs                        what is on the wire
//	deliver|drop [from=nI] [to=nJ] [type=Accept] [slot=K] [count=K] [hold]
//	                            deliver (then rounds everywhere) or lose matching messages
//	partition nI...             cut the named nodes from the rest; heal restores all
//	crash nI...                 power off between rounds: keep what was synced
//	crash-in-fsync nI           one round: early messages leave, the batch is lost
//	restart nI...               reopen the core on what the store kept
//	propose nI v... [hold]      proposals at nI
//	read nI ctx=C               ReadIndex at nI
//	transfer nI to=nJ           leadership transfer
//	truncate nI [to=K]          truncate nI's log (default: to its applied index)
//	change nI [add-learner=nJ] [add-voter=nJ] [remove=(nJ,...)]
//	status [nI...]              role, ballot, promise, commit, applied, log bounds, config
//	log [nI...]                 each node's slots in memory: value@ballot, chosen flagged
//
// hold: run no round after the command (for crash-in-fsync). slot=K (deliver,
// drop): only messages carrying slot K.
//
// Output: "a->b Type ..." is a message delivered (or lost, and why);
// "persists" is a round's durable write, made before its late messages
// (Promise, Accepted) leave; "applies" is what the state machine applied.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		e := newIEnv(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			e.t = t
			return e.handle(t, d)
		})
	})
}
