package cluster

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

var (
	// ErrInvalidSettings is wrapped by every error Settings.Validate returns
	// for a value out of range.
	ErrInvalidSettings = errors.New("cluster: invalid settings")
)

// Engines a group can run (DESIGN.md, Engines).
const (
	EngineRaft          = "raft"
	EnginePaxos         = "paxos"
	EnginePrimaryBackup = "primary-backup"
)

// HashXXHash64 is the only partition hash: partition = xxhash64(k) mod P.
const HashXXHash64 = "xxhash64"

// Flag names (without dashes, as cobra's Changed takes them) of the settings
// fixed at creation; Options.Explicit is keyed by them.
const (
	FlagPartitions          = "partitions"
	FlagReplicas            = "replicas"
	FlagEngine              = "engine"
	FlagVNodes              = "vnodes"
	FlagLoadFactor          = "load-factor"
	FlagInitialCluster      = "initial-cluster"
	FlagInitialClusterToken = "initial-cluster-token"
	FlagPBMode              = "pb-mode"
	FlagPBMinInSync         = "pb-min-in-sync"
	FlagPBMaxLag            = "pb-max-lag"
	FlagPBLease             = "pb-lease"
)

// Modes of the primary-backup engine (--pb-mode).
const (
	PBModeSync  = "sync"
	PBModeAsync = "async"
)

// Defaults and bounds of the settings (DESIGN.md, Flags).
const (
	// DefaultPartitions: 64 partitions spread over up to a few dozen nodes
	// with a few per node, and keeps the number of groups (and heartbeats)
	// small on a laptop cluster. P cannot change after creation.
	DefaultPartitions = 64
	// MaxPartitions bounds P: every partition is a group with a log, a hard
	// state and heartbeats on R nodes.
	MaxPartitions = 1 << 14
	// DefaultReplicas is R when the founders are at least this many; fewer
	// founders get R = their number. Three replicas survive one failure.
	DefaultReplicas = 3
	// MaxReplicas bounds R: a write waits for a majority, and past 7 each
	// replica adds latency and traffic for durability nobody needs.
	MaxReplicas = 7
	// DefaultEngine: Raft, the engine with the most behind it (etcd raft).
	DefaultEngine = EngineRaft
	// DefaultPBMode: sync, the only primary-backup mode that loses no
	// acknowledged write on a failover.
	DefaultPBMode = PBModeSync
	// DefaultPBMinInSync is min(2, R): one backup holds every acknowledged
	// write, so losing one node loses nothing.
	DefaultPBMinInSync = 2
	// DefaultPBMaxLag bounds how long an async primary goes on taking
	// writes with no backup acknowledging, and so what a failover can lose.
	DefaultPBMaxLag = 10 * time.Second
	// DefaultPBLease is the primary's lease, renewed through the meta
	// group: a failover waits it out, so it is also the least time a dead
	// primary's partition is without writes.
	DefaultPBLease = 3 * time.Second
	// MinPBLease: a lease must outlast the engine's election timeout (1 s
	// at the default 100 ms tick) with room to renew it.
	MinPBLease = 2 * time.Second
	// MinPBMaxLag: the primary hears from each backup about once a tick,
	// so a bound below a second refuses writes on an ordinary hiccup.
	MinPBMaxLag = time.Second
	// DefaultVNodes is the ring's virtual nodes per node (weight 1): enough
	// for the share of each of a few dozen nodes to be within a few percent.
	DefaultVNodes = 128
	// MaxVNodes bounds V; the ring holds V × N points.
	MaxVNodes = 4096
	// DefaultLoadFactor is the bounded-loads c: no node carries more than
	// ceil(1.25 × its weighted share) replicas, while a join or leave still
	// moves close to the minimum.
	DefaultLoadFactor = 1.25
)

