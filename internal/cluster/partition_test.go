package cluster

import (
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestPartitionOf(t *testing.T) {
	for _, tc := range []struct {
		name, key, hashed string
	}{
		{"plain", "user:1000", "user:1000"},
		{"tag", "{user:1000}.following", "user:1000"},
		{"tag in the middle", "a{b}c", "b"},
		{"empty tag hashes the whole key", "a{}b", "a{}b"},
		{"first tag only", "{x}{y}", "x"},
		{"unclosed", "a{bc", "a{bc"},
		{"close before open", "a}b{c}", "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := int(xxhash.Sum64String(tc.hashed) % 64)
			if got := PartitionOf([]byte(tc.key), 64); got != want {
				t.Fatalf("PartitionOf(%q) = %d, want %d (hash of %q)", tc.key, got, want, tc.hashed)
			}
		})
	}
	if PartitionOf([]byte("{k}1"), 64) != PartitionOf([]byte("{k}2"), 64) {
		t.Fatal("keys with one hash tag landed in different partitions")
	}
}

// Engine records stay apart from the meta group's own records.
func TestEngineConfigKey(t *testing.T) {
	k := string(EngineConfigKey("pb/7"))
	if k != "engine/pb/7" {
		t.Fatalf("EngineConfigKey(pb/7) = %q", k)
	}
	for _, own := range []string{MetaKeyClusterID, MetaKeySettings, MetaKeyEpoch, MetaKeyMemberPrefix, MetaKeyNodePrefix} {
		if strings.HasPrefix(own, MetaKeyEnginePrefix) || strings.HasPrefix(MetaKeyEnginePrefix, own) {
			t.Fatalf("meta key %q overlaps the engine prefix %q", own, MetaKeyEnginePrefix)
		}
	}
}
