package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/cairnkv/cairn/internal/api/httpapi"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
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
	// /debug/pprof/ beside the API, as etcd serves it: profiles of a live
	// node are how the speed work finds where the time goes.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
		select {
		case <-n.stop:
			return
		case <-time.After(time.Second):
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