// Settings are fixed when a cluster is created and stored with it (in
// /n/cluster and in the meta group); a restart takes them from there.
// A zero field means "the default" until WithDefaults fills it in.
type Settings struct {
	// Partitions is P (--partitions). Default DefaultPartitions.
	Partitions int `json:"partitions"`
	// Replicas is R (--replicas). Default min(DefaultReplicas, founders).
	Replicas int `json:"replicas"`
	// Engine is what every group runs (--engine). Default raft.
	Engine string `json:"engine"`
	// Hash maps a key to its partition. Always xxhash64; no flag sets it,
	// but it is stored so that a later hash can never be mistaken for it.
	Hash string `json:"hash"`
	// VNodes is the ring's virtual nodes per unit of weight (--vnodes).
	VNodes int `json:"vnodes"`
	// LoadFactor is the ring's bounded-loads c (--load-factor).
	LoadFactor float64 `json:"load_factor"`

	// The primary-backup engine's settings; zero under any other engine.

	// PBMode is when an entry commits (--pb-mode): sync (on every in-sync
	// member) or async (on the primary). Default sync.
	PBMode string `json:"pb_mode,omitempty"`
	// PBMinInSync is the fewest in-sync members, the primary among them,
	// under which writes are refused (--pb-min-in-sync). Default min(2, R).
	PBMinInSync int `json:"pb_min_in_sync,omitempty"`
	// PBMaxLag (async): writes are refused when no backup acknowledged
	// within it (--pb-max-lag). Default 10 s.
	PBMaxLag time.Duration `json:"pb_max_lag,omitempty"`
	// PBLease is the primary's lease through the meta group (--pb-lease).
	// Default 3 s.
	PBLease time.Duration `json:"pb_lease,omitempty"`
}

// DefaultSettings returns the defaults for a cluster of founders nodes.
func DefaultSettings(founders int) Settings { return Settings{}.WithDefaults(founders) }

// WithDefaults returns s with every zero field set to its default for a
// cluster founded by founders nodes.
func (s Settings) WithDefaults(founders int) Settings {
	if s.Partitions == 0 {
		s.Partitions = DefaultPartitions
	}
	if s.Replicas == 0 {
		s.Replicas = max(1, min(DefaultReplicas, founders))
	}
	if s.Engine == "" {
		s.Engine = DefaultEngine
	}
	if s.Hash == "" {
		s.Hash = HashXXHash64
	}
	if s.VNodes == 0 {
		s.VNodes = DefaultVNodes
	}
	if s.LoadFactor == 0 {
		s.LoadFactor = DefaultLoadFactor
	}
	if s.Engine == EnginePrimaryBackup {
		if s.PBMode == "" {
			s.PBMode = DefaultPBMode
		}
		if s.PBMinInSync == 0 {
			s.PBMinInSync = min(DefaultPBMinInSync, s.Replicas)
		}
		if s.PBMaxLag == 0 {
			s.PBMaxLag = DefaultPBMaxLag
		}
		if s.PBLease == 0 {
			s.PBLease = DefaultPBLease
		}
	}
	return s
}

// Validate checks s (after WithDefaults) for a cluster founded by founders
// nodes. Each problem is one error naming its flag, wrapping
// ErrInvalidSettings; all are joined.
func (s Settings) Validate(founders int) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidSettings}, args...)...))
	}
	if s.Partitions < 1 || s.Partitions > MaxPartitions {
		bad("--partitions %d: must be 1 to %d", s.Partitions, MaxPartitions)
	}
	switch {
	case s.Replicas < 1 || s.Replicas > MaxReplicas:
		bad("--replicas %d: must be 1 to %d", s.Replicas, MaxReplicas)
	case s.Replicas > founders:
		bad("--replicas %d: more than the %d founding members in --initial-cluster; name at least %d, or lower --replicas",
			s.Replicas, founders, s.Replicas)
	}
	switch s.Engine {
	case EngineRaft, EnginePaxos:
		for _, f := range s.pbGiven() {
			bad("--%s applies only to --engine %s, not %s", f, EnginePrimaryBackup, s.Engine)
		}
	case EnginePrimaryBackup:
		if s.PBMode != PBModeSync && s.PBMode != PBModeAsync {
			bad("--pb-mode %q: must be %s or %s", s.PBMode, PBModeSync, PBModeAsync)
		}
		if s.PBMinInSync < 1 || s.PBMinInSync > s.Replicas {
			bad("--pb-min-in-sync %d: must be 1 to --replicas (%d)", s.PBMinInSync, s.Replicas)
		}
		if s.PBMaxLag < MinPBMaxLag {
			bad("--pb-max-lag %v: must be at least %v", s.PBMaxLag, MinPBMaxLag)
		}
		if s.PBLease < MinPBLease {
			bad("--pb-lease %v: must be at least %v (the engine's election timeout with room to renew)", s.PBLease, MinPBLease)
		}
	default:
		bad("--engine %q: must be %s, %s or %s", s.Engine, EngineRaft, EnginePaxos, EnginePrimaryBackup)
	}
	if s.Hash != HashXXHash64 {
		bad("hash %q: only %s is supported", s.Hash, HashXXHash64)
	}
	if s.VNodes < 1 || s.VNodes > MaxVNodes {
		bad("--vnodes %d: must be 1 to %d", s.VNodes, MaxVNodes)
	}
	if math.IsNaN(s.LoadFactor) || math.IsInf(s.LoadFactor, 0) || s.LoadFactor < 1 {
		bad("--load-factor %v: must be at least 1", s.LoadFactor)
	}
	return errors.Join(errs...)
}

