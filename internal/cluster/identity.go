package cluster

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/storage"
)

var (
	// ErrWrongName: the data directory belongs to another node.
	ErrWrongName = errors.New("cluster: data directory belongs to another node")
	// ErrSettingsConflict: a flag set explicitly at restart differs from the
	// value the cluster was created with.
	ErrSettingsConflict = errors.New("cluster: setting differs from the cluster's")
	// ErrWrongCluster: --initial-cluster/--initial-cluster-token at restart
	// give another cluster ID than the one stored.
	ErrWrongCluster = errors.New("cluster: data directory belongs to another cluster")
	// ErrNoData: --initial-cluster-state existing with an empty data directory.
	ErrNoData = errors.New("cluster: no data to rejoin with")
	// ErrCorrupt: the identity records are missing, partial or undecodable.
	ErrCorrupt = errors.New("cluster: identity records damaged")
)

// Values of --initial-cluster-state.
const (
	StateNew      = "new"
	StateExisting = "existing"
)

// DefaultToken is --initial-cluster-token's default.
const DefaultToken = "cairn"

// Options are what Open needs from the server's flags.
type Options struct {
	// Name is --name. Required.
	Name string
	// InitialCluster is --initial-cluster parsed (ParseInitialCluster), or
	// DefaultInitialCluster(name, advertised gRPC address) when unset.
	// Required on first start; Name must be in it.
	InitialCluster []Member
	// Token is --initial-cluster-token. Default DefaultToken.
	Token string
	// State is --initial-cluster-state: StateNew (the default) or
	// StateExisting.
	State string
	// Settings are the creation settings from the flags; zero fields take
	// their defaults on first start. On a restart only the fields whose
	// flags are in Explicit are looked at.
	Settings Settings
	// Explicit holds the names (Flag* constants, no dashes) of the flags the
	// user set, on the command line or through CAIRN_* variables. On a
	// restart an explicit setting must equal the stored one, and an explicit
	// --initial-cluster or --initial-cluster-token must give the stored
	// cluster ID; what is not explicit takes the stored value. NB: unset
	// initial-cluster flags are not compared because their defaults (this
	// node alone, "cairn") would give another ID on every restart of a
	// multi-node member started with only --name and --data-dir (etcd too
	// ignores them on restart).
	Explicit map[string]bool
	// Clock stamps Identity.Created. Default clock.Real.
	Clock clock.Clock
}

// Identity is what a node knows of itself and its cluster, as stored in
// /n/identity and /n/cluster.
type Identity struct {
	Name string
	// Incarnation is random and non-zero, made at the node's first start; a
	// node whose data was wiped comes back with another, which peers refuse.
	Incarnation uint64
	// Created is when the data directory was initialised (UTC).
	Created   time.Time
	ClusterID ID
	// Settings are the settings the cluster was created with (defaults
	// filled in).
	Settings Settings
	// Founders are the founding members, sorted by name.
	Founders []Member
	// Bootstrapped reports whether MarkBootstrapped has recorded that this
	// founder wrote its founding groups. Until it has, the node bootstraps
	// (again) on every start: a crash between Open and the last group's
	// bootstrap must not leave a founder without some of its groups.
	Bootstrapped bool
	// Joined reports that the node was added to a running cluster (--join)
	// rather than founding it: Founders then holds the members it was told
	// of when it joined, and it has no founding groups.
	Joined bool
}

// identityRecord is /n/identity's JSON.
type identityRecord struct {
	Version     int    `json:"version"`
	Name        string `json:"name"`
	Incarnation uint64 `json:"incarnation,string"` // a string: JSON readers that use float64 would round it
	// Created is informational (shown by status), never compared.
	Created time.Time `json:"created"`
}

// clusterRecord is /n/cluster's JSON.
type clusterRecord struct {
	Version      int      `json:"version"`
	ClusterID    ID       `json:"cluster_id"`
	Settings     Settings `json:"settings"`
	Founders     []Member `json:"founders"`
	Bootstrapped bool     `json:"bootstrapped,omitempty"`
	Joined       bool     `json:"joined,omitempty"`
}

