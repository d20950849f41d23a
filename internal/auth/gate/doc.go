// Package gate checks who may come in at a node's doors: the meta group's
// users as the node reads them (Users: cached, refreshed every second,
// the doors' api.Authenticator), the gRPC port's login and permission
// checks with the node-to-node calls' peer-certificate check
// (Gate.ServerOptions), the HTTP door's (Gate.HTTP), and the single-use
// join tokens a joining node presents.
//
//	users := gate.NewUsers(gate.UsersConfig{Meta: meta, Clock: clk, Logger: log, Registry: reg})
//	go users.Run(stop, initialPassword)
//	g := gate.New(gate.Config{Users: users, Meta: meta, ClusterID: id, Clock: clk, Logger: log,
//		PeerMethod: peerMethod, VerifyPeer: verify, FromCluster: fromCluster})
//	srv := grpc.NewServer(g.ServerOptions()...)
//	handler := g.HTTP(mux)
//
// It reads and writes the meta group only through Meta, and waits only on
// the clock.Clock it is given.
package gate
