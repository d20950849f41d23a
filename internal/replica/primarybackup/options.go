package primarybackup

import (
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
)

// defaultTick and defaultElectionTicks are the driver's defaults
// (driver.Config), used to turn the cluster's durations into ticks when
// the host configuration leaves them zero.
const (
	defaultTick          = 100 * time.Millisecond
	defaultElectionTicks = 10
)

// OptionsOf is the engine's Options from a host's configuration: the
// cluster's --pb-* settings (HostConfig.PrimaryBackup), durations turned
// into the host's ticks, rounded up. Zero settings keep the engine's
// defaults. A lease that does not outlast an election timeout by a tick is
// refused: the primary could never hold it long enough to renew it.
func OptionsOf(cfg replica.HostConfig) (Options, error) {
	pb := cfg.PrimaryBackup
	tick := cfg.TickInterval
	if tick <= 0 {
		tick = defaultTick
	}
	election := cfg.ElectionTicks
	if election <= 0 {
		election = defaultElectionTicks
	}
	ticks := func(d time.Duration) int { return int((d + tick - 1) / tick) }
	o := Options{MinInSync: pb.MinInSync, MaxLagTicks: ticks(pb.MaxLag), LeaseTicks: ticks(pb.Lease)}
	if pb.Async {
		o.Mode = ModeAsync
	}
	if pb.MinInSync < 0 {
		return o, fmt.Errorf("primarybackup: --pb-min-in-sync %d: must be positive", pb.MinInSync)
	}
	if o.LeaseTicks != 0 && o.LeaseTicks <= election {
		return o, fmt.Errorf("primarybackup: --pb-lease %v must exceed the election timeout (%v)", pb.Lease, time.Duration(election)*tick)
	}
	return o, nil
}
