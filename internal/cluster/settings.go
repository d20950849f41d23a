package cluster

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

var (
	// ErrInvalidSettings is wrapped by every error Settings.Validate returns
	// for a value out of range.
	ErrInvalidSettings = errors.New("cluster: invalid settings")
	// ErrEngineUnavailable: the engine is a known name but not built yet.
	ErrEngineUnavailable = errors.New("cluster: engine not yet available")
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
	// DefaultEngine is the only engine built so far.
	DefaultEngine = EngineRaft
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
	return s
}

// Validate checks s (after WithDefaults) for a cluster founded by founders
// nodes. Each problem is one error naming its flag; all are joined. An
// engine that is known but not built wraps ErrEngineUnavailable, any other
// problem ErrInvalidSettings.
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
	case EnginePrimaryBackup:
		errs = append(errs, fmt.Errorf("%w: --engine %s is not yet available; use --engine %s or %s", ErrEngineUnavailable, s.Engine, EngineRaft, EnginePaxos))
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
	return errs
}

// String is the settings' canonical text, the same on every node holding
// them: the transport compares it in the handshake.
func (s Settings) String() string {
	return fmt.Sprintf("partitions=%d replicas=%d engine=%s hash=%s vnodes=%d load_factor=%s",
		s.Partitions, s.Replicas, s.Engine, s.Hash, s.VNodes, strconv.FormatFloat(s.LoadFactor, 'g', -1, 64))
}
