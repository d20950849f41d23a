package primarybackup

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestInteraction runs the scripted interaction tests in
// testdata/interaction: each drives a few cores over in-memory stores, a
// queued network and a MemConfigStore step by step
// (interaction_env_test.go), the harness checking safety after every
// round; the expected output shows what happened. Regenerate with
//
//	go test ./internal/replica/primarybackup -run TestInteraction -rewrite
//
// and read it: the output must show correct primary-backup, not only the
// behaviour of the day.
//
// Commands (node nI is replica I; the group starts at epoch 1 with n1
// primary, every replica in sync, commit 10 and the log truncated at 10,
// and no record in the store yet):
//
//	create [n=N] [min-in-sync=K] [seed=S]
//	tick [nI...] [n=K] [settle]  K ticks of the nodes (default all), rounds after each;
//	                         settle: and a stabilize, its messages not printed;
//	                         until-new-primary: stop once a primary of a newer epoch is up;
//	                         until-applied=nI:K: stop once nI applied K
//	stabilize                deliver in order and let the store answer, rounds after each, until quiet
//	partition nI... [keep-meta]  cut the named nodes from the rest and (unless keep-meta)
//	                         from the meta group; heal restores all links
//	crash nI... / restart nI...
//	meta down|up             the meta group without a leader (every store call not applied), or with one
//	propose nI v...          proposals at nI
//	read nI ctx=C            ReadIndex at nI
//	status [nI...] / log [nI...] / record
//	broken mode=M [off]      a deliberately broken mode (broken_test.go)
//
// Output: "a->b Type eE ..." is a message delivered (or lost); "persists"
// is a round's durable write, made before its late messages (AppendResp)
// leave; "applies" is what the state machine applied; "store CAS/Get" is a
// call to the configuration store, "store->nI" its answer.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		e := &ienv{t: t}
		defer func() {
			// A script may leave a broken mode on; the next must not see it.
			broken.ackBeforeAll, broken.dropAfterAck, broken.promoteOutside = false, false, false
			broken.oldCommits, broken.earlyReads, broken.admitWhileAck = false, false, false
		}()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			e.t = t
			return e.handle(t, d)
		})
	})
}
