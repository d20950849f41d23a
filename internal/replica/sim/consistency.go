package sim

// countChecks adds up what the consistency checks of every host of the
// run judged (Config.ConsistencyCheckInterval), and fails the run when
// one found replicas that differ: nothing here corrupts a replica, so the
// check itself was wrong. It runs after the final checks, so a run that
// failed already keeps its first violation.
func (s *world) countChecks() {
	mismatches := 0.0
	for _, n := range s.nodes {
		for _, reg := range n.regs {
			mfs, err := reg.Gather()
			if err != nil {
				s.failf(KindFatal, "node %s: gathering metrics: %v", n.name, err)
				return
			}
			for _, mf := range mfs {
				for _, m := range mf.GetMetric() {
					switch mf.GetName() {
					case "cairn_consistency_checks_total":
						s.stats.ConsistencyChecks += int(m.GetCounter().GetValue())
					case "cairn_consistency_mismatches_total":
						mismatches += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	if mismatches > 0 && s.violation == nil {
		s.failf(KindConsistencyAlarm, "%v consistency checks found replicas that differ (see the hosts' error logs: -sim.trace)", mismatches)
	}
}
