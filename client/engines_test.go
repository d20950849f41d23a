package client

// The engines the in-process nodes of the client tests run (cmd/cairn links
// them into the binary).
import _ "github.com/cairnkv/cairn/internal/replica/raftengine"
