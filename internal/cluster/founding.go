package cluster

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cairnkv/cairn/internal/hashring"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// MaxMetaReplicas is the most voters the meta group is founded with.
const MaxMetaReplicas = 5

// MetaReplicas is the size of the founding meta group for n founders: the
// largest odd number no more than min(n, MaxMetaReplicas). NB: odd because an
// even group tolerates no more failures than the odd one below it and
// needs one more acknowledgement per write (2 founders: 1; 4 founders: 3).
func MetaReplicas(n int) int {
	m := min(n, MaxMetaReplicas)
	if m > 1 && m%2 == 0 {
		m--
	}
	return m
}

// FoundingDescriptors returns the descriptor every group starts with, group
// 0 (the meta group) first, then group p+1 for every partition p: the same
// value on every founder, whatever the order of members.
//
//   - The meta group is on the M lowest-named founders, M = MetaReplicas(N).
//   - Partition p is where the consistent-hash ring places it (Placement,
//     internal/hashring, DESIGN.md Placement): the first R distinct nodes
//     clockwise from hash(p) under the bounded-loads cap.
//
// Replica IDs are 1, 2, ... in placement order (replica 1, the first in the
// placement, is the preferred leader), all voters, NextReplicaID one past
// the last, Version 1.
//
// s must pass Validate(len(members)) once defaults are filled in;
// FoundingDescriptors panics otherwise, as it does on an empty members.
func FoundingDescriptors(members []Member, s Settings) []replica.Descriptor {
	founders := sortedMembers(members)
	n := len(founders)
	s = s.WithDefaults(n)
	pl, err := Placement(founders, s)
	if err != nil {
		panic(fmt.Sprintf("cluster: FoundingDescriptors: %v", err))
	}
	descs := make([]replica.Descriptor, 0, 1+s.Partitions)
	names := make([]string, 0, MetaReplicas(n))
	for i := range MetaReplicas(n) {
		names = append(names, founders[i].Name)
	}
	descs = append(descs, founding(0, names))
	for p := range s.Partitions {
		descs = append(descs, founding(replica.GroupOf(p), pl.Replicas(p)))
	}
	return descs
}

// Placement computes where the ring puts every partition of a cluster of
// members with settings s (defaults filled in for len(members)), each
// weighted by its capacity and placed by its zone.
func Placement(members []Member, s Settings) (*hashring.Placement, error) {
	s = s.WithDefaults(len(members))
	if err := s.Validate(len(members)); err != nil {
		return nil, err
	}
	ms := make([]hashring.Member, len(members))
	for i, m := range members {
		ms[i] = hashring.Member{Name: m.Name, Capacity: m.Weight(), Zone: m.Zone}
	}
	return hashring.Place(ms, hashring.Config{
		Partitions: s.Partitions, Replicas: s.Replicas, VNodes: s.VNodes, LoadFactor: s.LoadFactor,
	})
}

// founding is group g's descriptor with replica i+1 on nodes[i], all voters.
func founding(g replica.GroupID, nodes []string) replica.Descriptor {
	d := replica.Descriptor{
		Group:         g,
		Version:       1,
		NextReplicaID: replica.ReplicaID(len(nodes) + 1),
		Replicas:      make([]replica.Member, len(nodes)),
		Voters:        make([]replica.ReplicaID, len(nodes)),
	}
	for i, node := range nodes {
		id := replica.ReplicaID(i + 1)
		d.Replicas[i] = replica.Member{ID: id, Node: node, Role: replica.RoleVoter}
		d.Voters[i] = id
	}
	return d
}

// Keys of the meta group's replicated records (user keys of group 0's kv
// state machine).
const (
	MetaKeyClusterID           = "cluster/id"       // the cluster ID, hex
	MetaKeySettings            = "cluster/settings" // Settings, JSON with a version
	MetaKeyMemberPrefix        = "members/"         // members/<name>: Member, JSON with a version
	metaRecordVersion          = 1
	metaSeedIndex              = 1 // the seed is one entry, far below the engine's bootstrap index (10)
	metaSeedTerm               = 5
	metaSeedGroup       uint64 = 0
)

// settingsRecord and memberRecord are the meta group's JSON values: a
// version beside the fields (embedded structs are flattened).
type settingsRecord struct {
	Version int `json:"version"`
	Settings
}

type memberRecord struct {
	Version int `json:"version"`
	Member
}

// Meta is the meta group's state as far as the founding records go.
type Meta struct {
	ClusterID ID
	Settings  Settings
	// Members are sorted by name.
	Members []Member
	// Epoch is the placement epoch (0 until the first membership change)
	// and EpochVersion the version of its record (0: absent).
	Epoch, EpochVersion uint64
}

