package main

import (
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/node"
)

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1073741824", 1 << 30, true},
		{"2GiB", 2 << 30, true},
		{"512MiB", 512 << 20, true},
		{"64KiB", 64 << 10, true},
		{"3GB", 3e9, true},
		{"10B", 10, true},
		{"", 0, false},
		{"GiB", 0, false},
		{"1.5GiB", 0, false},
		{"2 lots", 0, false},
		{"9000000000TiB", 0, false},
	} {
		got, err := parseBytes(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestRuntimeFlagsRefuseNonsense(t *testing.T) {
	for _, args := range [][]string{{"--gogc", "0"}, {"--memory-limit", "lots"}, {"--memory-limit", "0"}} {
		cmd := serverCmd()
		if err := cmd.Flags().Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := applyRuntimeFlags(cmd.Flags()); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// --consistency-check-interval defaults to a minute; 0 (or less) turns the
// periodic checks off, which node.Config spells as negative.
func TestServerConsistencyCheckInterval(t *testing.T) {
	for _, c := range []struct {
		args []string
		want time.Duration
	}{
		{nil, node.DefaultConsistencyCheckInterval},
		{[]string{"--consistency-check-interval", "30s"}, 30 * time.Second},
		{[]string{"--consistency-check-interval", "0"}, -1},
		{[]string{"--consistency-check-interval", "-5s"}, -1},
	} {
		cmd := serverCmd()
		if err := cmd.Flags().Parse(append([]string{"--name", "n1"}, c.args...)); err != nil {
			t.Fatal(err)
		}
		cfg, err := serverConfig(cmd, map[string]bool{})
		if err != nil || cfg.ConsistencyCheckInterval != c.want {
			t.Errorf("%v: %v, %v; want %v", c.args, cfg.ConsistencyCheckInterval, err, c.want)
		}
	}
}

// --min-free-disk takes a size as --memory-limit does (and plain bytes, as
// before); 0 is no floor, which node.Config spells as 1.
func TestServerMinFreeDisk(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want uint64
		ok   bool
	}{
		{"", 256 << 20, true},
		{"1MiB", 1 << 20, true},
		{"268435456", 256 << 20, true},
		{"0", 1, true},
		{"lots", 0, false},
		{"-5", 0, false},
	} {
		cmd := serverCmd()
		args := []string{"--name", "n1"}
		if c.arg != "" {
			args = append(args, "--min-free-disk", c.arg)
		}
		if err := cmd.Flags().Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := serverConfig(cmd, map[string]bool{})
		if (err == nil) != c.ok || (c.ok && cfg.MinFreeDisk != c.want) {
			t.Errorf("--min-free-disk %q: %d, %v; want %d, ok=%v", c.arg, cfg.MinFreeDisk, err, c.want, c.ok)
		}
	}
}
