package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/api/guard"
	"github.com/cairnkv/cairn/internal/auth/gate"
	"github.com/cairnkv/cairn/internal/buildinfo"
	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/configstore"
	"github.com/cairnkv/cairn/internal/forward"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/rebalance"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/routing"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/cairnkv/cairn/internal/tlsconf"
	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Node is one running `cairn server`: storage, identity, transport, the
// Raft host and the front doors, all on its own Prometheus registry.
type Node struct {
	cfg      Config
	log      *slog.Logger
	store    *storage.Pebble
	id       *cluster.Identity
	host     replica.Host
	tr       *transport.GRPC
	registry *prometheus.Registry

	grpcLis net.Listener
	grpcSrv *grpc.Server
	// tls is the loaded --cert-file/--peer-cert-file material; nil
	// without TLS.
	tls *tlsconf.State
	// users are the meta group's users, as the doors' logins check them;
	// gate is the gRPC and HTTP doors' login and permission checks.
	users *gate.Users
	gate  *gate.Gate

	// doorMetrics and maxConns guard the three doors (--max-connections,
	// lowered to fit the file-descriptor limit).
	doorMetrics *guard.Metrics
	maxConns    int

	// routing is the member list, the route cache, the address book and
	// the descriptor gossip (internal/routing).
	routing *routing.Table
	// conns are the connections to peers for unary calls (Admin, gossip).
	conns      *transport.Conns
	rebalancer *rebalance.Rebalancer
	admin      *grpcapi.Admin
	// fwd carries forwarded writes and reads to peers; router decides
	// where a request is served (internal/forward).
	fwd    *forward.Client
	router *forward.Router
	// configs is the engines' configuration store on the meta group
	// (replica.HostConfig.ConfigStore).
	configs  *configstore.Store
	draining atomic.Bool
	noSpace  atomic.Bool
	// advertised are the HTTP and RESP addresses, once those doors serve.
	advertised atomic.Pointer[advertised]

	// faults is set with Config.FaultInjection: the injectable clock and
	// disk behind this node, served by the FaultInjection service.
	faults *transport.FaultService

	// machines are the local replicas' state machines by group, for the
	// group time a read reports (groupTime).
	machines sync.Map // replica.GroupID → *kv.Machine

	// clock is cfg.Clock, skewed by the FaultInjection service when on.
	clock clock.Clock
	stop  chan struct{}
	wg    sync.WaitGroup
}

