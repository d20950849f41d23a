// Package chaos holds what a fault-injection run needs that is pure data and
// checking: histories of client operations, porcupine models and the
// register, set and ttl checkers, nemesis schedules and partition shapes, and
// the run's summary. It starts no server, opens no connection and reads no
// clock for the histories (times are handed in), so the unit tests, `cairn
// check` and the simulation share it. The only clock it reads is the wall
// clock that bounds a linearizability check (porcupine's timeout) and
// measures how long the check took.
//
// A run, in outline:
//
//	nem, err := chaos.ParseNemesis("kill,partition")       // --nemesis
//	sched, err := chaos.GenerateSchedule(chaos.ScheduleConfig{
//		Seed: seed, Duration: 60 * time.Second, Nodes: names, Nemesis: nem})
//	rec := chaos.NewRecorder(func() int64 { return int64(time.Since(start)) })
//	// clients, concurrently:
//	h := rec.Invoke(client, chaos.Put, key, chaos.Input{Value: unique})
//	rec.Complete(h, chaos.Output{}, chaos.OK)              // or Failed / Indeterminate
//	// the injector walks sched.Steps, recording step.Fault(start, end, nodes...)
//	res, err := chaos.CheckRegister(rec.History(), 30*time.Second)
//	if res.Verdict != chaos.VerdictOk {
//		res.WriteVisualization("history.html", faults...)
//	}
//	sum := chaos.NewSummary(rec.History(), faults)
//	sum.AddCheck(res.Check("register"))
//	sum.WriteJSON(os.Stdout)                               // one line
//
// # Recording rules
//
// notes/paxos-primary-backup-and-checking.md §4, with DESIGN.md's outcome
// table: a failed operation (certainly not applied) did not happen and is
// dropped; so is a read that failed or ended indeterminate. An indeterminate
// write is possibly applied: it is never recorded as failed, and checkers
// treat it as open-ended — for porcupine its return is one past the latest
// time in the history, so it may linearize anywhere after its call, at the
// very end included, which is the same as never having happened. After an
// indeterminate operation the client continues as a new porcupine process
// (Processes, AssignProcesses), as Jepsen does. Written values and set
// elements are unique, so that a read names its write; checkers reject
// histories where they are not.
//
// # Checkers
//
//   - CheckRegister: linearizability per key with porcupine (Get, Put,
//     Delete, Swap, CAS), a verdict per key: Ok, Illegal or Unknown (out of
//     time). Unknown is a failure. WriteVisualization writes porcupine's
//     HTML with the faults drawn over it.
//   - CheckSet: acknowledged or observed elements lost from the final reads,
//     elements read that were never written or whose add certainly failed,
//     and which indeterminate adds landed.
//   - CheckTTL: early expiry and resurrection of keys written with a TTL,
//     judged from the recorded times and an allowed clock skew; see its doc
//     for what it cannot judge without a clock.
//
// # Nemeses
//
// GenerateSchedule turns a seed, a duration, the node names and a Nemesis
// into alternating fault and heal steps ending with a heal; the same inputs
// give the same schedule. Partitions are Cuts, sets of directed links for
// the transport's fault injector to drop, in Jepsen's shapes: isolate one
// node, a majority/minority split, a ring of overlapping majorities, and a
// bridge. A Leader step's target is the leader when the step runs, which only
// the injector knows.
package chaos
