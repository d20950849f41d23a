// Package configstore is the engines' configuration store on the meta group
// (replica.ConfigStore), the one a node hands its host: a compare-and-swap
// on a key's version is one conditional kv PUT in group 0, proposed through
// its leader; a get is a linearizable read of group 0, remote on a node
// without a meta replica; a watch polls every interval.
//
//	s := configstore.New(configstore.Config{Node: name, Clock: clk, Interval: tick, RequestTimeout: t})
//	host := replica.NewHost(engine, replica.HostConfig{ConfigStore: s, ...})
//	s.Start(router)   // the node can propose and forward now: calls run
//	s.Close()         // first at shutdown: calls in flight end with ErrStopped
//
// It reaches group 0 through a Router (internal/forward's, in a node) and
// reads time through a clock.Clock, so a test drives it with fakes.
package configstore
