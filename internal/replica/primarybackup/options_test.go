package primarybackup

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
)

func TestOptionsOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  replica.HostConfig
		want Options
		err  string
	}{
		{name: "defaults", cfg: replica.HostConfig{}, want: Options{}},
		{name: "server settings", cfg: replica.HostConfig{PrimaryBackup: replica.PrimaryBackupOptions{
			Async: true, MinInSync: 2, MaxLag: 10 * time.Second, Lease: 3 * time.Second}},
			want: Options{Mode: ModeAsync, MinInSync: 2, MaxLagTicks: 100, LeaseTicks: 30}},
		{name: "rounded up to ticks", cfg: replica.HostConfig{TickInterval: 50 * time.Millisecond, PrimaryBackup: replica.PrimaryBackupOptions{
			MaxLag: 1001 * time.Millisecond, Lease: 2 * time.Second}},
			want: Options{MaxLagTicks: 21, LeaseTicks: 40}},
		{name: "lease within an election timeout", cfg: replica.HostConfig{PrimaryBackup: replica.PrimaryBackupOptions{Lease: time.Second}},
			err: "--pb-lease 1s must exceed the election timeout (1s)"},
		{name: "negative min in sync", cfg: replica.HostConfig{PrimaryBackup: replica.PrimaryBackupOptions{MinInSync: -1}},
			err: "--pb-min-in-sync -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OptionsOf(tc.cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("OptionsOf: %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("OptionsOf = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
