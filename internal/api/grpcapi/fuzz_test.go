package grpcapi

import (
	"bytes"
	"testing"
)

// FuzzDecodeCursor: the scan cursor comes from the network; decoding never
// panics, and what decodes re-encodes to a cursor that decodes the same.
func FuzzDecodeCursor(f *testing.F) {
	f.Add("")
	f.Add(encodeCursor(cursor{Partition: 3, Key: []byte("user/42")}))
	f.Add(encodeCursor(cursor{Partition: 1 << 20, Key: nil}))
	f.Add("AYCAgICAgICAgIAB")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		if c.Partition < 0 || c.Partition >= maxCursorPartition {
			t.Fatalf("partition %d out of range", c.Partition)
		}
		again, err := decodeCursor(encodeCursor(c))
		if err != nil || again.Partition != c.Partition || !bytes.Equal(again.Key, c.Key) {
			t.Fatalf("re-encoding %q: %v %v, want %v", s, again, err, c)
		}
	})
}
