package cluster

import (
	"strings"
	"testing"
)

func TestCheckOwnEntry(t *testing.T) {
	founders := []Member{{Name: "a", Addr: "a:1", Capacity: 2, Zone: "z1"}, {Name: "b", Addr: "b:1"}}
	for _, c := range []struct {
		name     string
		capacity float64
		zone     string
		want     string
	}{
		{"a", 0, "", ""},
		{"a", 2, "z1", ""},
		{"a", 1, "", "--capacity 1 differs"},
		{"a", 0, "z2", `--zone "z2" differs`},
		{"b", 1, "", ""},
		{"c", 5, "z9", ""}, // not a founder
	} {
		err := CheckOwnEntry(c.name, c.capacity, c.zone, founders)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Fatalf("%+v: %v, want %q", c, err, c.want)
		}
	}
}
