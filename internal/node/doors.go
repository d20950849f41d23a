package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/api/guard"
	"github.com/cairnkv/cairn/internal/api/httpapi"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/ui"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// doors are the HTTP and RESP front doors of a running node (the gRPC
// client services share the node's gRPC server).
type doors struct {
	closers []func() error
	HTTP    string // the address HTTP listens on
	Redis   string // the address RESP listens on
}

func (d *doors) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		_ = d.closers[i]()
	}
}

// serveDoors starts the HTTP and RESP doors on their listen addresses.
func (n *Node) serveDoors() (_ *doors, err error) {
	d := &doors{}
	defer func() {
		if err != nil {
			d.close() // NB: d, not the result, which is nil on failure
		}
	}()
	httpDoor := n.door("http")
	h, err := httpapi.New(httpapi.Config{
		Backend: n, Gatherer: n.registry, Registry: n.registry, Logger: n.log,
		RequestTimeout: n.cfg.RequestTimeout, Draining: n.Draining,
	})
	if err != nil {
		return nil, err
	}
	httpLis, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("--http-addr %s: %w", n.cfg.HTTPAddr, err)
	}
	d.HTTP = httpLis.Addr().String()
	httpLis = httpDoor.Listener(httpLis, httpDoor.RefuseHTTP())
	if c := n.tls.DoorConfig(); c != nil {
		c.NextProtos = []string{"h2", "http/1.1"}
		httpLis = tls.NewListener(httpLis, c) // NB: inside the bound: a refused connection never costs a handshake
	}
	// /debug/pprof/ beside the API, as etcd serves it: profiles of a live
	// node are how the speed work finds where the time goes.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// The dashboard (internal/ui), read-only like /v1/cluster.
	dash := ui.Handler(newDashboard(n), n.log)
	mux.Handle("/ui", dash)
	mux.Handle("/ui/", dash)
	mux.Handle("/", h)
	srv := &http.Server{
		Handler: httpDoor.Handler(n.gate.HTTP(mux)),
		// A client that trickles its headers or body, or keeps an idle
		// connection, holds a connection slot for at most these.
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		IdleTimeout:       httpIdleTimeout,
		// Keys travel in the path, percent-encoded: up to three bytes
		// each.
		MaxHeaderBytes: 3*n.cfg.Limits.MaxKeySize + 16<<10,
		ErrorLog:       slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("HTTP server stopped", "err", err)
		}
	}()
	d.closers = append(d.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		err := srv.Shutdown(ctx)
		if err != nil {
			err = srv.Close()
		}
		<-done
		return err
	})
	if err := n.serveRESP(d); err != nil {
		return nil, err
	}
	adv := advertised{HTTP: n.cfg.AdvertiseHTTP, Redis: n.cfg.AdvertiseRedis}
	if adv.HTTP == "" {
		adv.HTTP = n.advertiseFor(d.HTTP)
	}
	if adv.Redis == "" {
		adv.Redis = n.advertiseFor(d.Redis)
	}
	n.advertised.Store(&adv)
	n.wg.Add(1)
	go n.publishAdvertised(adv)
	n.log.Info("serving", "grpc", n.GRPCAddr(), "http", d.HTTP, "redis", d.Redis)
	return d, nil
}

// The HTTP door's timeouts. NB: ReadTimeout covers the body too: the
// largest value (4 MiB at most) takes 30 s only below ~140 KB/s, while a
// body sent at 1 byte/s no longer holds a connection for ever.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 30 * time.Second
	httpIdleTimeout       = 2 * time.Minute
)

// door returns the guard of one front door.
func (n *Node) door(name string) *guard.Door {
	return n.doorMetrics.Door(guard.Config{Name: name, MaxConnections: n.maxConns, Logger: n.log})
}

// doorConnections is the per-door connection bound: --max-connections,
// lowered (with a warning) to what the file-descriptor limit allows for
// three full doors beside storage and peers.
func doorConnections(want int, log *slog.Logger) int {
	got, lowered, limit := guard.MaxConnections(want, 3)
	if lowered {
		log.Warn("--max-connections lowered to fit the file-descriptor limit; raise it with ulimit -n (LimitNOFILE= under systemd)",
			"asked", want, "per_door", got, "nofile", limit)
	}
	return got
}

// peerMethod says which gRPC calls are node-to-node: the raft stream,
// snapshots, route gossip and forwarded requests. Over --max-connections they are let
// through (see guard.GRPCOptions).
func peerMethod(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+cairnv1.Peer_ServiceDesc.ServiceName+"/") ||
		strings.HasPrefix(fullMethod, "/"+cairnv1.Forward_ServiceDesc.ServiceName+"/")
}

// containedMethod says which gRPC calls run under the door's panic
// containment: all but the node-to-node raft and snapshot streams, whose
// panics are engine bugs that must stop the process.
func containedMethod(fullMethod string) bool {
	return fullMethod != cairnv1.Peer_Stream_FullMethodName && fullMethod != cairnv1.Peer_Snapshot_FullMethodName
}

// advertised are the door addresses published for this node.
type advertised struct{ HTTP, Redis string }

// publishAdvertised writes this node's door addresses into the meta group
// (so every node's /v1/cluster shows them), retrying until it succeeds or
// the node stops. The write is idempotent, so it needs no session.
func (n *Node) publishAdvertised(adv advertised) {
	defer n.wg.Done()
	rec := cluster.Advertised{GRPC: n.cfg.AdvertiseGRPC, HTTP: adv.HTTP, Redis: adv.Redis}
	cmd := kv.NewCommand(kv.Put(cluster.AdvertiseKey(n.cfg.Name), rec.Encode()))
	for {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
		_, err := n.propose(ctx, 0, cmd)
		cancel()
		if err == nil {
			return
		}
		n.log.Debug("publishing advertised addresses", "err", err)
		if !n.sleep(time.Second) {
			return
		}
	}
}

// advertiseFor turns a listen address into one others can dial: a
// wildcard host ("", 0.0.0.0, ::) takes the advertised gRPC address's host.
func (n *Node) advertiseFor(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return listen
	}
	ghost, _, err := net.SplitHostPort(n.cfg.AdvertiseGRPC)
	if err != nil || ghost == "" || net.ParseIP(ghost).IsUnspecified() {
		ghost = "127.0.0.1"
	}
	return net.JoinHostPort(ghost, port)
}

// sleep waits d by the node's clock: false if the node stopped first.
func (n *Node) sleep(d time.Duration) bool {
	t := n.clock.NewTicker(d)
	defer t.Stop()
	select {
	case <-n.stop:
		return false
	case <-t.C():
		return true
	}
}
