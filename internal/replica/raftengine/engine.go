package raftengine

import (
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// Name is the engine's name in the cluster's settings (--engine raft).
const Name = "raft"

func init() {
	driver.RegisterMetaEngine(NewCoreEngine)
	replica.Register(replica.Engine{Name: Name, Liveness: replica.Majority, NewHost: func(cfg replica.HostConfig) (replica.Host, error) {
		h, err := NewHost(configOf(cfg))
		if err != nil {
			return nil, err
		}
		return h, nil
	}, ReadLog: readLog, TermsAgree: true})
}

// configOf maps the engine-neutral HostConfig to a Config. Its zero
// fields keep the driver's and Raft's defaults, which are the ones that
// HostConfig documents for raft.
func configOf(cfg replica.HostConfig) Config {
	return Config{Config: driver.ConfigOf(cfg, nil, nil)}
}

var _ replica.ReadLogFunc = readLog