const recordVersion = 1

// Open reads this node's identity from store, or creates it on the first
// start (DESIGN.md, Identity). It must be called before anything else writes
// to store.
//
//   - Empty store, state new: validates the options, derives the cluster ID,
//     makes a random incarnation and writes /n/identity and /n/cluster in one
//     synced batch.
//   - Empty store, state existing: refused (ErrNoData); adding a node to a
//     running cluster takes --join.
//   - Restart: refuses another --name (ErrWrongName), an explicit setting
//     that differs from the stored one (ErrSettingsConflict, naming both
//     values) and explicit initial-cluster flags that give another cluster
//     ID (ErrWrongCluster, naming both IDs). Everything else is taken from
//     the store; --initial-cluster-state is ignored, as in etcd.
//
// Before anything else it checks the store's format (storage.CheckFormat):
// a data directory written in a newer format is refused
// (storage.ErrFormatTooNew) before any of it is read. One from before the
// format was recorded is format 1: it is read as it is, and the format is
// written once the restart's checks pass.
func Open(store storage.Store, opts Options) (*Identity, error) {
	if err := ValidName(opts.Name); err != nil {
		return nil, fmt.Errorf("cluster: --name: %s", strings.TrimPrefix(err.Error(), "cluster: "))
	}
	if opts.State == "" {
		opts.State = StateNew
	}
	if opts.State != StateNew && opts.State != StateExisting {
		return nil, fmt.Errorf("cluster: --initial-cluster-state %q: must be %s or %s", opts.State, StateNew, StateExisting)
	}
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	format, err := storage.CheckFormat(store)
	if err != nil {
		return nil, err
	}
	rawID, errID := store.Get(storage.IdentityKey)
	rawCl, errCl := store.Get(storage.ClusterKey)
	for _, err := range []error{errID, errCl} {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("cluster: read identity: %w", err)
		}
	}
	switch {
	case errID != nil && errCl != nil:
		return create(store, opts)
	case errID != nil:
		return nil, fmt.Errorf("%w: %s present without %s", ErrCorrupt, storage.ClusterKey, storage.IdentityKey)
	case errCl != nil:
		return nil, fmt.Errorf("%w: %s present without %s", ErrCorrupt, storage.IdentityKey, storage.ClusterKey)
	}
	ir, err := decodeIdentity(rawID)
	if err != nil {
		return nil, err
	}
	cr, err := decodeCluster(rawCl)
	if err != nil {
		return nil, err
	}
	if ir.Name != opts.Name {
		return nil, fmt.Errorf("%w: it holds node %q, not --name %q; start with --name %s or use another --data-dir",
			ErrWrongName, ir.Name, opts.Name, ir.Name)
	}
	if errs := opts.Settings.conflicts(cr.Settings, opts.Explicit); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if opts.Explicit[FlagInitialCluster] || opts.Explicit[FlagInitialClusterToken] {
		if got := ClusterID(opts.InitialCluster, opts.Token); got != cr.ClusterID {
			return nil, fmt.Errorf("%w: --initial-cluster and --initial-cluster-token give cluster ID %s, but this data directory belongs to cluster %s (founded by %s); drop those flags or use another --data-dir",
				ErrWrongCluster, got, cr.ClusterID, FormatInitialCluster(cr.Founders))
		}
	}
	if format == 0 {
		// A data directory from before the format was recorded.
		if err := writeFormat(store); err != nil {
			return nil, err
		}
	}
	return &Identity{
		Name:         ir.Name,
		Incarnation:  ir.Incarnation,
		Created:      ir.Created,
		ClusterID:    cr.ClusterID,
		Settings:     cr.Settings,
		Founders:     cr.Founders,
		Bootstrapped: cr.Bootstrapped,
		Joined:       cr.Joined,
	}, nil
}

