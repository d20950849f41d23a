package node

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/cairnkv/cairn/internal/api/resp"
)

// serveRESP starts the RESP (Redis protocol) door on --redis-addr.
func (n *Node) serveRESP(d *doors) error {
	lis, err := net.Listen("tcp", n.cfg.RedisAddr)
	if err != nil {
		return fmt.Errorf("--redis-addr %s: %w", n.cfg.RedisAddr, err)
	}
	d.Redis = lis.Addr().String()
	if c := n.tls.DoorConfig(); c != nil {
		lis = tls.NewListener(lis, c)
	}
	srv := resp.New(resp.Config{
		Backend: n, Logger: n.log, Registry: n.registry, RequestTimeout: n.cfg.RequestTimeout,
		Addr: d.Redis, NodeName: n.cfg.Name, Version: Version,
		Door: n.door("resp"), IdleTimeout: n.cfg.ClientIdleTimeout, Auth: n.users,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil {
			n.log.Error("RESP server stopped", "err", err)
		}
	}()
	d.closers = append(d.closers, func() error { err := srv.Close(); <-done; return err })
	return nil
}

// Version is the server's version, reported by INFO and the logs.
var Version = "0.1.0-dev"
