package cluster

import (
	"encoding/json"
	"testing"
)

// The decoders of what this package reads back from disk, and the parser of
// what users type, must refuse garbage with an error, never panic.

func FuzzParseInitialCluster(f *testing.F) {
	for _, s := range []string{"n1=127.0.0.1:7379", "n1=h:1,n2=h:2", "n1=[::1]:1", "=,", "a=b=c:1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseInitialCluster(s)
		if err != nil {
			return
		}
		again, err := ParseInitialCluster(FormatInitialCluster(ms))
		if err != nil || len(again) != len(ms) {
			t.Fatalf("%q parsed to %v, which does not parse back: %v", s, ms, err)
		}
		if ClusterID(ms, "t") != ClusterID(again, "t") {
			t.Fatalf("%q: cluster ID changed through a round trip", s)
		}
	})
}

func FuzzDecodeRecords(f *testing.F) {
	id := &Identity{Name: "n1", Incarnation: 1 << 60, ClusterID: ClusterID(three, "tok"), Settings: DefaultSettings(3), Founders: three}
	ir, _ := json.Marshal(identityRecord{Version: 1, Name: id.Name, Incarnation: id.Incarnation})
	cr, _ := json.Marshal(clusterRecord{Version: 1, ClusterID: id.ClusterID, Settings: id.Settings, Founders: id.Founders})
	sr, _ := json.Marshal(settingsRecord{Version: 1, Settings: id.Settings})
	mr, _ := json.Marshal(memberRecord{Version: 1, Member: three[0]})
	for _, b := range [][]byte{ir, cr, sr, mr, []byte("{}"), []byte("null"), []byte(`{"version":1} {}`)} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeIdentity(b); err == nil && (r.Incarnation == 0 || ValidName(r.Name) != nil) {
			t.Fatalf("decodeIdentity accepted %+v", r)
		}
		if r, err := decodeCluster(b); err == nil {
			if r.ClusterID.IsZero() || r.Settings.Validate(len(r.Founders)) != nil {
				t.Fatalf("decodeCluster accepted %+v", r)
			}
		}
		_, _ = decodeSettingsRecord(b)
		if m, err := decodeMemberRecord(b); err == nil && ValidName(m.Name) != nil {
			t.Fatalf("decodeMemberRecord accepted %+v", m)
		}
		_, _ = ParseID(string(b))
	})
}