// Start opens the data directory, joins the cluster as a founder (or
// restarts), and serves peers and clients on the gRPC address. The HTTP
// and RESP doors are started by the caller through Serve* (cmd/cairn).
func Start(cfg Config) (n *Node, err error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("node", cfg.Name)
	if err := cfg.TLS.Resolve(); err != nil {
		return nil, err
	}
	sec, err := tlsconf.Load(cfg.TLS, log)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
	}
	// Listen first: a node started with ":0" learns its port, which the
	// default initial cluster (this node alone) must name.
	grpcLis := cfg.GRPCListener
	if grpcLis == nil {
		if grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			return nil, fmt.Errorf("--grpc-addr %s: %w", cfg.GRPCAddr, err)
		}
	}
	defer func() {
		if err != nil {
			grpcLis.Close()
		}
	}()
	if cfg.AdvertiseGRPC == "" {
		cfg.AdvertiseGRPC = grpcLis.Addr().String()
		if host, _, _ := net.SplitHostPort(cfg.AdvertiseGRPC); net.ParseIP(host).IsUnspecified() {
			return nil, fmt.Errorf("--grpc-addr %s listens on every interface: set --advertise-grpc-addr to an address peers can dial", cfg.GRPCAddr)
		}
	}
	members := cfg.InitialCluster
	if len(members) == 0 {
		members = cluster.DefaultInitialCluster(cfg.Name, cfg.AdvertiseGRPC)
	}
	var faults *transport.FaultService
	popts := storage.PebbleOptions{Logger: pebbleLogger{log}}
	clk := cfg.Clock
	if cfg.FaultInjection {
		fs := storage.NewSlowSyncFS(nil)
		faults = &transport.FaultService{Name: cfg.Name, Clock: clock.NewSkewed(cfg.Clock, 0), Disk: fs}
		popts.FS, clk = fs, faults.Clock
		log.Warn("fault injection is on: this node obeys FaultInjection calls from anyone who can reach its gRPC port")
	}
	store, err := storage.OpenPebble(cfg.DataDir, popts)
	if err != nil {
		return nil, fmt.Errorf("opening --data-dir %s: %w", cfg.DataDir, err)
	}
	defer func() {
		if err != nil {
			store.Close()
		}
	}()
	has, err := cluster.HasIdentity(store)
	if err != nil {
		return nil, err
	}
	var id *cluster.Identity
	if !has && cfg.Join != "" {
		id, err = join(cfg, store, log, peerDialOptions(sec))
	} else {
		id, err = cluster.Open(store, cluster.Options{
			Name: cfg.Name, InitialCluster: members, Token: cfg.Token, State: cfg.State,
			Settings: cfg.Settings, Explicit: cfg.Explicit,
		})
	}
	if err != nil {
		return nil, err
	}
	if !id.Joined {
		if err := cluster.CheckOwnEntry(cfg.Name, cfg.Capacity, cfg.Zone, id.Founders); err != nil {
			return nil, err
		}
	}
	if cfg.TLS.Enabled() && !id.Bootstrapped && !id.Joined && cfg.InitialAdminPassword == "" {
		return nil, errors.New("a cluster with TLS must have users: give --initial-admin-password-file (or CAIRN_INITIAL_ADMIN_PASSWORD) when creating it; its user admin then makes the others (cairn admin user add)")
	}
	n = &Node{
		cfg: cfg, log: log, store: store, id: id, registry: prometheus.NewRegistry(),
		grpcLis: grpcLis, stop: make(chan struct{}), faults: faults, clock: clk, tls: sec,
	}
	sec.Register(n.registry)
	n.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Collector())
	peers, err := cluster.NewPeerBook(store)
	if err != nil {
		return nil, err
	}
	// The engine's configuration store on the meta group; it answers
	// once the node can propose (configs.Start below).
	n.configs = configstore.New(configstore.Config{
		Node: cfg.Name, Clock: clk, Interval: cfg.TickInterval, RequestTimeout: cfg.RequestTimeout, Logger: log})
	defer func() {
		if err != nil {
			n.configs.Close()
		}
	}()
	// NB: the engine stored at creation, not this start's flag.
	host, err := replica.NewHost(id.Settings.Engine, replica.HostConfig{
		Node:  cfg.Name,
		Store: store,
		NewStateMachine: func(g replica.GroupID) replica.StateMachine {
			m := kv.New(uint64(g))
			n.machines.Store(g, m) // a replica made again replaces its machine
			return m
		},
		Registry:     n.registry,
		Logger:       log,
		TickInterval: cfg.TickInterval,
		Clock:        clk,
		SnapshotRate: cfg.SnapshotRate,
		// Negative (never) reaches the engine as it is: it checks only
		// when asked.
		ConsistencyCheckInterval: cfg.ConsistencyCheckInterval,
		ConfigStore:              n.configs,
		PrimaryBackup: replica.PrimaryBackupOptions{Async: id.Settings.PBMode == cluster.PBModeAsync,
			MinInSync: id.Settings.PBMinInSync, MaxLag: id.Settings.PBMaxLag, Lease: id.Settings.PBLease,
			RollbackDir: cfg.DataDir, Session: kv.CommandSession},
	})
	if err != nil {
		return nil, err
	}
	n.host = host
	addrs := map[string]string{}
	for _, m := range id.Founders {
		addrs[m.Name] = m.Addr
	}
	addrs[cfg.Name] = cfg.AdvertiseGRPC
	n.routing = routing.New(routing.Config{
		Node: cfg.Name, ClusterID: id.ClusterID, Settings: id.Settings,
		Replicas: hostReplicas{host}, Meta: routing.StoreMeta(store, hostReplicas{host}.metaGroup),
		MetaGroup: hostReplicas{host}.metaGroup, Peers: routePeers{n}, Addrs: addrs,
		Clock: clk, Logger: log, Registry: n.registry,
	})
	n.conns = transport.NewConns(n.routing.Resolve, peerDialOptions(sec))
	if !id.Bootstrapped {
		for _, d := range cluster.FoundingDescriptors(id.Founders, id.Settings) {
			if _, ok := d.ReplicaOn(cfg.Name); !ok {
				continue
			}
			var seed func(storage.Batch) error
			if d.Group == 0 {
				seed = cluster.MetaSeed(id.ClusterID, id.Founders, id.Settings)
			}
			if err := host.Bootstrap(d, seed); err != nil {
				return nil, fmt.Errorf("creating group %d: %w", d.Group, err)
			}
		}
		if err := cluster.MarkBootstrapped(store); err != nil {
			return nil, err
		}
		log.Info("cluster created", "cluster_id", id.ClusterID, "founders", cluster.FormatInitialCluster(id.Founders),
			"partitions", id.Settings.Partitions, "replicas", id.Settings.Replicas)
	}
	if err := n.routing.InitMeta(id.Founders); err != nil {
		return nil, err
	}
	tr, err := transport.New(transport.Config{
		ClusterID:      id.ClusterID,
		Name:           cfg.Name,
		Incarnation:    id.Incarnation,
		Resolve:        n.resolve,
		Handler:        host,
		Routes:         n.routing,
		MaxClockOffset: cfg.MaxClockOffset,
		Registry:       n.registry,
		Logger:         log,
		Peers:          peers,
		Clock:          clk,
		Settings:       id.Settings.String(),
		DialOptions:    peerDialOptions(sec),
	})
	if err != nil {
		return nil, err
	}
	n.tr = tr
	forwards := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cairn_forwarded_requests_total", Help: "Requests forwarded to the leader's node."})
	n.registry.MustRegister(forwards)
	fcfg := forward.ClientConfig{
		ClusterID: id.ClusterID.String(), Resolve: n.resolve, DialOptions: peerDialOptions(sec),
		MaxMessage: transport.MaxMessageSize, Sent: forwards.Inc,
	}
	if faults != nil {
		fcfg.Links = links{tr}
	}
	n.fwd = forward.NewClient(fcfg)
	n.router = forward.NewRouter(forward.RouterConfig{
		Node: cfg.Name, Groups: host, Routes: n.routing, Client: n.fwd, Clock: clk,
		Timeout: cfg.RequestTimeout, Retry: cfg.TickInterval / 2, GroupTime: n.groupTime,
	})
	n.users, n.gate = newGate(n, sec)
	n.doorMetrics = guard.NewMetrics(n.registry)
	n.maxConns = doorConnections(cfg.MaxConnections, log)
	grpcDoor := n.door("grpc")
	grpcLis = grpcDoor.GRPCListener(grpcLis)
	n.grpcLis = grpcLis
	srvOpts := append(transport.ServerOptions(), grpcDoor.GRPCOptions(peerMethod, containedMethod)...)
	if c := sec.PortConfig(); c != nil {
		srvOpts = append(srvOpts, grpc.Creds(credentials.NewTLS(c)))
	}
	n.grpcSrv = grpc.NewServer(append(srvOpts, n.gate.ServerOptions()...)...)
	tr.Register(n.grpcSrv)
	cairnv1.RegisterForwardServer(n.grpcSrv, forward.NewServer(forward.ServerConfig{
		Node: cfg.Name, ClusterID: id.ClusterID.String(), Partitions: id.Settings.Partitions,
		Local: n.router, NoSpace: n.noSpace.Load, MaxMessage: transport.MaxMessageSize,
	}))
	grpcapi.New(grpcapi.Config{Backend: n, Logger: log, Registry: n.registry, RequestTimeout: cfg.RequestTimeout, Door: grpcDoor}).Register(n.grpcSrv)
	n.rebalancer = newRebalancer(n)
	n.admin = newAdmin(n)
	n.admin.Register(n.grpcSrv)
	newSecurity(n).Register(n.grpcSrv)
	if faults != nil {
		faults.Transport = tr
		cairnv1.RegisterFaultInjectionServer(n.grpcSrv, faults)
	}
	n.configs.Start(n.router)
	host.Start(tr)
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.grpcSrv.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("gRPC server stopped", "err", err)
		}
	}()
	go n.watchDisk()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.routing.Run(n.stop, watchInterval)
	}()
	n.wg.Add(1)
	go n.runRebalancer()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.users.Run(n.stop, cfg.InitialAdminPassword)
	}()
	log.Info("node started", "grpc", cfg.AdvertiseGRPC, "cluster_id", id.ClusterID, "incarnation", id.Incarnation)
	return n, nil
}