// HasIdentity reports whether store holds a node identity (Open would
// restart it rather than create one). A store in a format this binary does
// not read is refused (storage.CheckFormat): nothing in it can be trusted.
func HasIdentity(store storage.Store) (bool, error) {
	if _, err := storage.CheckFormat(store); err != nil {
		return false, err
	}
	_, err := store.Get(storage.IdentityKey)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// JoinOptions are what a node added with --join is told by the cluster.
type JoinOptions struct {
	Name      string
	ClusterID ID
	Settings  Settings
	// Members are the cluster's members after the join, this node among
	// them.
	Members []Member
	Clock   clock.Clock
}

// CreateJoined initialises an empty store for a node the cluster has just
// added: a new incarnation, the cluster's ID and settings, and no founding
// groups (its replicas arrive by snapshot when the rebalancer moves them).
func CreateJoined(store storage.Store, opts JoinOptions) (*Identity, error) {
	if err := ValidName(opts.Name); err != nil {
		return nil, err
	}
	if _, err := storage.CheckFormat(store); err != nil {
		return nil, err
	}
	if err := requireEmpty(store); err != nil {
		return nil, err
	}
	if opts.ClusterID.IsZero() {
		return nil, fmt.Errorf("%w: zero cluster ID from the cluster", ErrCorrupt)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	members := make([]Member, 0, len(opts.Members))
	for _, m := range opts.Members {
		members = append(members, Member{Name: m.Name, Addr: m.Addr, Capacity: m.Capacity, Zone: m.Zone})
	}
	members, err := checkMembers(members)
	if err != nil {
		return nil, err
	}
	if err := opts.Settings.Validate(len(members)); err != nil {
		return nil, err
	}
	inc, err := newIncarnation()
	if err != nil {
		return nil, err
	}
	id := &Identity{
		Name: opts.Name, Incarnation: inc, Created: opts.Clock.Now().UTC().Round(0),
		ClusterID: opts.ClusterID, Settings: opts.Settings, Founders: sortedMembers(members),
		Bootstrapped: true, Joined: true,
	}
	if err := commitRecords(store, id); err != nil {
		return nil, err
	}
	return id, nil
}

// create initialises an empty store.
func create(store storage.Store, opts Options) (*Identity, error) {
	if err := requireEmpty(store); err != nil {
		return nil, err
	}
	if opts.State == StateExisting {
		return nil, fmt.Errorf("%w: --initial-cluster-state existing with an empty data directory: this node has no data to rejoin its cluster with; "+
			"add it to a running cluster with --join host:port (any member), or start it with --initial-cluster-state new to found a cluster", ErrNoData)
	}
	members, err := checkMembers(opts.InitialCluster)
	if err != nil {
		return nil, err
	}
	members = sortedMembers(members)
	found := false
	for _, m := range members {
		found = found || m.Name == opts.Name
	}
	if !found {
		return nil, fmt.Errorf("%w: --name %s is not one of its members (%s)", ErrInitialCluster, opts.Name, FormatInitialCluster(members))
	}
	s := opts.Settings.WithDefaults(len(members))
	if err := s.Validate(len(members)); err != nil {
		return nil, err
	}
	inc, err := newIncarnation()
	if err != nil {
		return nil, err
	}
	id := &Identity{
		Name:        opts.Name,
		Incarnation: inc,
		Created:     opts.Clock.Now().UTC().Round(0),
		ClusterID:   ClusterID(members, opts.Token),
		Settings:    s,
		Founders:    members,
	}
	if err := commitRecords(store, id); err != nil {
		return nil, err
	}
	return id, nil
}

// requireEmpty refuses to create an identity in a store that already holds
// something: that data was written by someone who did not call Open first.
func requireEmpty(store storage.Store) error {
	it, err := store.NewIter(nil, nil)
	if err != nil {
		return fmt.Errorf("cluster: read store: %w", err)
	}
	defer it.Close()
	if it.First() {
		return fmt.Errorf("%w: the data directory holds data (first key %q) but no node identity; it was not made by cairn server or is damaged",
			ErrCorrupt, it.Key())
	}
	return it.Error()
}

// writeFormat records, synced, that store is in this binary's format.
func writeFormat(store storage.Store) error {
	b := store.NewBatch()
	defer b.Close()
	if err := storage.SetFormat(b); err != nil {
		return err
	}
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("cluster: write %s: %w", storage.FormatKey, err)
	}
	return nil
}

// commitRecords writes id's records and the store's format, synced, in one
// batch.
func commitRecords(store storage.Store, id *Identity) error {
	b := store.NewBatch()
	defer b.Close()
	if err := writeRecords(b, id); err != nil {
		return err
	}
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("cluster: write identity: %w", err)
	}
	return nil
}

