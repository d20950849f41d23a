// Package guard keeps one client from taking a node down through a front
// door. Each door (RESP, HTTP, gRPC) gets a Door that
//
//   - bounds its open connections (--max-connections): a connection over
//     the bound is answered in the door's own words (RESP "-ERR max number
//     of clients reached", HTTP 503, gRPC RESOURCE_EXHAUSTED) and closed,
//     and the ones already open go on serving;
//   - backs off when accepting fails (out of file descriptors) instead of
//     spinning a core;
//   - contains a panic to the connection or request that caused it: the
//     panic is recovered, logged once with the remote address and a stack,
//     counted in cairn_door_panics_total{door}, and only that connection
//     is closed (a gRPC request gets INTERNAL; its connection carries
//     others).
//
// The raft, storage and apply paths do not run under a Door: a panic there
// is a bug that must stop the process (fail-stop), not be hidden.
//
//	m := guard.NewMetrics(registry)           // once per node
//	d := m.Door(guard.Config{Name: "resp", MaxConnections: n, Logger: log})
//	ln = d.Listener(ln, d.RefuseWith(msg)) // Accept returns only admitted connections
//	go func() {
//		defer func() { d.Recovered(recover(), conn.RemoteAddr().String()); conn.Close() }()
//		serve(conn)
//	}()
//
// HTTP wraps its handler with d.Handler; gRPC takes d.GRPCOptions and
// d.GRPCListener. MaxConnections reports how many connections each door
// may hold within the process's file-descriptor limit.
package guard
