package transport

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are labelled by peer node name only: never keys, groups or
// replica IDs, so cardinality is the cluster size.
type metrics struct {
	messagesSent     *prometheus.CounterVec
	messagesReceived *prometheus.CounterVec
	messagesDropped  *prometheus.CounterVec
	framesSent       *prometheus.CounterVec
	framesReceived   *prometheus.CounterVec
	bytesSent        *prometheus.CounterVec
	bytesReceived    *prometheus.CounterVec
	snapshotsSent    *prometheus.CounterVec
	snapshotsRecv    *prometheus.CounterVec
	snapshotsFailed  *prometheus.CounterVec
	clockOffset      *prometheus.GaugeVec
	faultDropped     *prometheus.CounterVec
	faultDuplicated  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cairn", Subsystem: "transport", Name: name, Help: help,
		}, labels)
	}
	m := &metrics{
		messagesSent:     counter("messages_sent_total", "Engine messages written to a peer's stream.", "peer"),
		messagesReceived: counter("messages_received_total", "Engine messages received from a peer.", "peer"),
		messagesDropped:  counter("messages_dropped_total", "Engine messages to a peer dropped: queue full, stream broken or transport closed.", "peer"),
		framesSent:       counter("frames_sent_total", "Message frames written to a peer's stream; messages_sent_total over this is the batching factor.", "peer"),
		framesReceived:   counter("frames_received_total", "Message frames received from a peer.", "peer"),
		bytesSent:        counter("bytes_sent_total", "Message payload and snapshot bytes sent to a peer.", "peer"),
		bytesReceived:    counter("bytes_received_total", "Message payload and snapshot bytes received from a peer.", "peer"),
		snapshotsSent:    counter("snapshots_sent_total", "Snapshot streams sent to a peer and accepted by it.", "peer"),
		snapshotsRecv:    counter("snapshots_received_total", "Snapshot streams received from a peer and accepted.", "peer"),
		snapshotsFailed:  counter("snapshots_failed_total", "Snapshot streams that failed, by direction (sent, received).", "peer", "direction"),
		faultDropped:     counter("fault_dropped_total", "Engine messages dropped by injected faults (--fault-injection).", "peer", "direction"),
		faultDuplicated:  counter("fault_duplicated_total", "Engine messages delivered twice by injected faults (--fault-injection).", "peer", "direction"),
		clockOffset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "cairn", Subsystem: "transport", Name: "clock_offset_seconds",
			Help: "Smoothed offset of a peer's clock from ours (theirs minus ours).",
		}, []string{"peer"}),
	}
	if reg == nil {
		return m, nil
	}
	// NB: a transport made again on the same registry (a node restarted in
	// one process) carries on the series of the one before.
	for _, c := range []**prometheus.CounterVec{
		&m.messagesSent, &m.messagesReceived, &m.messagesDropped, &m.framesSent, &m.framesReceived,
		&m.bytesSent, &m.bytesReceived, &m.snapshotsSent, &m.snapshotsRecv, &m.snapshotsFailed,
		&m.faultDropped, &m.faultDuplicated,
	} {
		if err := register(reg, c); err != nil {
			return nil, err
		}
	}
	if err := register(reg, &m.clockOffset); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers *c on reg, or adopts the collector already there.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return nil
		}
	}
	return err
}
