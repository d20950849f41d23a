package api

import "time"

// ClusterView is what the answering node knows of the cluster, in the shape
// of DESIGN.md's GET /v1/cluster (the JSON tags are that shape).
type ClusterView struct {
	ClusterID  string          `json:"cluster_id"`
	Node       string          `json:"node"`
	Time       time.Time       `json:"time"`
	Settings   SettingsView    `json:"settings"`
	Nodes      []NodeView      `json:"nodes"`
	Partitions []PartitionView `json:"partitions"`
	// Epoch is the placement epoch of Nodes (bumped by every membership
	// change).
	Epoch uint64 `json:"epoch"`
	// Meta is the meta group's entry (group 0).
	Meta *PartitionView `json:"meta_group,omitempty"`
}

type SettingsView struct {
	Partitions int     `json:"partitions"`
	Replicas   int     `json:"replicas"`
	Engine     string  `json:"engine"`
	Hash       string  `json:"hash"`
	VNodes     int     `json:"vnodes"`
	LoadFactor float64 `json:"load_factor"`
	// The primary-backup engine's settings; absent under another engine.
	PBMode      string  `json:"pb_mode,omitempty"`
	PBMinInSync int     `json:"pb_min_in_sync,omitempty"`
	PBMaxLagS   float64 `json:"pb_max_lag_s,omitempty"`
	PBLeaseS    float64 `json:"pb_lease_s,omitempty"`
}

type NodeView struct {
	Name     string  `json:"name"`
	State    string  `json:"state"`
	GRPC     string  `json:"grpc"`
	HTTP     string  `json:"http"`
	Redis    string  `json:"redis"`
	Zone     string  `json:"zone"`
	Capacity float64 `json:"capacity"`
}

type PartitionView struct {
	Partition         int        `json:"partition"`
	Group             uint64     `json:"group"`
	MembershipVersion uint64     `json:"membership_version"`
	Term              uint64     `json:"term"`
	Leader            string     `json:"leader"` // "" when unknown
	Replicas          []string   `json:"replicas"`
	Voters            []string   `json:"voters"`
	Learners          []string   `json:"learners"`
	VotersOutgoing    []string   `json:"voters_outgoing"`
	Local             *LocalView `json:"local,omitempty"` // absent when this node holds no replica
	// ReplicaIDs[i] is the replica ID of Replicas[i].
	ReplicaIDs    []uint64 `json:"replica_ids"`
	NextReplicaID uint64   `json:"next_replica_id"`
}

type LocalView struct {
	Role    string `json:"role"`
	Applied uint64 `json:"applied"`
	Commit  uint64 `json:"commit"`
	// Engine is the replica's engine section: {"name": "raft", "term": 7,
	// ...}; absent when the replica is stopped.
	Engine map[string]any `json:"engine,omitempty"`
	// Progress is, on a leader, each other replica as it sees it; absent
	// elsewhere.
	Progress []PeerView `json:"progress,omitempty"`
}

// PeerView is one replica as its group's leader sees it (every engine):
// how far its log matches, how far behind it is in entries and in seconds
// since it last had the whole log.
type PeerView struct {
	Replica    uint64  `json:"replica"`
	Node       string  `json:"node"`
	Match      uint64  `json:"match"`
	LagEntries uint64  `json:"lag_entries"`
	LagSeconds float64 `json:"lag_seconds"`
	CaughtUp   bool    `json:"caught_up"`
	Active     bool    `json:"active"`
}

// Check is one line of /readyz?verbose: "[+]name ok" or "[-]name failed: reason".
type Check struct {
	Name   string
	OK     bool
	Reason string
}

// AllOK reports whether every check passes: what /readyz answers 200 for.
func AllOK(checks []Check) bool {
	for _, c := range checks {
		if !c.OK {
			return false
		}
	}
	return true
}
