package cluster

import (
	"fmt"
	"time"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// The one conversion of members, moves and settings to and from their
// cairn.v1 messages: the Admin service (internal/api/grpcapi), the
// rebalancer's status (internal/rebalance), a joining node
// (internal/node) and cairn admin (internal/admincli) all use these.

// MemberProto is m as the Admin service shows it; a capacity of 1 is sent
// as 1 (Weight), never as the record's zero.
func MemberProto(m Member) *cairnv1.MemberInfo {
	return &cairnv1.MemberInfo{Name: m.Name, GrpcAddr: m.Addr, Capacity: m.Weight(), Zone: m.Zone, State: m.StateOf()}
}

// MoveProto is m with its partition (-1 for the meta group).
func MoveProto(m Move) *cairnv1.Move {
	return &cairnv1.Move{Group: uint64(m.Group), Partition: int32(m.Group.Partition()), Add: m.Add, Remove: m.Remove}
}

// MovesProto converts every move; never nil.
func MovesProto(moves []Move) []*cairnv1.Move {
	out := make([]*cairnv1.Move, 0, len(moves))
	for _, m := range moves {
		out = append(out, MoveProto(m))
	}
	return out
}

// SettingsProto is s as sent to a joining node.
func SettingsProto(s Settings) *cairnv1.ClusterSettings {
	return &cairnv1.ClusterSettings{Partitions: uint32(s.Partitions), Replicas: uint32(s.Replicas), Engine: s.Engine,
		Hash: s.Hash, Vnodes: uint32(s.VNodes), LoadFactor: s.LoadFactor,
		PbMode: s.PBMode, PbMinInSync: uint32(s.PBMinInSync), PbMaxLagNs: int64(s.PBMaxLag), PbLeaseNs: int64(s.PBLease)}
}

// SettingsOf is the inverse of SettingsProto.
func SettingsOf(p *cairnv1.ClusterSettings) Settings {
	return Settings{Partitions: int(p.GetPartitions()), Replicas: int(p.GetReplicas()), Engine: p.GetEngine(),
		Hash: p.GetHash(), VNodes: int(p.GetVnodes()), LoadFactor: p.GetLoadFactor(),
		PBMode: p.GetPbMode(), PBMinInSync: int(p.GetPbMinInSync()), PBMaxLag: time.Duration(p.GetPbMaxLagNs()), PBLease: time.Duration(p.GetPbLeaseNs())}
}

// ExplicitSettings are the settings a joining node was given on its
// command line (explicit holds their Flag* names, as Options.Explicit); the
// others stay zero, which the cluster does not compare. A negative
// --partitions or --replicas is refused, naming the flag: as a uint32 it
// would reach the cluster as a huge number.
func ExplicitSettings(s Settings, explicit map[string]bool) (*cairnv1.ClusterSettings, error) {
	for _, f := range []struct {
		flag string
		v    int
	}{{FlagPartitions, s.Partitions}, {FlagReplicas, s.Replicas}, {FlagPBMinInSync, s.PBMinInSync}} {
		if explicit[f.flag] && f.v < 0 {
			return nil, fmt.Errorf("--%s %d: must be positive", f.flag, f.v)
		}
	}
	out := &cairnv1.ClusterSettings{}
	if explicit[FlagPartitions] {
		out.Partitions = uint32(s.Partitions)
	}
	if explicit[FlagReplicas] {
		out.Replicas = uint32(s.Replicas)
	}
	if explicit[FlagEngine] {
		out.Engine = s.Engine
	}
	if explicit[FlagVNodes] {
		out.Vnodes = uint32(s.VNodes)
	}
	if explicit[FlagLoadFactor] {
		out.LoadFactor = s.LoadFactor
	}
	if explicit[FlagPBMode] {
		out.PbMode = s.PBMode
	}
	if explicit[FlagPBMinInSync] {
		out.PbMinInSync = uint32(s.PBMinInSync)
	}
	if explicit[FlagPBMaxLag] {
		out.PbMaxLagNs = int64(s.PBMaxLag)
	}
	if explicit[FlagPBLease] {
		out.PbLeaseNs = int64(s.PBLease)
	}
	return out, nil
}