// GRPCServer is the node's gRPC server, for registering the client services
// before traffic arrives.
func (n *Node) GRPCServer() *grpc.Server { return n.grpcSrv }

// Registry is the node's own metrics registry.
func (n *Node) Registry() *prometheus.Registry { return n.registry }

// GRPCAddr is the address the gRPC server listens on.
func (n *Node) GRPCAddr() string { return n.grpcLis.Addr().String() }

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Draining reports whether a graceful shutdown has begun.
func (n *Node) Draining() bool { return n.draining.Load() }

// watchDisk samples free space once a second; below --min-free-disk writes
// are refused (reads go on), so a full disk never corrupts anything.
func (n *Node) watchDisk() {
	defer n.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		n.checkDisk()
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

func (n *Node) checkDisk() {
	free, err := n.cfg.FreeDisk(n.cfg.DataDir)
	if err != nil {
		n.log.Warn("reading free disk space", "err", err)
		return
	}
	low := free < n.cfg.MinFreeDisk
	if n.noSpace.Swap(low) != low {
		if low {
			n.log.Error("free disk below --min-free-disk: refusing writes", "free", free, "min", n.cfg.MinFreeDisk)
		} else {
			n.log.Info("free disk above --min-free-disk again: accepting writes", "free", free)
		}
	}
}

// Stop shuts the node down gracefully: /readyz fails, leadership is handed
// to other replicas, requests in flight drain, storage syncs, then
// everything closes. ctx bounds the leadership handover and the drain.
func (n *Node) Stop(ctx context.Context) error {
	n.draining.Store(true)
	rebalance.HandOff(ctx, rebalanceNode{n}, n.log)
	close(n.stop)
	// First, while the host and the forwarder still run: its calls in
	// flight end (ErrStopped) and answer their engines.
	n.configs.Close()
	// Unary requests drain; the long-lived peer and forwarding streams never
	// end by themselves, so the drain is bounded.
	done := make(chan struct{})
	go func() { n.grpcSrv.GracefulStop(); close(done) }()
	drain := n.clock.NewTicker(drainTimeout)
	select {
	case <-done:
	case <-ctx.Done():
	case <-drain.C():
	}
	drain.Stop()
	n.grpcSrv.Stop()
	<-done
	n.fwd.Close()
	errs := []error{n.host.Close(), n.tr.Close()}
	n.wg.Wait()
	// After the watcher and the rebalancer are gone: they make connections.
	n.conns.Close()
	errs = append(errs, n.store.Sync(), n.store.Close())
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// watchInterval is how often a node reads its meta replica; it gossips
// routes with its peers every other time (routing.Table.Run).
const watchInterval = 500 * time.Millisecond

// drainTimeout bounds how long a stopping node waits for requests in flight.
const drainTimeout = 2 * time.Second

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(f string, a ...any) {
	p.l.Debug(fmt.Sprintf(f, a...), "component", "pebble")
}
func (p pebbleLogger) Errorf(f string, a ...any) {
	p.l.Error(fmt.Sprintf(f, a...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(f string, a ...any) {
	p.l.Error(fmt.Sprintf(f, a...), "component", "pebble")
	os.Exit(1)
}
