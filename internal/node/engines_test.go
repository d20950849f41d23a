package node

// The engines the in-process nodes of these tests run (cmd/cairn links
// them into the binary).
import (
	_ "github.com/cairnkv/cairn/internal/replica/paxos"
	_ "github.com/cairnkv/cairn/internal/replica/primarybackup"
	_ "github.com/cairnkv/cairn/internal/replica/raftengine"
)
