package gate

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/auth"
	"github.com/cairnkv/cairn/internal/auth/gate/gatetest"
	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const cluster = "c0ffee"

func newTestUsers(t *testing.T, meta Meta, clk clock.Clock, closed bool) *Users {
	t.Helper()
	return NewUsers(UsersConfig{Meta: meta, Clock: clk, Logger: slog.New(slog.DiscardHandler),
		Registry: prometheus.NewRegistry(), Closed: closed, Timeout: time.Second})
}

func newTestGate(t *testing.T, users *Users, meta Meta, clk clock.Clock) *Gate {
	return New(Config{Users: users, Meta: meta, ClusterID: cluster, Clock: clk, Logger: slog.New(slog.DiscardHandler),
		PeerMethod:  func(m string) bool { return strings.HasPrefix(m, "/peer.") },
		FromCluster: func(context.Context) bool { return false }})
}

func putUser(t *testing.T, u *Users, name string, role auth.Role, password string) {
	t.Helper()
	if err := u.Put(context.Background(), auth.User{Name: name, Role: role, Hash: u.Hash(password)}); err != nil {
		t.Fatal(err)
	}
}

func TestUsersRunMakesAdminAndRequiresLogins(t *testing.T) {
	meta := gatetest.NewMeta()
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	u := newTestUsers(t, meta, clk, false)
	ctx := context.Background()
	if _, err := u.Login(ctx, "h", "admin", "pw"); !errors.Is(err, replica.ErrNotApplied) {
		t.Fatalf("login before the first read: %v, want ErrNotApplied", err)
	}
	if c := u.Check(); c != nil {
		t.Fatalf("an open node has a users check: %+v", c)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); u.Run(stop, "pw") }()
	deadline := time.Now().Add(10 * time.Second)
	for !u.Required() {
		if time.Now().After(deadline) {
			t.Fatal("logins not required after Run with an initial password")
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	<-done
	if c := u.Check(); c == nil || !c.OK {
		t.Fatalf("users check after the first read: %+v", c)
	}
	p, err := u.Login(ctx, "h", "admin", "pw")
	if err != nil || p.User != "admin" || p.Role != auth.RoleAdmin {
		t.Fatalf("admin login: %+v %v", p, err)
	}
	if _, err := u.Login(ctx, "h", "admin", "wrong"); !errors.Is(err, api.ErrWrongPass) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := u.Login(ctx, "h", "nobody", "pw"); !errors.Is(err, api.ErrWrongPass) {
		t.Fatalf("unknown user: %v", err)
	}
	// A second node with the same initial password keeps the admin there is.
	putUser(t, u, "admin", auth.RoleAdmin, "changed")
	u2 := newTestUsers(t, meta, clk, false)
	if err := u2.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !u2.Required() {
		t.Fatal("a node reading the marker does not require logins")
	}
	if _, err := u2.Login(ctx, "h", "admin", "changed"); err != nil {
		t.Fatalf("changed password: %v", err)
	}
}

func TestUsersThrottleAndRefresh(t *testing.T) {
	meta := gatetest.NewMeta()
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	u := newTestUsers(t, meta, clk, true)
	ctx := context.Background()
	putUser(t, u, "bob", auth.RoleRead, "right")
	if err := u.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c := u.Check(); c == nil || c.OK {
		t.Fatalf("a closed node without the marker is ready for logins: %+v", c)
	}
	for range 5 {
		if _, err := u.Login(ctx, "evil", "bob", "guess"); !errors.Is(err, api.ErrWrongPass) {
			t.Fatalf("guess: %v", err)
		}
	}
	if _, err := u.Login(ctx, "evil", "bob", "right"); !errors.Is(err, api.ErrThrottled) {
		t.Fatalf("after five failures: %v, want throttled", err)
	}
	if _, err := u.Login(ctx, "other", "bob", "right"); err != nil {
		t.Fatalf("another address is not throttled: %v", err)
	}
	clk.Advance(2 * time.Second)
	if _, err := u.Login(ctx, "evil", "bob", "right"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	if got := u.List(); len(got) != 1 || got[0].Name != "bob" {
		t.Fatalf("List: %+v", got)
	}
	meta.Fail = errors.New("no leader")
	if err := u.Refresh(ctx); err == nil {
		t.Fatal("Refresh without a meta group succeeded")
	}
	if _, ok := u.Lookup("bob"); !ok {
		t.Fatal("a failed refresh forgot the users")
	}
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestGateGRPC(t *testing.T) {
	meta := gatetest.NewMeta()
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	u := newTestUsers(t, meta, clk, false)
	g := newTestGate(t, u, meta, clk)
	ctx := context.Background()
	if err := u.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := g.authorize(ctx, cairnv1.KV_Put_FullMethodName, nil)
	if p, ok := api.PrincipalOf(c); err != nil || !ok || p != api.Anonymous {
		t.Fatalf("open cluster: %+v %v", p, err)
	}
	u.required.Store(true)
	putUser(t, u, "reader", auth.RoleRead, "r")
	if err := u.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	with := func(auth string) context.Context {
		return metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", auth))
	}
	for _, c := range []struct {
		ctx    context.Context
		method string
		want   codes.Code
	}{
		{ctx, cairnv1.KV_Get_FullMethodName, codes.Unauthenticated},
		{with(basic("reader", "x")), cairnv1.KV_Get_FullMethodName, codes.Unauthenticated},
		{with(basic("reader", "r")), cairnv1.KV_Get_FullMethodName, codes.OK},
		{with(basic("reader", "r")), cairnv1.KV_Get_FullMethodName, codes.OK}, // remembered
		{with(basic("reader", "r")), cairnv1.KV_Put_FullMethodName, codes.PermissionDenied},
		{with(basic("reader", "r")), cairnv1.Admin_Status_FullMethodName, codes.PermissionDenied}, // default deny
		{with("Bearer x"), cairnv1.KV_Get_FullMethodName, codes.Unauthenticated},
		{ctx, "/peer.Raft/Stream", codes.OK}, // without TLS, the peer methods are not the gate's
	} {
		got, err := g.authorize(c.ctx, c.method, nil)
		if status.Code(err) != c.want {
			t.Fatalf("%s: %v, want %v", c.method, err, c.want)
		}
		if err == nil && c.method == cairnv1.KV_Get_FullMethodName {
			if p, _ := api.PrincipalOf(got); p.User != "reader" {
				t.Fatalf("principal %+v", p)
			}
		}
	}
	// A changed password ends a remembered login.
	putUser(t, u, "reader", auth.RoleRead, "new")
	if err := u.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.authorize(with(basic("reader", "r")), cairnv1.KV_Get_FullMethodName, nil); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("old password after a change: %v", err)
	}
}

func TestGateHTTP(t *testing.T) {
	meta := gatetest.NewMeta()
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	u := newTestUsers(t, meta, clk, true)
	g := newTestGate(t, u, meta, clk)
	putUser(t, u, "reader", auth.RoleRead, "r")
	putUser(t, u, "root", auth.RoleAdmin, "a")
	if err := u.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := g.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := api.PrincipalOf(r.Context())
		w.Write([]byte(p.User))
	}))
	for _, c := range []struct {
		method, path, user, password string
		want                         int
	}{
		{"GET", "/livez", "", "", 200},
		{"GET", "/ui/api/node", "", "", 200},
		{"GET", "/ui/api/overview", "", "", 401},
		{"GET", "/ui/", "reader", "r", 200},
		{"GET", "/v1/kv/a", "", "", 401},
		{"GET", "/v1/kv/a", "reader", "bad", 401},
		{"GET", "/v1/kv/a", "reader", "r", 200},
		{"PUT", "/v1/kv/a", "reader", "r", 403},
		{"GET", "/debug/pprof/", "reader", "r", 403},
		{"GET", "/debug/pprof/", "root", "a", 200},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if c.user != "" {
			r.SetBasicAuth(c.user, c.password)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Fatalf("%s %s as %q: %d %s, want %d", c.method, c.path, c.user, w.Code, w.Body, c.want)
		}
		if c.want == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("%s %s: 401 without a challenge", c.method, c.path)
		}
	}
}

