package primarybackup

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnkv/cairn/internal/replica"
)

// lagCollector exports the replication lag of every primary on a host, read
// from the groups' status at each scrape (so nothing is kept for a group
// that moved away or a primary that stepped down):
//
//	cairn_pb_lag_entries{group,replica,node}   entries the backup lacks
//	cairn_pb_lag_bytes{group,replica,node}     their payload bytes
//	cairn_pb_lag_seconds{group,replica,node}   now minus when it last had the whole log
//	cairn_pb_in_sync{group,replica,node}       1 when in the in-sync set
//	cairn_pb_loss_window_entries{group}        async: committed entries a failover now could lose
//	cairn_pb_loss_window_bytes{group}          their payload bytes
//	cairn_pb_loss_window_seconds{group}        the lag in seconds of the in-sync backup furthest behind
type lagCollector struct {
	host                                       replica.Host
	entries, bytes, seconds, inSync            *prometheus.Desc
	lossEntries, lossBytes, lossSeconds, epoch *prometheus.Desc
}

func newLagCollector(h replica.Host) *lagCollector {
	peer := []string{"group", "replica", "node"}
	group := []string{"group"}
	return &lagCollector{
		host: h,
		entries: prometheus.NewDesc("cairn_pb_lag_entries",
			"Primary-backup: log entries a backup lacks, as its primary sees it.", peer, nil),
		bytes: prometheus.NewDesc("cairn_pb_lag_bytes",
			"Primary-backup: payload bytes of the entries a backup lacks, as its primary sees it.", peer, nil),
		seconds: prometheus.NewDesc("cairn_pb_lag_seconds",
			"Primary-backup: seconds since a backup last had the primary's whole log (0 while it has).", peer, nil),
		inSync: prometheus.NewDesc("cairn_pb_in_sync",
			"Primary-backup: 1 when a backup is in its group's in-sync set (it may take over), else 0.", peer, nil),
		lossEntries: prometheus.NewDesc("cairn_pb_loss_window_entries",
			"Primary-backup async: committed (acknowledged) entries that a failover now could lose (what the in-sync backup furthest behind lacks).", group, nil),
		lossBytes: prometheus.NewDesc("cairn_pb_loss_window_bytes",
			"Primary-backup async: payload bytes of the entries a failover now could lose.", group, nil),
		lossSeconds: prometheus.NewDesc("cairn_pb_loss_window_seconds",
			"Primary-backup async: seconds since the in-sync backup furthest behind last had the whole log.", group, nil),
		epoch: prometheus.NewDesc("cairn_pb_epoch",
			"Primary-backup: the epoch of each group this node's replica leads.", group, nil),
	}
}

// Describe implements prometheus.Collector.
func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{l.entries, l.bytes, l.seconds, l.inSync, l.lossEntries, l.lossBytes, l.lossSeconds, l.epoch} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	for _, gid := range l.host.Groups() {
		g, ok := l.host.Group(gid)
		if !ok {
			continue
		}
		st := g.Status()
		lags, _ := st.Engine.Fields["backups"].([]BackupLag)
		if st.Engine.Name != Name || st.State != replica.StateLeader || lags == nil {
			continue
		}
		group := strconv.FormatUint(uint64(gid), 10)
		ch <- prometheus.MustNewConstMetric(l.epoch, prometheus.GaugeValue, float64(st.Term), group)
		for _, b := range lags {
			node := ""
			if m, ok := st.Descriptor.Replica(b.Replica); ok {
				node = m.Node
			}
			labels := []string{group, strconv.FormatUint(uint64(b.Replica), 10), node}
			ch <- prometheus.MustNewConstMetric(l.entries, prometheus.GaugeValue, float64(b.LagEntries), labels...)
			ch <- prometheus.MustNewConstMetric(l.bytes, prometheus.GaugeValue, float64(b.LagBytes), labels...)
			ch <- prometheus.MustNewConstMetric(l.seconds, prometheus.GaugeValue, st.Progress[b.Replica].LagSeconds, labels...)
			in := 0.0
			if b.InSync {
				in = 1
			}
			ch <- prometheus.MustNewConstMetric(l.inSync, prometheus.GaugeValue, in, labels...)
		}
		if w, ok := st.Engine.Fields["loss_window"].(*LossWindow); ok && w != nil {
			ch <- prometheus.MustNewConstMetric(l.lossEntries, prometheus.GaugeValue, float64(w.Entries), group)
			ch <- prometheus.MustNewConstMetric(l.lossBytes, prometheus.GaugeValue, float64(w.Bytes), group)
			secs := 0.0
			if w.Entries > 0 {
				secs = st.Progress[w.Behind].LagSeconds
			}
			ch <- prometheus.MustNewConstMetric(l.lossSeconds, prometheus.GaugeValue, secs, group)
		}
	}
}
