// Package runner is `cairn check`: a Jepsen-style run against real `cairn
// server` processes on loopback. It starts a cluster with fault injection
// on, runs concurrent clients that record every operation (package chaos),
// walks a nemesis schedule — kill -9 and restart, SIGSTOP/SIGCONT,
// partitions, the current leader, clock skew, slow fsync, and membership
// changes (nodes that join, drains, kills in the middle of replica moves) —
// heals, waits for the cluster to be quiet (and, after membership changes,
// for the replica moves to end), makes final reads and checks the history:
// linearizability per key with porcupine (register), lost and phantom
// elements (set), early expiry and resurrection (ttl).
//
//	cfg := runner.DefaultConfig()
//	cfg.Binary, cfg.Seed = exe, seed // the cairn executable; every choice derives from the seed
//	res, err := runner.Run(ctx, cfg) // cluster up, clients + nemesis for cfg.Time, heal, quiet, final reads, check
//	// err: ErrConfig (usage), ErrInterrupted (ctx ended), or a harness failure
//	res.WriteTable(os.Stdout)        // or WriteJSON: one line
//	if !res.Passed() { ... }         // exit 1; res.Visualization is porcupine's HTML with the faults
//
// CheckHistory checks a history a run wrote (history.jsonl, with
// faults.json next to it) again, offline.
//
// # What a run leaves in Out
//
// schedule.json (the nemesis steps), history.jsonl (every operation,
// chaos.WriteHistory), faults.json (what was injected when, on the
// history's clock), summary.json (WriteJSON's line), nodes/<name>.log (the
// founders n1..nN and the nodes that joined, j1, j2, ...), and
// after a failure nodes/<name>/ (the data directories; removed after a
// pass), register.html (the failed keys only) or set-/ttl-anomalies.json.
//
// # Choices worth knowing
//
//   - Outcomes follow DESIGN.md's table (classify): Failed only for
//     NOT_APPLIED and INVALID_ARGUMENT; a failed CAS condition is an OK
//     operation that did not swap; everything else that is not OK —
//     deadlines, a bare UNAVAILABLE, a broken stream — is Indeterminate.
//   - Each client has one operation in flight on its own Batch stream
//     (exactly-once sessions). After an indeterminate outcome it drops the
//     stream and opens a fresh one on the next node, and the Recorder gives
//     it a fresh porcupine process, as Jepsen does.
//   - Register and ttl keys come from a pool of Config.Keys keys; a key
//     retires after KeyOps (200) operations or KeyIndeterminate (10)
//     indeterminate writes and a fresh key takes its slot, so every key's
//     history is small enough to check.
//   - The nemesis heals everything between faults; every fault in
//     chaos.Schedule maps onto signals or the FaultInjection service.
//     Disk steps are slow fsync (SetDiskDelay, 20 ms to 500 ms): the
//     schedule's full/fail modes have no injector yet.
//   - Membership steps (chaos.Membership) start a new server with --join
//     on fresh ports and data, or call Admin.Drain; a drained node is
//     stopped for good (retired) once Admin.Status shows it removed, and
//     heals never restart it. A kill-during-move step polls Admin.Status
//     for a move in flight for up to three quarters of the step (10 s at
//     most) and kills its adding or leaving node, or any member when none
//     comes. Joined nodes are targets of the other faults too; the
//     clients keep to the founders. After the final heal the run waits
//     (convergeTimeout) until no move is in flight or queued, every group
//     is known and fully replicated and every member is up or removed;
//     a cluster that does not settle fails the run.
//   - A server that exits without being killed by the nemesis (a crash, a
//     restart that dies) fails the run, as an anomaly does.
//   - Servers get ports below the ephemeral range (a killed node restarts
//     on its own ports), their own process group, SIGKILL if the harness
//     dies (Linux), and are killed and reaped before Run returns.
package runner
