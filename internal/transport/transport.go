package transport

import (
	"context"
	"time"
)

// Message is one engine message addressed to one replica of one group. The
// payload is engine-specific (a marshalled raftpb.Message for Raft); the
// transport never looks inside it.
type Message struct {
	Group    uint64
	From, To uint64 // replica IDs, group-local
	// Kind says who reads the payload on the receiving host; the
	// transport carries it and never looks at it.
	Kind    Kind
	Payload []byte
}

// Kind is the reader of a message's payload on the receiving host.
type Kind uint8

const (
	// KindEngine: the group's engine (a marshalled raftpb.Message for
	// Raft). The zero value, so every message sent before kinds existed
	// is one.
	KindEngine Kind = 0
	// KindDriver: the driver itself, beside the engine (consistency-check
	// reports and verdicts).
	KindDriver Kind = 1
)

// Handler receives what arrives from peer nodes. Calls may come from many
// goroutines at once; HandleMessages must not block for long (queue and return).
type Handler interface {
	// HandleMessages delivers a batch of messages sent by node from.
	HandleMessages(from string, msgs []Message)
	// HandleSnapshot consumes one snapshot stream: header as the sender gave
	// it, then chunks in order until next returns io.EOF. An error returned
	// is reported to the sender's SendSnapshot.
	HandleSnapshot(ctx context.Context, from string, header []byte, next func() ([]byte, error)) error
	// ReportUnreachable says messages to node were dropped (queue overflow,
	// broken stream), so engines can slow down (raft's ReportUnreachable).
	ReportUnreachable(node string)
}

// Transport moves engine messages and snapshots between nodes. The drivers
// use only this interface, so a simulation or fault injection can stand in
// for the network.
type Transport interface {
	// Send queues msgs for node and returns at once. Messages to one node
	// are sent in order, batched into as few frames as the queue allows. When
	// the node's bounded queue is full the messages are dropped and the
	// handler's ReportUnreachable is called.
	Send(node string, msgs []Message)
	// SendSnapshot streams a snapshot to node: header, then every chunk that
	// chunks yields, on a call of its own (not the message stream), with a
	// node-wide limit on concurrent snapshots. It returns once the receiver's
	// HandleSnapshot returned, with its error.
	SendSnapshot(ctx context.Context, node string, header []byte, chunks func(yield func([]byte) error) error) error
	// ClockOffset is the measured offset of node's clock from ours (theirs
	// minus ours), and whether a measurement exists.
	ClockOffset(node string) (time.Duration, bool)
	// ClockHealthy reports whether our clock is within the allowed offset of
	// a majority of the cluster's nodes (ourselves included). A node whose
	// clock is not healthy refuses to lead.
	ClockHealthy() bool
	Close() error
}
