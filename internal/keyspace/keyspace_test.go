package keyspace

import "testing"

func TestPartitionOfHashTags(t *testing.T) {
	const p = 1 << 20
	same := [][2]string{
		{"{user1}.name", "{user1}.email"},
		{"{user1}", "user1"},
		{"a{b}c", "x{b}y"},
		{"a{b}{c}", "z{b}"}, // only the first tag counts
	}
	for _, s := range same {
		if PartitionOf([]byte(s[0]), p) != PartitionOf([]byte(s[1]), p) {
			t.Errorf("%q and %q map to different partitions", s[0], s[1])
		}
	}
	// An empty tag or no closing brace hashes the whole key.
	for _, k := range []string{"{}x", "{x"} {
		if PartitionOf([]byte(k), p) != PartitionOf([]byte(k), p) || PartitionOf([]byte(k), p) == PartitionOf([]byte("x"), p) {
			t.Errorf("%q: hashed as a tag", k)
		}
	}
	for _, k := range []string{"", "a", "{a}b"} {
		if got := PartitionOf([]byte(k), 7); got < 0 || got >= 7 {
			t.Errorf("PartitionOf(%q, 7) = %d", k, got)
		}
	}
}
