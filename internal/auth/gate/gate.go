package gate

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/auth"
	"github.com/cairnkv/cairn/internal/clock"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Config is what a Gate checks with.
type Config struct {
	Users     *Users
	Meta      Meta // the join tokens
	ClusterID string
	Clock     clock.Clock
	Logger    *slog.Logger
	// PeerMethod says which gRPC calls are node-to-node.
	PeerMethod func(fullMethod string) bool
	// VerifyPeer checks a node certificate against the peer CA; nil
	// without TLS.
	VerifyPeer func(chain []*x509.Certificate) error
	// FromCluster says, without TLS, whether a call carries this
	// cluster's ID.
	FromCluster func(ctx context.Context) bool
}

// Gate is the login and permission checks of a node's gRPC and HTTP
// doors (RESP logs in through Users itself, once per connection).
type Gate struct {
	cfg    Config
	logins loginCache
}

// New makes a gate.
func New(cfg Config) *Gate { return &Gate{cfg: cfg} }

// Logins on the gRPC and HTTP doors carry the password with every call
// (gRPC per-RPC credentials, HTTP basic auth), so a verified password is
// remembered (by a digest of user and password) for as long as the user's
// stored hash and role stay what they were: one argon2id per client, not
// one per call, and a changed password or removed user ends it within
// Refresh.
type loginCache struct {
	mu sync.Mutex
	m  map[[32]byte]cachedLogin
}

type cachedLogin struct {
	user, hash string
}

// maxCachedLogins bounds the cache; when full it starts over.
const maxCachedLogins = 10000

// login checks user and password as every door but RESP does (RESP logs
// in once per connection): remembered while the user's record is the
// same.
func (g *Gate) login(ctx context.Context, remote, user, password string) (api.Principal, error) {
	key := sha256.Sum256([]byte(user + "\x00" + password))
	g.logins.mu.Lock()
	c, ok := g.logins.m[key]
	g.logins.mu.Unlock()
	if ok {
		if rec, found := g.cfg.Users.Lookup(user); found && rec.Hash == c.hash {
			return api.Principal{User: rec.Name, Role: rec.Role}, nil
		}
	}
	p, err := g.cfg.Users.Login(ctx, remote, user, password)
	if err != nil {
		return p, err
	}
	if rec, found := g.cfg.Users.Lookup(user); found {
		g.logins.mu.Lock()
		if g.logins.m == nil || len(g.logins.m) >= maxCachedLogins {
			g.logins.m = map[[32]byte]cachedLogin{}
		}
		g.logins.m[key] = cachedLogin{user: user, hash: rec.Hash}
		g.logins.mu.Unlock()
	}
	return p, nil
}

// grpcPerms is what each client call needs. NB: default deny: a method
// not listed here, nodeOnlyMethods or PeerMethod needs admin.
var grpcPerms = map[string]auth.Permission{
	cairnv1.KV_Get_FullMethodName:             auth.PermRead,
	cairnv1.KV_Scan_FullMethodName:            auth.PermRead,
	cairnv1.KV_Batch_FullMethodName:           auth.PermRead, // writes checked per request
	cairnv1.KV_Put_FullMethodName:             auth.PermWrite,
	cairnv1.KV_Delete_FullMethodName:          auth.PermWrite,
	cairnv1.KV_Incr_FullMethodName:            auth.PermWrite,
	cairnv1.Cluster_GetCluster_FullMethodName: auth.PermRead,
}

// nodeOnlyMethods are Admin calls that nodes make to each other on their
// own behalf (the rebalancer's, a joining node's): with TLS, a caller with
// a node certificate of the peer CA may make them without a user. NB: only
// these: a node certificate is never a user (etcd CVE-2018-16886), and
// calls a node passes on for a client carry that client's credentials.
var nodeOnlyMethods = map[string]bool{
	cairnv1.Admin_Ping_FullMethodName:           true,
	cairnv1.Admin_ChangeReplicas_FullMethodName: true,
	cairnv1.Admin_ForceRecover_FullMethodName:   true,
	cairnv1.Admin_CheckGroup_FullMethodName:     true,
	cairnv1.Admin_Join_FullMethodName:           true,
}

// secure says whether this node belongs to a secure cluster: TLS, or
// users. Joining one needs a join token or a node certificate.
func (g *Gate) secure() bool { return g.cfg.VerifyPeer != nil || g.cfg.Users.Required() }

// auditedMethods are logged with who called them (the Security service's
// calls log their own lines).
var auditedMethods = map[string]bool{
	cairnv1.Admin_Drain_FullMethodName:         true,
	cairnv1.Admin_Remove_FullMethodName:        true,
	cairnv1.Admin_UnsafeRecover_FullMethodName: true,
	cairnv1.Admin_ForceRecover_FullMethodName:  true,
}

// checkPeer refuses a node-to-node call that does not come over TLS with
// a node certificate of the peer CA; with TLS only.
func (g *Gate) checkPeer(ctx context.Context, method string) error {
	if g.cfg.VerifyPeer == nil || !g.cfg.PeerMethod(method) {
		return nil
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.PermissionDenied, "node-to-node call without a connection")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return status.Error(codes.PermissionDenied, "node-to-node calls need TLS")
	}
	if err := g.cfg.VerifyPeer(ti.State.PeerCertificates); err != nil {
		return status.Errorf(codes.PermissionDenied, "node-to-node calls need a node certificate signed by the cluster's peer CA (--peer-cert-file): %v", err)
	}
	return nil
}

