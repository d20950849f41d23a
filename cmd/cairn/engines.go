package main

// The replication engines this binary offers: each registers itself with
// replica.Register, and a node builds the one its cluster was created with
// (node imports no engine).
import (
	_ "github.com/cairnkv/cairn/internal/replica/paxos"
	_ "github.com/cairnkv/cairn/internal/replica/primarybackup"
	_ "github.com/cairnkv/cairn/internal/replica/raftengine"
)
