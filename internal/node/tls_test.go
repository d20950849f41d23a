package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"github.com/cairnkv/cairn/internal/testkit"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/tlsconf"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// testCerts makes a CA, a node certificate for 127.0.0.1 and a client
// certificate for "alice" in a fresh directory, as cairn cert does.
func testCerts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	caKey := filepath.Join(dir, tlsconf.CAKey)
	if err := tlsconf.CreateCA(dir, caKey, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := tlsconf.CreateNode(dir, caKey, []string{"127.0.0.1", "localhost"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := tlsconf.CreateClient(dir, caKey, "alice", time.Hour); err != nil {
		t.Fatal(err)
	}
	return dir
}

func nodeTLS(dir string) TLS {
	return TLS{CertFile: filepath.Join(dir, tlsconf.NodeCert), KeyFile: filepath.Join(dir, tlsconf.NodeKey),
		TrustedCAFile: filepath.Join(dir, tlsconf.CACert)}
}

func clientTLS(t *testing.T, dir, user string) *tls.Config {
	t.Helper()
	f := tlsconf.ClientFiles{CA: filepath.Join(dir, tlsconf.CACert)}
	if user != "" {
		f.Cert, f.Key = filepath.Join(dir, tlsconf.ClientCert(user)), filepath.Join(dir, tlsconf.ClientKey(user))
	}
	c, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A cluster with TLS: peers replicate over mTLS, every door serves a
// client that trusts the cluster's CA, and refuses a plaintext client, a
// client that trusts another CA, and node-to-node calls from anything but
// a node certificate of the cluster's CA.
func TestTLSOnEveryDoorAndBetweenPeers(t *testing.T) {
	certs, other := testCerts(t), testCerts(t)
	tn := startNodes(t, 2, 4, func(c *Config) {
		c.TLS = nodeTLS(certs)
		c.InitialAdminPassword = "pw"
		c.HTTPAddr, c.RedisAddr = "127.0.0.1:0", "127.0.0.1:0"
	})
	tn.ready() // NB: groups elect leaders and apply over the peers' mTLS
	n1 := tn.nodes["n1"]
	testkit.WaitFor(t, 10*time.Second, "user admin to be read", func() bool { _, ok := n1.users.Lookup("admin"); return ok })
	d, err := n1.serveDoors()
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("gRPC", func(t *testing.T) {
		c, err := client.NewContext(ctx, []string{n1.GRPCAddr()}, client.Options{TLS: clientTLS(t, certs, ""), User: "admin", Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatalf("put over TLS: %v", err)
		}
		if it, found, err := c.Get(ctx, []byte("k")); err != nil || !found || string(it.Value) != "v" {
			t.Fatalf("get over TLS: %+v %v %v", it, found, err)
		}
		for name, o := range map[string]client.Options{
			"plaintext":    {DialTimeout: 2 * time.Second, User: "admin", Password: "pw"},
			"another CA":   {DialTimeout: 2 * time.Second, TLS: clientTLS(t, other, ""), User: "admin", Password: "pw"},
			"no CA at all": {DialTimeout: 2 * time.Second, TLS: &tls.Config{}, User: "admin", Password: "pw"},
		} {
			if c, err := client.NewContext(ctx, []string{n1.GRPCAddr()}, o); err == nil {
				c.Close()
				t.Errorf("%s client: connected to a TLS node", name)
			}
		}
	})

	t.Run("HTTPS", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, certs, "")}, Timeout: 5 * time.Second}
		defer hc.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+d.HTTP+"/v1/kv/k", nil)
		req.SetBasicAuth("admin", "pw")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "v" {
			t.Fatalf("GET /v1/kv/k over TLS: %d %q", resp.StatusCode, body)
		}
		resp, err = (&http.Client{Timeout: 5 * time.Second}).Get("http://" + d.HTTP + "/v1/kv/k")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Fatal("plaintext GET /v1/kv/k answered 200 on a TLS door")
			}
		}
		other := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, other, "")}, Timeout: 5 * time.Second}
		defer other.CloseIdleConnections()
		if resp, err := other.Get("https://" + d.HTTP + "/livez"); err == nil {
			resp.Body.Close()
			t.Fatal("a client trusting another CA accepted the node's certificate")
		} else if !errors.As(err, new(*tls.CertificateVerificationError)) && !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("want a certificate error, got %v", err)
		}
	})

	t.Run("RESP", func(t *testing.T) {
		rdb := redis.NewClient(&redis.Options{Addr: d.Redis, TLSConfig: clientTLS(t, certs, ""), MaxRetries: -1, Username: "admin", Password: "pw"})
		defer rdb.Close()
		if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
			t.Fatalf("GET k over TLS: %q %v", v, err)
		}
		plain := redis.NewClient(&redis.Options{Addr: d.Redis, MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
		defer plain.Close()
		if v, err := plain.Get(ctx, "k").Result(); err == nil {
			t.Fatalf("plaintext GET k on a TLS door answered %q", v)
		}
	})

	t.Run("peer services", func(t *testing.T) {
		call := func(cfg *tls.Config) error {
			creds := insecure.NewCredentials()
			if cfg != nil {
				creds = credentials.NewTLS(cfg)
			}
			cc, err := grpc.NewClient(n1.GRPCAddr(), grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err = cairnv1.NewPeerClient(cc).SyncRoutes(cctx, &cairnv1.SyncRoutesRequest{})
			return err
		}
		// A client's certificate from the cluster's own CA is a client's,
		// not a node's.
		if err := call(clientTLS(t, certs, "alice")); status.Code(err) != codes.PermissionDenied {
			t.Errorf("Peer.SyncRoutes with a client certificate: %v, want PermissionDenied", err)
		}
		if err := call(clientTLS(t, certs, "")); status.Code(err) != codes.PermissionDenied {
			t.Errorf("Peer.SyncRoutes without a certificate: %v, want PermissionDenied", err)
		}
		// TLS without a login refuses the client services.
		cc, err := grpc.NewClient(n1.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(t, certs, ""))))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		if _, err := cairnv1.NewKVClient(cc).Get(ctx, &cairnv1.GetRequest{Key: []byte("k")}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("KV.Get over TLS without a login: %v, want Unauthenticated", err)
		}
		// A node certificate from another CA fails the handshake.
		r, err := tlsconf.NewReloader(tlsconf.Files{Cert: filepath.Join(other, tlsconf.NodeCert), Key: filepath.Join(other, tlsconf.NodeKey),
			CA: filepath.Join(certs, tlsconf.CACert)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := call(r.PeerClientConfig(tls.VersionTLS12)); status.Code(err) != codes.Unavailable {
			t.Errorf("Peer.SyncRoutes with another CA's node certificate: %v, want a refused handshake", err)
		}
	})

	t.Run("join with another CA's certificate", func(t *testing.T) {
		// It trusts the cluster's CA, so it is the member that refuses.
		evil := nodeTLS(other)
		evil.TrustedCAFile = filepath.Join(certs, tlsconf.CACert)
		cfg := Config{
			Name: "evil", DataDir: t.TempDir(), GRPCAddr: "127.0.0.1:0", Join: n1.GRPCAddr(), InitialAdminPassword: "x",
			TLS: evil, Logger: testLogger(), TickInterval: 20 * time.Millisecond,
		}
		start := time.Now()
		n, err := Start(cfg)
		if err == nil {
			n.Stop(ctx)
			t.Fatal("a node with another CA's certificate joined")
		}
		if !strings.Contains(err.Error(), "TLS handshake failed") {
			t.Fatalf("join refused with %v; want it to name the TLS handshake", err)
		}
		t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if nodes := n1.Cluster().Nodes; len(nodes) != 2 {
			t.Fatalf("members after the refused join: %+v", nodes)
		}
	})
}

// Certificates reload without a restart when their files change.
func TestTLSCertificateReloads(t *testing.T) {
	certs := testCerts(t)
	tn := startNodes(t, 1, 2, func(c *Config) { c.TLS = nodeTLS(certs); c.InitialAdminPassword = "pw" })
	tn.ready()
	n1 := tn.nodes["n1"]
	serial := func() string {
		conn, err := tls.Dial("tcp", n1.GRPCAddr(), &tls.Config{RootCAs: pool(t, certs), NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	for _, f := range []string{tlsconf.NodeCert, tlsconf.NodeKey} {
		if err := os.Remove(filepath.Join(certs, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tlsconf.CreateNode(certs, filepath.Join(certs, tlsconf.CAKey), []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the new certificate to be served", func() bool { return serial() != before })
}

func pool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, tlsconf.CACert))
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pem)
	return p
}

// A cluster with TLS is not created without users.
func TestTLSNeedsUsers(t *testing.T) {
	certs := testCerts(t)
	_, err := Start(Config{Name: "n1", DataDir: t.TempDir(), GRPCAddr: "127.0.0.1:0", TLS: nodeTLS(certs), Logger: testLogger()})
	if err == nil || !strings.Contains(err.Error(), "--initial-admin-password-file") {
		t.Fatalf("TLS without an initial admin password: %v", err)
	}
}