// MetaSeed returns the seed that writes the meta group's founding records
// into its replicated state (the seed argument of the engine's Bootstrap for
// group 0): the cluster ID, the settings (defaults filled in) and one record
// per founder. They go through the kv state machine as one synthetic entry
// (index 1, term 5, time 0) holding one command of Puts in a fixed order, so
// every founder writes the same bytes; the engine's log then starts above
// them, at index 10.
func MetaSeed(id ID, members []Member, s Settings) func(storage.Batch) error {
	return func(b storage.Batch) error {
		founders := sortedMembers(members)
		s := s.WithDefaults(len(founders))
		if err := s.Validate(len(founders)); err != nil {
			return err
		}
		if len(founders) == 0 {
			return fmt.Errorf("%w: no members", ErrInitialCluster)
		}
		sv, err := json.Marshal(settingsRecord{Version: metaRecordVersion, Settings: s})
		if err != nil {
			return err
		}
		reqs := []kv.Request{
			kv.Put([]byte(MetaKeyClusterID), []byte(id.String())),
			kv.Put([]byte(MetaKeySettings), sv),
		}
		for _, m := range founders {
			mv, err := json.Marshal(memberRecord{Version: metaRecordVersion, Member: m})
			if err != nil {
				return err
			}
			reqs = append(reqs, kv.Put([]byte(MetaKeyMemberPrefix+m.Name), mv))
		}
		cmd := kv.NewCommand(reqs...)
		entries := []kv.Entry{{Index: metaSeedIndex, Term: metaSeedTerm, Time: 0, Data: cmd.Encode()}}
		results, err := kv.New(metaSeedGroup).Apply(entries, b, b)
		if err != nil {
			return fmt.Errorf("cluster: seed meta group: %w", err)
		}
		rep, err := kv.DecodeResult(results[0])
		if err != nil {
			return fmt.Errorf("cluster: seed meta group: %w", err)
		}
		if rep.Code != kv.CodeOK {
			return fmt.Errorf("cluster: seed meta group: %s", rep.Code)
		}
		return nil
	}
}

// ReadMeta reads the meta group's founding records from view (through the
// kv state machine's reads of group 0).
func ReadMeta(view storage.View) (Meta, error) {
	var m Meta
	item, ok, err := kv.Get(view, metaSeedGroup, []byte(MetaKeyClusterID))
	if err != nil {
		return Meta{}, fmt.Errorf("cluster: read meta: %w", err)
	}
	if !ok {
		return Meta{}, fmt.Errorf("%w: meta group has no %s", ErrCorrupt, MetaKeyClusterID)
	}
	if m.ClusterID, err = ParseID(string(item.Value)); err != nil {
		return Meta{}, fmt.Errorf("%w: meta %s: %v", ErrCorrupt, MetaKeyClusterID, err)
	}
	item, ok, err = kv.Get(view, metaSeedGroup, []byte(MetaKeySettings))
	if err != nil {
		return Meta{}, fmt.Errorf("cluster: read meta: %w", err)
	}
	if !ok {
		return Meta{}, fmt.Errorf("%w: meta group has no %s", ErrCorrupt, MetaKeySettings)
	}
	if m.Settings, err = decodeSettingsRecord(item.Value); err != nil {
		return Meta{}, err
	}
	item, ok, err = kv.Get(view, metaSeedGroup, []byte(MetaKeyEpoch))
	if err != nil {
		return Meta{}, fmt.Errorf("cluster: read meta: %w", err)
	}
	if ok {
		if m.Epoch, err = strconv.ParseUint(string(item.Value), 10, 64); err != nil {
			return Meta{}, fmt.Errorf("%w: meta %s: %v", ErrCorrupt, MetaKeyEpoch, err)
		}
		m.EpochVersion = item.Version
	}
	prefix := []byte(MetaKeyMemberPrefix)
	items, _, err := kv.Scan(view, metaSeedGroup, prefix, kv.PrefixEnd(prefix), 0)
	if err != nil {
		return Meta{}, fmt.Errorf("cluster: read meta: %w", err)
	}
	for _, it := range items {
		mem, err := decodeMemberRecord(it.Value)
		if err != nil {
			return Meta{}, err
		}
		if name := strings.TrimPrefix(string(it.Key), MetaKeyMemberPrefix); mem.Name != name {
			return Meta{}, fmt.Errorf("%w: meta %s holds member %q", ErrCorrupt, it.Key, mem.Name)
		}
		m.Members = append(m.Members, mem)
	}
	return m, nil
}

func decodeSettingsRecord(b []byte) (Settings, error) {
	var r settingsRecord
	if err := strictUnmarshal(b, &r); err != nil {
		return Settings{}, fmt.Errorf("%w: meta %s: %v", ErrCorrupt, MetaKeySettings, err)
	}
	if r.Version != metaRecordVersion {
		return Settings{}, fmt.Errorf("%w: meta %s: unknown version %d", ErrCorrupt, MetaKeySettings, r.Version)
	}
	return r.Settings, nil
}

func decodeMemberRecord(b []byte) (Member, error) {
	var r memberRecord
	if err := strictUnmarshal(b, &r); err != nil {
		return Member{}, fmt.Errorf("%w: meta member: %v", ErrCorrupt, err)
	}
	if r.Version != metaRecordVersion {
		return Member{}, fmt.Errorf("%w: meta member: unknown version %d", ErrCorrupt, r.Version)
	}
	if err := ValidName(r.Name); err != nil {
		return Member{}, fmt.Errorf("%w: meta member: %v", ErrCorrupt, err)
	}
	return r.Member, nil
}
