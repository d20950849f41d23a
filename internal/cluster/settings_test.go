package cluster

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultSettings(t *testing.T) {
	for _, tc := range []struct {
		founders, replicas int
	}{{1, 1}, {2, 2}, {3, 3}, {5, 3}, {0, 1}} {
		s := DefaultSettings(tc.founders)
		want := Settings{Partitions: 64, Replicas: tc.replicas, Engine: "raft", Hash: "xxhash64", VNodes: 128, LoadFactor: 1.25}
		if s != want {
			t.Errorf("DefaultSettings(%d) = %+v, want %+v", tc.founders, s, want)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mod      func(*Settings)
		founders int
		want     []string // substrings; none means valid
		is       error
	}{
		{name: "defaults", mod: func(*Settings) {}, founders: 3},
		{name: "partitions zero", mod: func(s *Settings) { s.Partitions = -1 }, founders: 3, want: []string{"--partitions -1"}, is: ErrInvalidSettings},
		{name: "partitions too many", mod: func(s *Settings) { s.Partitions = MaxPartitions + 1 }, founders: 3, want: []string{"--partitions 16385"}, is: ErrInvalidSettings},
		{name: "replicas above founders", mod: func(s *Settings) { s.Replicas = 3 }, founders: 2,
			want: []string{"--replicas 3", "2 founding members"}, is: ErrInvalidSettings},
		{name: "replicas too many", mod: func(s *Settings) { s.Replicas = 9 }, founders: 9, want: []string{"--replicas 9: must be 1 to 7"}, is: ErrInvalidSettings},
		{name: "engine paxos", mod: func(s *Settings) { s.Engine = "paxos" }, founders: 3},
		{name: "engine primary-backup", mod: func(s *Settings) { *s = Settings{Engine: "primary-backup"}.WithDefaults(3) }, founders: 3},
		{name: "pb async", mod: func(s *Settings) { *s = Settings{Engine: "primary-backup", PBMode: "async"}.WithDefaults(3) }, founders: 3},
		{name: "pb mode unknown", mod: func(s *Settings) { *s = Settings{Engine: "primary-backup", PBMode: "semi"}.WithDefaults(3) }, founders: 3,
			want: []string{`--pb-mode "semi": must be sync or async`}, is: ErrInvalidSettings},
		{name: "pb min in sync above R", mod: func(s *Settings) { *s = Settings{Engine: "primary-backup", PBMinInSync: 4}.WithDefaults(3) }, founders: 3,
			want: []string{"--pb-min-in-sync 4: must be 1 to --replicas (3)"}, is: ErrInvalidSettings},
		{name: "pb min in sync negative", mod: func(s *Settings) { *s = Settings{Engine: "primary-backup", PBMinInSync: -1}.WithDefaults(3) }, founders: 3,
			want: []string{"--pb-min-in-sync -1"}, is: ErrInvalidSettings},
		{name: "pb lease short", mod: func(s *Settings) { *s = Settings{Engine: "primary-backup", PBLease: time.Second}.WithDefaults(3) }, founders: 3,
			want: []string{"--pb-lease 1s: must be at least 2s"}, is: ErrInvalidSettings},
		{name: "pb max lag short", mod: func(s *Settings) { *s = Settings{Engine: "primary-backup", PBMaxLag: time.Millisecond}.WithDefaults(3) }, founders: 3,
			want: []string{"--pb-max-lag 1ms: must be at least 1s"}, is: ErrInvalidSettings},
		{name: "pb setting under paxos", mod: func(s *Settings) { s.Engine, s.PBMinInSync, s.PBLease = "paxos", 1, time.Minute }, founders: 3,
			want: []string{"--pb-min-in-sync applies only to --engine primary-backup, not paxos", "--pb-lease applies only"}, is: ErrInvalidSettings},
		{name: "engine unknown", mod: func(s *Settings) { s.Engine = "zab" }, founders: 3, want: []string{`--engine "zab"`}, is: ErrInvalidSettings},
		{name: "hash", mod: func(s *Settings) { s.Hash = "md5" }, founders: 3, want: []string{`hash "md5"`}, is: ErrInvalidSettings},
		{name: "vnodes", mod: func(s *Settings) { s.VNodes = -3 }, founders: 3, want: []string{"--vnodes -3"}, is: ErrInvalidSettings},
		{name: "load factor below 1", mod: func(s *Settings) { s.LoadFactor = 0.5 }, founders: 3, want: []string{"--load-factor 0.5"}, is: ErrInvalidSettings},
		{name: "load factor NaN", mod: func(s *Settings) { s.LoadFactor = math.NaN() }, founders: 3, want: []string{"--load-factor NaN"}, is: ErrInvalidSettings},
		{name: "several at once", mod: func(s *Settings) { s.Partitions, s.Engine = -1, "zab" }, founders: 3,
			want: []string{"--partitions", `--engine "zab"`}, is: ErrInvalidSettings},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings(tc.founders)
			tc.mod(&s)
			err := s.Validate(tc.founders)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) succeeded, want %q", s, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
}

func TestPBSettingsDefaults(t *testing.T) {
	for _, tc := range []struct {
		founders, minInSync int
	}{{1, 1}, {2, 2}, {5, 2}} {
		s := Settings{Engine: EnginePrimaryBackup}.WithDefaults(tc.founders)
		want := Settings{Partitions: 64, Replicas: min(3, tc.founders), Engine: EnginePrimaryBackup, Hash: "xxhash64", VNodes: 128, LoadFactor: 1.25,
			PBMode: "sync", PBMinInSync: tc.minInSync, PBMaxLag: 10 * time.Second, PBLease: 3 * time.Second}
		if s != want {
			t.Errorf("%d founders: %+v, want %+v", tc.founders, s, want)
		}
		if err := s.Validate(tc.founders); err != nil {
			t.Errorf("%d founders: %v", tc.founders, err)
		}
		if got := s.String(); !strings.Contains(got, "engine=primary-backup") || !strings.HasSuffix(got, " pb_mode=sync pb_min_in_sync="+
			map[int]string{1: "1", 2: "2"}[tc.minInSync]+" pb_max_lag=10s pb_lease=3s") {
			t.Errorf("String() = %q", got)
		}
	}
	// Another engine's settings, and their text, carry nothing of them.
	if s := DefaultSettings(3); strings.Contains(s.String(), "pb_") || s.PBMode != "" {
		t.Errorf("raft settings %+v: %q", s, s.String())
	}
}