// conflicts returns one error per flag in explicit whose value differs from
// stored's, naming both values.
func (s Settings) conflicts(stored Settings, explicit map[string]bool) []error {
	var errs []error
	check := func(flag, given, was string) {
		if explicit[flag] && given != was {
			errs = append(errs, fmt.Errorf("%w: --%s %s differs from the %s this cluster was created with; settings are fixed at creation (drop --%s or set it to %s)",
				ErrSettingsConflict, flag, given, was, flag, was))
		}
	}
	check(FlagPartitions, strconv.Itoa(s.Partitions), strconv.Itoa(stored.Partitions))
	check(FlagReplicas, strconv.Itoa(s.Replicas), strconv.Itoa(stored.Replicas))
	check(FlagEngine, s.Engine, stored.Engine)
	check(FlagVNodes, strconv.Itoa(s.VNodes), strconv.Itoa(stored.VNodes))
	check(FlagLoadFactor, strconv.FormatFloat(s.LoadFactor, 'g', -1, 64), strconv.FormatFloat(stored.LoadFactor, 'g', -1, 64))
	check(FlagPBMode, s.PBMode, orNone(stored.PBMode))
	check(FlagPBMinInSync, strconv.Itoa(s.PBMinInSync), strconv.Itoa(stored.PBMinInSync))
	check(FlagPBMaxLag, s.PBMaxLag.String(), stored.PBMaxLag.String())
	check(FlagPBLease, s.PBLease.String(), stored.PBLease.String())
	return errs
}

// pbGiven names the primary-backup settings that are set.
func (s Settings) pbGiven() []string {
	var given []string
	for _, f := range []struct {
		flag string
		set  bool
	}{{FlagPBMode, s.PBMode != ""}, {FlagPBMinInSync, s.PBMinInSync != 0}, {FlagPBMaxLag, s.PBMaxLag != 0}, {FlagPBLease, s.PBLease != 0}} {
		if f.set {
			given = append(given, f.flag)
		}
	}
	return given
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// String is the settings' canonical text, the same on every node holding
// them: the transport compares it in the handshake. The primary-backup
// settings appear only when set, so the text of a cluster of another
// engine is what it was before they existed.
func (s Settings) String() string {
	str := fmt.Sprintf("partitions=%d replicas=%d engine=%s hash=%s vnodes=%d load_factor=%s",
		s.Partitions, s.Replicas, s.Engine, s.Hash, s.VNodes, strconv.FormatFloat(s.LoadFactor, 'g', -1, 64))
	if len(s.pbGiven()) > 0 {
		str += fmt.Sprintf(" pb_mode=%s pb_min_in_sync=%d pb_max_lag=%v pb_lease=%v", s.PBMode, s.PBMinInSync, s.PBMaxLag, s.PBLease)
	}
	return str
}
