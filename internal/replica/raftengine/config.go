package raftengine

import (
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// Config configures a Host: one node's set of Raft groups. Everything but
// Raft's own message and log limits is the driver's (driver.Config, with
// its defaults and checks); NewHost sets its Engine to Raft's.
type Config struct {
	driver.Config

	// MaxSizePerMsg caps the entries in one append message. Default 1 MiB,
	// well under the transport's 8 MiB gRPC message limit even with the
	// largest command (8 KiB key + 1 MiB value) as a single entry.
	MaxSizePerMsg uint64
	// MaxInflightMsgs is the append messages in flight per follower. Default 256.
	MaxInflightMsgs int
	// MaxUncommittedEntriesSize bounds a leader's uncommitted log. Default 64 MiB.
	MaxUncommittedEntriesSize uint64
}

func (c *Config) setDefaults() {
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = 64 << 20
	}
}

// driverConfig is the driver's part of c, with Raft as its engine.
func (c *Config) driverConfig() driver.Config {
	d := c.Config
	d.Engine = newCoreEngine(c.Store, rawOptions{
		MaxSizePerMsg: c.MaxSizePerMsg, MaxInflightMsgs: c.MaxInflightMsgs,
		MaxUncommittedEntriesSize: c.MaxUncommittedEntriesSize,
	})
	return d
}

// Host is the driver's host, running Raft groups (and, in a cluster of
// another engine, the meta group).
type Host = driver.Host

// NewHost opens a host whose groups are all Raft's, with every group
// found in cfg.Store.
func NewHost(cfg Config) (*Host, error) {
	cfg.setDefaults()
	return driver.NewHost(cfg.driverConfig())
}
