package driver

import (
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
)

func TestVerdictOf(t *testing.T) {
	desc := replica.Descriptor{Group: 1, Replicas: []replica.Member{{ID: 1, Node: "a"}, {ID: 2, Node: "b"}, {ID: 3, Node: "c"},
		{ID: 4, Node: "d", Role: replica.RoleLearner}}, Voters: []replica.ReplicaID{1, 2, 3}, Learners: []replica.ReplicaID{4}}
	x, y, z := [32]byte{1}, [32]byte{2}, [32]byte{3}
	rep := func(from replica.ReplicaID, sum [32]byte) checkReport {
		return checkReport{from: from, index: 9, applied: 9, sum: sum}
	}
	tests := []struct {
		name    string
		reports []checkReport
		want    replica.Verdict
		differ  []replica.ReplicaID
	}{
		{"all agree", []checkReport{rep(1, x), rep(2, x), rep(3, x)}, replica.VerdictAgree, nil},
		{"learner agrees too", []checkReport{rep(1, x), rep(2, x), rep(3, x), rep(4, x)}, replica.VerdictAgree, nil},
		{"one voter differs", []checkReport{rep(1, x), rep(2, y), rep(3, x)}, replica.VerdictMismatch, []replica.ReplicaID{2}},
		{"the learner differs", []checkReport{rep(1, x), rep(2, x), rep(3, x), rep(4, y)}, replica.VerdictMismatch, []replica.ReplicaID{4}},
		{"majority, one missing, one differs", []checkReport{rep(1, x), rep(3, x), rep(4, z)}, replica.VerdictMismatch, []replica.ReplicaID{4}},
		{"all different", []checkReport{rep(1, x), rep(2, y), rep(3, z)}, replica.VerdictNoMajority, nil},
		{"two differ, one missing", []checkReport{rep(1, x), rep(2, y)}, replica.VerdictNoMajority, nil},
		{"majority agrees, one missing", []checkReport{rep(1, x), rep(2, x)}, replica.VerdictIncomplete, nil},
		{"one report", []checkReport{rep(1, x)}, replica.VerdictIncomplete, nil},
		{"none", nil, replica.VerdictIncomplete, nil},
		{"an error is no digest", []checkReport{rep(1, x), rep(2, x), {from: 3, index: 9, err: "disk"}}, replica.VerdictIncomplete, nil},
		{"same sum, other index", []checkReport{rep(1, x), rep(2, x), {from: 3, index: 9, applied: 8, sum: x}}, replica.VerdictMismatch, []replica.ReplicaID{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reports := map[replica.ReplicaID]checkReport{}
			for _, r := range tt.reports {
				reports[r.from] = r
			}
			got := verdictOf(1, 9, desc, reports)
			var differ []replica.ReplicaID
			for _, r := range got.Replicas {
				if r.Differs {
					differ = append(differ, r.Replica)
				}
			}
			if got.Verdict != tt.want || len(got.Replicas) != 4 || !slices.Equal(differ, tt.differ) {
				t.Fatalf("verdict %v, differ %v; want %v, %v", got.Verdict, differ, tt.want, tt.differ)
			}
		})
	}
}

func TestDriverMessages(t *testing.T) {
	r := checkReport{from: 2, index: 9, applied: 9, sum: [32]byte{7, 8}}
	got, _, err := decodeDriverMsg(2, encodeReport(r))
	if err != nil || *got != r {
		t.Fatalf("report round trip: %+v, %v", got, err)
	}
	r = checkReport{from: 2, index: 9, err: "disk on fire"}
	if got, _, err = decodeDriverMsg(2, encodeReport(r)); err != nil || *got != r {
		t.Fatalf("error report round trip: %+v, %v", got, err)
	}
	v := checkVerdict{index: 9, verdict: replica.VerdictMismatch, differs: true}
	if _, gotV, err := decodeDriverMsg(1, encodeVerdict(v)); err != nil || *gotV != v {
		t.Fatalf("verdict round trip: %+v, %v", gotV, err)
	}
	d, nm, err := decodeAlarm(encodeAlarm(300, 7))
	if err != nil || d != 300 || nm != 7 {
		t.Fatalf("alarm round trip: %d %d %v", d, nm, err)
	}
	for _, bad := range [][]byte{nil, {9}, {msgReport, 1}, {msgVerdict, 0, 0, 0, 0, 0, 0, 0, 1, 9, 0}} {
		if _, _, err := decodeDriverMsg(1, bad); err == nil {
			t.Fatalf("%v decoded", bad)
		}
	}
}

func FuzzDecodeDriverMsg(f *testing.F) {
	f.Add(encodeReport(checkReport{index: 9, applied: 9, sum: [32]byte{1}}))
	f.Add(encodeReport(checkReport{index: 9, err: "x"}))
	f.Add(encodeVerdict(checkVerdict{index: 9, verdict: replica.VerdictNoMajority}))
	f.Fuzz(func(t *testing.T, b []byte) { _, _, _ = decodeDriverMsg(1, b) })
}

func FuzzDecodeAlarm(f *testing.F) {
	f.Add(encodeAlarm(1, 0))
	f.Fuzz(func(t *testing.T, b []byte) { _, _, _ = decodeAlarm(b) })
}
