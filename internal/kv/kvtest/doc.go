// Package kvtest is one group's kv state machine over an in-memory store,
// applying entries in order under a lock, with no replication: the fake
// groups of the tests of the layers above kv (the doors' Backend in
// internal/api/apitest, forward's and routing's fake replicas), so that
// they evaluate commands and queries exactly as a replica does without
// importing storage themselves.
//
//	g := kvtest.NewGroup(1)
//	res, err := g.Apply(kv.Entry{Index: 1, Term: 1, Time: now, Data: cmd.Encode()})
//	rep, err := g.Eval(kv.GetQuery(key))
package kvtest
