package runner

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigEngines(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" valid; else a substring of the error
	}{
		{name: "raft", cfg: Config{Engine: "raft"}},
		{name: "pb sync register", cfg: Config{Engine: "primary-backup"}},
		{name: "pb async set", cfg: Config{Engine: "primary-backup", PBMode: "async", Workload: WorkloadSet}},
		{name: "pb async register", cfg: Config{Engine: "primary-backup", PBMode: "async"},
			want: "--workload register with --pb-mode async"},
		{name: "pb async ttl", cfg: Config{Engine: "primary-backup", PBMode: "async", Workload: WorkloadTTL}, want: "use --workload set"},
		{name: "pb async short lag", cfg: Config{Engine: "primary-backup", PBMode: "async", Workload: WorkloadSet, PBMaxLag: time.Millisecond},
			want: "--pb-max-lag 1ms"},
		{name: "pb mode unknown", cfg: Config{Engine: "primary-backup", PBMode: "semi"}, want: `--pb-mode "semi"`},
		{name: "pb mode under raft", cfg: Config{Engine: "raft", PBMode: "sync"}, want: "only with --engine primary-backup"},
		{name: "unknown engine", cfg: Config{Engine: "zab"}, want: "want raft, paxos or primary-backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.setDefaults()
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate: %v, want ErrConfig containing %q", err, tc.want)
			}
		})
	}
	c := Config{Engine: "primary-backup", PBMode: "async", Workload: WorkloadSet}
	c.setDefaults()
	if c.PBMaxLag != 10*time.Second {
		t.Fatalf("async --pb-max-lag default %v, want 10s", c.PBMaxLag)
	}
	if r := replay(c); !strings.Contains(r, "--engine primary-backup --pb-mode async --pb-max-lag 10s") {
		t.Fatalf("replay %q", r)
	}
}
