package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"github.com/cairnkv/cairn/internal/testkit"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/auth"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A cluster created with an initial admin password (and TLS) requires a
// login on every door, and each role does what it allows and no more.
func TestLoginsAndRoles(t *testing.T) {
	certs := testCerts(t)
	tn := startNodes(t, 2, 4, func(c *Config) {
		c.TLS = nodeTLS(certs)
		c.InitialAdminPassword = "s3cret admin"
		c.HTTPAddr, c.RedisAddr = "127.0.0.1:0", "127.0.0.1:0"
	})
	tn.ready()
	n1, n2 := tn.nodes["n1"], tn.nodes["n2"]
	testkit.WaitFor(t, 10*time.Second, "logins to be required on both nodes", func() bool {
		_, ok1 := n1.users.Lookup("admin")
		_, ok2 := n2.users.Lookup("admin")
		return n1.users.Required() && n2.users.Required() && ok1 && ok2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := auth.NewHasher(1)
	for _, u := range []auth.User{
		{Name: "reader", Role: auth.RoleRead, Hash: h.Hash("r-pass")},
		{Name: "writer", Role: auth.RoleReadWrite, Hash: h.Hash("w-pass")},
	} {
		if err := n1.users.Put(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "the users to reach n2", func() bool {
		_, ok := n2.users.Lookup("reader")
		_, ok2 := n2.users.Lookup("writer")
		return ok && ok2
	})
	d, err := n2.serveDoors()
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	tlsc := clientTLS(t, certs, "")

	t.Run("RESP", func(t *testing.T) {
		dial := func(user, pass string) *redis.Client {
			return redis.NewClient(&redis.Options{Addr: d.Redis, TLSConfig: tlsc, Username: user, Password: pass, MaxRetries: -1})
		}
		anon := dial("", "")
		defer anon.Close()
		if err := anon.Get(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH Authentication required") {
			t.Fatalf("GET before AUTH: %v, want NOAUTH", err)
		}
		bad := dial("admin", "wrong")
		defer bad.Close()
		if err := bad.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
			t.Fatalf("wrong password: %v, want WRONGPASS", err)
		}
		w := dial("writer", "w-pass")
		defer w.Close()
		if err := w.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatalf("SET as writer: %v", err)
		}
		if who, err := w.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || who != "writer" {
			t.Fatalf("ACL WHOAMI: %q %v", who, err)
		}
		if err := w.FlushAll(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM User writer has no permissions to run the 'flushall' command") {
			t.Fatalf("FLUSHALL as writer: %v, want NOPERM", err)
		}
		r := dial("reader", "r-pass")
		defer r.Close()
		if v, err := r.Get(ctx, "k").Result(); err != nil || v != "v" {
			t.Fatalf("GET as reader: %q %v", v, err)
		}
		if err := r.Set(ctx, "k", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Fatalf("SET as reader: %v, want NOPERM", err)
		}
	})

	t.Run("RESP raw", func(t *testing.T) {
		conn, err := tlsDial(d.Redis, tlsc)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		send := func(s string) string {
			t.Helper()
			if _, err := io.WriteString(conn, s); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", s, err)
			}
			return strings.TrimSpace(line)
		}
		if got := send("HELLO 3 AUTH admin x\r\n"); got != "-NOPROTO sorry, this protocol version is not supported." {
			t.Fatalf("HELLO 3: %q", got)
		}
		if got := send("HELLO 2\r\n"); !strings.HasPrefix(got, "-NOAUTH HELLO must be called") {
			t.Fatalf("HELLO 2 before a login: %q", got)
		}
		if got := send("*5\r\n$5\r\nHELLO\r\n$1\r\n2\r\n$4\r\nAUTH\r\n$5\r\nadmin\r\n$12\r\ns3cret admin\r\n"); got != "*14" {
			t.Fatalf("HELLO 2 AUTH admin: %q", got)
		}
		for range 14 * 2 { // the rest of the map, as lines
			br.ReadString('\n')
		}
		// Logged in: the big limits again.
		big := strings.Repeat("x", 100<<10)
		if got := send(fmt.Sprintf("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n", len(big), big)); got != "+OK" {
			t.Fatalf("SET of 100 KiB after a login: %q", got)
		}
	})

	t.Run("RESP limits before a login", func(t *testing.T) {
		conn, err := tlsDial(d.Redis, tlsc)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Only the header of a 1 MiB bulk: refused from it, before any
		// byte of the bulk is read.
		if _, err := io.WriteString(conn, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "-ERR Protocol error") {
			t.Fatalf("a 1 MiB bulk before a login: %q %v", line, err)
		}
		conn2, err := tlsDial(d.Redis, tlsc)
		if err != nil {
			t.Fatal(err)
		}
		defer conn2.Close()
		if _, err := io.WriteString(conn2, "*11\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = conn2.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err = bufio.NewReader(conn2).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "-ERR Protocol error") {
			t.Fatalf("an 11-element array before a login: %q %v", line, err)
		}
	})

	t.Run("gRPC", func(t *testing.T) {
		open := func(user, pass string) (*client.Client, error) {
			return client.NewContext(ctx, []string{n2.GRPCAddr()}, client.Options{TLS: tlsc, User: user, Password: pass, DialTimeout: 5 * time.Second})
		}
		if c, err := open("", ""); status.Code(err) != codes.Unauthenticated {
			if c != nil {
				c.Close()
			}
			t.Fatalf("no login: %v, want Unauthenticated", err)
		}
		if c, err := open("admin", "nope"); status.Code(err) != codes.Unauthenticated {
			if c != nil {
				c.Close()
			}
			t.Fatalf("wrong password: %v, want Unauthenticated", err)
		}
		r, err := open("reader", "r-pass")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if it, found, err := r.Get(ctx, []byte("k")); err != nil || !found || string(it.Value) != "v" {
			t.Fatalf("get as reader: %q %v %v", it.Value, found, err)
		}
		if _, err := r.Put(ctx, []byte("k"), []byte("x")); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("put as reader: %v, want PermissionDenied", err)
		}
		w, err := open("writer", "w-pass")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if _, err := w.Put(ctx, []byte("k2"), []byte("v2")); err != nil {
			t.Fatalf("put as writer: %v", err)
		}
	})

	t.Run("HTTP", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsc}, Timeout: 10 * time.Second}
		defer hc.CloseIdleConnections()
		do := func(method, path, user, pass string) int {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, method, "https://"+d.HTTP+path, strings.NewReader("x"))
			if user != "" {
				req.SetBasicAuth(user, pass)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		for _, c := range []struct {
			method, path, user, pass string
			want                     int
		}{
			{"GET", "/livez", "", "", 200},
			{"GET", "/readyz", "", "", 200},
			{"GET", "/metrics", "", "", 200},
			{"GET", "/v1/kv/k", "", "", 401},
			{"GET", "/v1/kv/k", "reader", "bad", 401},
			{"GET", "/v1/kv/k", "reader", "r-pass", 200},
			{"PUT", "/v1/kv/k", "reader", "r-pass", 403},
			{"PUT", "/v1/kv/k", "writer", "w-pass", 200},
			{"GET", "/debug/pprof/", "writer", "w-pass", 403},
			{"GET", "/debug/pprof/", "admin", "s3cret admin", 200},
		} {
			if got := do(c.method, c.path, c.user, c.pass); got != c.want {
				t.Errorf("%s %s as %q: %d, want %d", c.method, c.path, c.user, got, c.want)
			}
		}
	})
}

func tlsDial(addr string, c *tls.Config) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
}