func TestJoinTokens(t *testing.T) {
	meta := gatetest.NewMeta()
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	u := newTestUsers(t, meta, clk, true)
	g := newTestGate(t, u, meta, clk)
	ctx := context.Background()
	tok, rec, err := auth.NewJoinToken(cluster, time.Hour, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Propose(ctx, kvPut(rec)); err != nil {
		t.Fatal(err)
	}
	join := func(name, token string, dryRun bool) error {
		c := ctx
		if token != "" {
			c = metadata.NewIncomingContext(ctx, metadata.Pairs(JoinTokenHeader, token))
		}
		_, err := g.authorize(c, cairnv1.Admin_Join_FullMethodName, &cairnv1.JoinRequest{Name: name, DryRun: dryRun})
		return err
	}
	for _, c := range []struct{ token, want string }{
		{"", "joining needs a join token"},
		{"cairn-join1.bogus", "join token malformed"},
	} {
		if err := join("evil", c.token, false); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("token %q: %v, want %q", c.token, err, c.want)
		}
	}
	if err := join("n2", tok, true); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if err := join("n2", tok, false); err != nil {
		t.Fatalf("join: %v", err)
	}
	if err := join("n2", tok, false); err != nil {
		t.Fatalf("the same node again (a retry): %v", err)
	}
	if err := join("n3", tok, false); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("a second node with a used token: %v", err)
	}
	tok2, rec2, _ := auth.NewJoinToken(cluster, time.Minute, clk.Now())
	if _, err := meta.Propose(ctx, kvPut(rec2)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if err := join("n4", tok2, false); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("an expired token: %v", err)
	}
}
