package raftengine

import "github.com/cairnkv/cairn/internal/replica"

// Name is the engine's name in the cluster's settings (--engine raft).
const Name = "raft"

func init() {
	replica.Register(replica.Engine{Name: Name, Liveness: replica.Majority, NewHost: func(cfg replica.HostConfig) (replica.Host, error) {
		h, err := NewHost(Config{
			Node: cfg.Node, Store: cfg.Store, NewStateMachine: cfg.NewStateMachine,
			Clock: cfg.Clock, Registry: cfg.Registry, Logger: cfg.Logger,
			TickInterval: cfg.TickInterval, SnapshotRate: cfg.SnapshotRate, Manual: cfg.Manual,
			ConsistencyCheckInterval: cfg.ConsistencyCheckInterval,
		})
		if err != nil {
			return nil, err
		}
		return h, nil
	}})
}

var (
	_ replica.ManualHost = (*Host)(nil)
	_ replica.Group      = (*group)(nil)
)