func writeRecords(b storage.Batch, id *Identity) error {
	ir, err := json.Marshal(identityRecord{Version: recordVersion, Name: id.Name, Incarnation: id.Incarnation, Created: id.Created})
	if err != nil {
		return err
	}
	cr, err := json.Marshal(clusterRecord{
		Version:      recordVersion,
		ClusterID:    id.ClusterID,
		Settings:     id.Settings,
		Founders:     id.Founders,
		Bootstrapped: id.Bootstrapped,
		Joined:       id.Joined,
	})
	if err != nil {
		return err
	}
	if err := b.Set(storage.IdentityKey, ir); err != nil {
		return err
	}
	if err := b.Set(storage.ClusterKey, cr); err != nil {
		return err
	}
	return storage.SetFormat(b)
}

// MarkBootstrapped records, synced, that this founder has bootstrapped every
// founding group that names it, so later starts skip bootstrapping (a group
// since moved away must not be recreated).
func MarkBootstrapped(store storage.Store) error {
	raw, err := store.Get(storage.ClusterKey)
	if err != nil {
		return fmt.Errorf("cluster: mark bootstrapped: %w", err)
	}
	cr, err := decodeCluster(raw)
	if err != nil {
		return err
	}
	if cr.Bootstrapped {
		return nil
	}
	cr.Bootstrapped = true
	enc, err := json.Marshal(cr)
	if err != nil {
		return err
	}
	b := store.NewBatch()
	defer b.Close()
	if err := b.Set(storage.ClusterKey, enc); err != nil {
		return err
	}
	return b.Commit(true)
}

func decodeIdentity(raw []byte) (identityRecord, error) {
	var r identityRecord
	if err := strictUnmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("%w: %s: %v", ErrCorrupt, storage.IdentityKey, err)
	}
	switch {
	case r.Version != recordVersion:
		return r, fmt.Errorf("%w: %s: unknown version %d", ErrCorrupt, storage.IdentityKey, r.Version)
	case ValidName(r.Name) != nil:
		return r, fmt.Errorf("%w: %s: bad name %q", ErrCorrupt, storage.IdentityKey, r.Name)
	case r.Incarnation == 0:
		return r, fmt.Errorf("%w: %s: zero incarnation", ErrCorrupt, storage.IdentityKey)
	}
	return r, nil
}

func decodeCluster(raw []byte) (clusterRecord, error) {
	var r clusterRecord
	if err := strictUnmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("%w: %s: %v", ErrCorrupt, storage.ClusterKey, err)
	}
	if r.Version != recordVersion {
		return r, fmt.Errorf("%w: %s: unknown version %d", ErrCorrupt, storage.ClusterKey, r.Version)
	}
	if r.ClusterID.IsZero() {
		return r, fmt.Errorf("%w: %s: zero cluster ID", ErrCorrupt, storage.ClusterKey)
	}
	if _, err := checkMembers(r.Founders); err != nil {
		return r, fmt.Errorf("%w: %s: %v", ErrCorrupt, storage.ClusterKey, err)
	}
	if err := r.Settings.Validate(len(r.Founders)); err != nil {
		return r, fmt.Errorf("%w: %s: %w", ErrCorrupt, storage.ClusterKey, err)
	}
	return r, nil
}

// strictUnmarshal decodes one JSON value, refusing trailing data. Unknown
// fields are allowed so that a later version may add some.
func strictUnmarshal(raw []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(raw)))
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// newIncarnation returns a random non-zero uint64.
func newIncarnation() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("cluster: make incarnation: %w", err)
		}
		if v := binary.LittleEndian.Uint64(b[:]); v != 0 {
			return v, nil
		}
	}
}
