package driver

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	rounds           prometheus.Counter
	fsyncs           prometheus.Counter
	fsyncSeconds     prometheus.Histogram
	entriesPerFsync  prometheus.Histogram
	groupsPerRound   prometheus.Histogram
	proposals        prometheus.Counter
	proposalsDropped prometheus.Counter
	applied          prometheus.Counter
	readIndexRounds  prometheus.Counter
	snapshotsSent    prometheus.Counter
	snapshotsFailed  prometheus.Counter
	snapshotsApplied prometheus.Counter
	snapThrottled    prometheus.Counter // waits the snapshot rate imposed
	truncations      prometheus.Counter
	leaderChanges    prometheus.Counter
	proposalsPending prometheus.Gauge
	readIndexSeconds prometheus.Histogram
	applySeconds     prometheus.Histogram
	roundSeconds     prometheus.Histogram
	checks           *prometheus.CounterVec
	mismatches       prometheus.Counter
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_rounds_total", Help: "Scheduler rounds that handled at least one Ready."}),
		fsyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_fsyncs_total", Help: "Synced log commits (one per round across all groups)."}),
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cairn_raft_fsync_seconds", Help: "Latency of the synced log commit of a round.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		entriesPerFsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cairn_raft_entries_per_fsync", Help: "Log entries made durable by one fsync.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		groupsPerRound: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cairn_raft_groups_per_round", Help: "Groups with a Ready handled in one round.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		proposals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_proposals_total", Help: "Proposals handed to the engine."}),
		proposalsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_proposals_dropped_total", Help: "Proposals the engine dropped synchronously (certainly not applied)."}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_entries_applied_total", Help: "Committed entries applied."}),
		readIndexRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_read_index_rounds_total", Help: "ReadIndex requests issued (each serves every read queued in its group)."}),
		snapshotsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_snapshots_sent_total", Help: "Snapshots streamed to followers."}),
		snapshotsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_snapshots_failed_total", Help: "Snapshot streams that failed."}),
		snapshotsApplied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_snapshots_applied_total", Help: "Snapshots received and applied."}),
		snapThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_snapshot_throttled_seconds_total",
			Help: "Time outgoing snapshot chunks were held back by the snapshot rate limit, summed over streams."}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_log_truncations_total", Help: "Log truncations."}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_leader_changes_total", Help: "Leader changes seen by local replicas."}),
		proposalsPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_raft_proposals_pending", Help: "Proposals submitted to local replicas and not yet answered (the proposal queue depth)."}),
		readIndexSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cairn_raft_read_index_seconds", Help: "Time from issuing a ReadIndex to learning its index.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cairn_raft_apply_seconds", Help: "Time a round spends applying committed entries (overlapping its fsync).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16)}),
		roundSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cairn_raft_round_seconds", Help: "Duration of a scheduler round, from taking Readys to Advance.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_consistency_checks_total",
			Help: "Consistency checks judged by the local replicas that proposed them, by verdict (agree, mismatch, no-majority, incomplete)."},
			[]string{"verdict"}),
		mismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_consistency_mismatches_total",
			Help: "Consistency checks that found replicas whose state differs (verdict mismatch or no-majority): an alarm."}),
	}
	r.MustRegister(m.rounds, m.fsyncs, m.fsyncSeconds, m.entriesPerFsync, m.groupsPerRound,
		m.proposals, m.proposalsDropped, m.applied, m.readIndexRounds, m.snapshotsSent,
		m.snapshotsFailed, m.snapshotsApplied, m.snapThrottled, m.truncations, m.leaderChanges,
		m.proposalsPending, m.readIndexSeconds, m.applySeconds, m.roundSeconds, m.checks, m.mismatches)
	return m
}
