package sim

import (
	"testing"
	"time"
)

// Consistency checks under every fault the simulation has (crashes, power
// cuts inside an fsync, partitions, snapshots, membership changes): the
// replicas' digests, each taken at exactly its check's index, always
// agree, since nothing corrupts a replica here. A digest taken a little
// before or after its index would differ from its peers' whenever writes
// run around a check, and fail the run (KindConsistencyAlarm).
func TestSimulationConsistencyChecks(t *testing.T) {
	for _, eng := range []string{"raft", "primary-backup"} {
		t.Run(eng, func(t *testing.T) {
			var total Stats
			for seed := uint64(1); seed <= 6; seed++ {
				res := runSeed(t, Config{Seed: seed, Engine: eng, ConsistencyCheckInterval: 500 * time.Millisecond})
				if res.Violation != nil {
					t.Fatalf("%s\nreplay: go test ./internal/replica/sim -run TestSimulationConsistencyChecks/%s (seed %d)", res.Report(), eng, seed)
				}
				total.add(res.Stats)
			}
			if total.ConsistencyChecks < 50 {
				t.Fatalf("%d consistency checks judged in 6 runs; want many: %+v", total.ConsistencyChecks, total)
			}
			t.Logf("%+v", total)
		})
	}
}