// authorize returns ctx with the caller's principal, or the error to
// answer: UNAUTHENTICATED without valid credentials on a cluster with
// users, PERMISSION_DENIED when the user's role does not allow method.
// req is a unary call's request (nil for a stream).
func (g *Gate) authorize(ctx context.Context, method string, req any) (context.Context, error) {
	if g.cfg.PeerMethod(method) {
		return ctx, g.checkPeer(ctx, method)
	}
	if method == cairnv1.Admin_Join_FullMethodName && g.secure() && !g.fromNode(ctx) {
		jr, _ := req.(*cairnv1.JoinRequest)
		if err := g.useJoinToken(ctx, jr.GetName(), jr.GetDryRun()); err != nil {
			g.cfg.Logger.Warn("audit: join refused", "node", jr.GetName(), "remote", RemoteHost(ctx), "err", status.Convert(err).Message())
			return ctx, err
		}
		return ctx, nil
	}
	if !g.cfg.Users.Required() {
		return api.WithPrincipal(ctx, api.Anonymous), nil
	}
	if nodeOnlyMethods[method] && g.fromNode(ctx) {
		return ctx, nil
	}
	remote := RemoteHost(ctx)
	user, password, ok := basicFromMetadata(ctx)
	if !ok {
		return ctx, status.Error(codes.Unauthenticated, "this cluster requires a login: give --user and --password-file (Go client: client.Options.User/Password)")
	}
	p, err := g.login(ctx, remote, user, password)
	switch {
	case errors.Is(err, api.ErrWrongPass), errors.Is(err, api.ErrThrottled):
		return ctx, status.Error(codes.Unauthenticated, err.Error())
	case err != nil:
		return ctx, status.Error(codes.Unavailable, err.Error())
	}
	perm, listed := grpcPerms[method]
	if !listed {
		perm = auth.PermAdmin
	}
	if !p.Allows(perm) {
		return ctx, status.Errorf(codes.PermissionDenied, "user %s (role %s) may not call %s", p.User, p.Role, method)
	}
	if auditedMethods[method] {
		g.cfg.Logger.Info("audit: "+method, "by", p.User, "remote", remote)
	}
	return api.WithPrincipal(ctx, p), nil
}

// fromNode says whether the call came over TLS with a node certificate
// of the peer CA; without TLS, whether it carries this cluster's ID (a
// cluster without TLS has no stronger proof: its passwords travel in
// clear too).
func (g *Gate) fromNode(ctx context.Context) bool {
	if g.cfg.VerifyPeer == nil {
		return g.cfg.FromCluster(ctx)
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	return ok && g.cfg.VerifyPeer(ti.State.PeerCertificates) == nil
}

// basicFromMetadata reads "authorization: Basic base64(user:password)".
func basicFromMetadata(ctx context.Context) (user, password string, ok bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if u, p, ok := parseBasic(v); ok {
			return u, p, true
		}
	}
	return "", "", false
}

func parseBasic(v string) (user, password string, ok bool) {
	enc, found := strings.CutPrefix(v, "Basic ")
	if !found || len(enc) > 4096 {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}

// RemoteHost is the host a gRPC call came from.
func RemoteHost(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return hostOf(p.Addr.String())
	}
	return "unknown"
}

// hostOf is the host of a host:port (throttling is per address, not per
// connection).
func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// Audit logs an admin action with who did it.
func Audit(ctx context.Context, log *slog.Logger, action string, attrs ...any) {
	who := "-"
	if p, ok := api.PrincipalOf(ctx); ok {
		who = p.User
	}
	log.Info("audit: "+action, append([]any{"by", who, "remote", RemoteHost(ctx)}, attrs...)...)
}

// ServerOptions are the gRPC port's peer, login and permission checks.
func (g *Gate) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ctx, err := g.authorize(ctx, info.FullMethod, req)
			if err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ctx, err := g.authorize(ss.Context(), info.FullMethod, nil)
			if err != nil {
				return err
			}
			return h(srv, ctxStream{ss, ctx})
		}),
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

// HTTP guards the HTTP door: /livez, /readyz and /metrics answer
// anyone (orchestrators and Prometheus probe them), and so does
// /ui/api/node (a node's own dashboard figures, which /metrics shows too,
// fetched by the node answering a dashboard); /debug/pprof needs
// admin; reads (GET, HEAD) need read and anything else write. A missing
// or wrong login answers 401 with a Basic challenge.
func (g *Gate) HTTP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/livez", "/readyz", "/metrics", "/ui/api/node":
			h.ServeHTTP(w, r)
			return
		}
		if !g.cfg.Users.Required() {
			h.ServeHTTP(w, r.WithContext(api.WithPrincipal(r.Context(), api.Anonymous)))
			return
		}
		user, password, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
			http.Error(w, "this cluster requires a login (HTTP basic auth)", http.StatusUnauthorized)
			return
		}
		p, err := g.login(r.Context(), hostOf(r.RemoteAddr), user, password)
		switch {
		case errors.Is(err, api.ErrWrongPass), errors.Is(err, api.ErrThrottled):
			w.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		case err != nil:
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		perm := auth.PermWrite
		switch {
		case strings.HasPrefix(r.URL.Path, "/debug/"):
			perm = auth.PermAdmin
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			perm = auth.PermRead
		}
		if !p.Allows(perm) {
			http.Error(w, "user "+p.User+" (role "+p.Role.String()+") may not do this", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r.WithContext(api.WithPrincipal(r.Context(), p)))
	})
}
