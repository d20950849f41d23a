package admincli

import (
	"strings"
	"testing"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

func TestWriteEngineSection(t *testing.T) {
	parts := []*pb.PartitionInfo{
		{Partition: 0, Term: 3, Leader: "n2", Replicas: []string{"n1", "n2", "n3"}, ReplicaIds: []uint64{1, 2, 3},
			Local: &pb.LocalReplica{Role: "leader",
				EngineJson: `{"name":"primary-backup","epoch":3,"primary":2,"in_sync":[2,1],"mode":"async",` +
					`"backups":[{"replica":1,"match":9,"lag_entries":0,"lag_bytes":0,"in_sync":true},{"replica":3,"match":4,"lag_entries":5,"lag_bytes":120,"in_sync":false}],` +
					`"loss_window":{"entries":2,"bytes":40,"behind":1}}`,
				Progress: []*pb.PeerProgress{{Replica: 1, Node: "n1"}, {Replica: 3, Node: "n3", LagSeconds: 1.25}}}},
		{Partition: 1, Term: 1, Leader: "n1"},
	}
	var b strings.Builder
	writeEngineSection(&b, parts)
	out := b.String()
	for _, want := range []string{
		"PARTITION", "LOSS-WINDOW",
		"0          3      n2       n2,n1    n1 0/0/0.0s, n3 5/120/1.2s (not in sync)  2 entries, 40 bytes",
		"1          1      n1       -        (no primary answered)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
}
