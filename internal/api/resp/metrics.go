package resp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are labelled by command name only (never by key); a command
// not in the table counts as "unknown".
type metrics struct {
	connections    prometheus.Gauge
	protocolErrors prometheus.Counter
	byName         map[string]cmdMetrics
	unknown        cmdMetrics
}

type cmdMetrics struct {
	total   prometheus.Counter
	seconds prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cairn_resp_commands_total", Help: "RESP commands answered, by command.",
	}, []string{"command"})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "cairn_resp_command_seconds", Help: "Time from reading a RESP command's pipeline to its reply, by command.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"command"})
	conns := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cairn_resp_connections", Help: "Open RESP connections.",
	})
	perr := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cairn_resp_protocol_errors_total", Help: "RESP connections closed for a malformed or over-limit request.",
	})
	reg.MustRegister(total, seconds, conns, perr)
	m := &metrics{connections: conns, protocolErrors: perr, byName: make(map[string]cmdMetrics, len(commandTable))}
	for _, c := range commandTable {
		m.byName[c.name] = cmdMetrics{total.WithLabelValues(c.name), seconds.WithLabelValues(c.name)}
	}
	m.unknown = cmdMetrics{total.WithLabelValues("unknown"), seconds.WithLabelValues("unknown")}
	return m
}

func (m *metrics) observe(c *command, start time.Time) {
	cm := m.unknown
	if c != nil {
		cm = m.byName[c.name]
	}
	cm.total.Inc()
	cm.seconds.Observe(time.Since(start).Seconds())
}
