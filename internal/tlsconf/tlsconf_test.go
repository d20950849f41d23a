package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// certs makes a CA, a node certificate for 127.0.0.1 and a client
// certificate for "alice" in a fresh directory.
func certs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	caKey := filepath.Join(dir, CAKey)
	if err := CreateCA(dir, caKey, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := CreateNode(dir, caKey, []string{"127.0.0.1", "localhost"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := CreateClient(dir, caKey, "alice", time.Hour); err != nil {
		t.Fatal(err)
	}
	return dir
}

func reloader(t *testing.T, f Files) *Reloader {
	t.Helper()
	r, err := NewReloader(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func nodeFiles(dir string) Files {
	return Files{Cert: filepath.Join(dir, NodeCert), Key: filepath.Join(dir, NodeKey), CA: filepath.Join(dir, CACert)}
}

func clientFiles(dir, user string) Files {
	return Files{Cert: filepath.Join(dir, ClientCert(user)), Key: filepath.Join(dir, ClientKey(user)), CA: filepath.Join(dir, CACert)}
}

// serve accepts TLS connections with cfg, answering each with the common
// name of the client's certificate ("-" without one), until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					return
				}
				name := "-"
				if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
					name = pc[0].Subject.CommonName
				}
				_, _ = io.WriteString(c, name)
			}()
		}
	}()
	return lis.Addr().String()
}

// dial connects with cfg and returns what the server said and the serial
// of the server's certificate.
func dial(addr string, cfg *tls.Config) (string, string, error) {
	cfg = cfg.Clone()
	cfg.ServerName = "127.0.0.1"
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		return "", "", err
	}
	return string(b), c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// Mutual TLS as the peers use it: both sides present certificates the CA
// signed and verify the other's.
func TestMutualTLS(t *testing.T) {
	dir := certs(t)
	node := reloader(t, nodeFiles(dir))
	addr := serve(t, node.ServerConfig(RequireClientCert, tls.VersionTLS12))
	got, _, err := dial(addr, node.ClientConfig(tls.VersionTLS12))
	if err != nil || got != "node" {
		t.Fatalf("node dialling node: %q, %v; want node", got, err)
	}
	alice := reloader(t, clientFiles(dir, "alice"))
	if got, _, err = dial(addr, alice.ClientConfig(tls.VersionTLS12)); err != nil || got != "alice" {
		t.Fatalf("alice dialling node: %q, %v; want alice", got, err)
	}
}

// A certificate from another CA is refused both ways; a client without a
// certificate is refused where one is required and served where not.
func TestForeignCARefused(t *testing.T) {
	dir, other := certs(t), certs(t)
	node := reloader(t, nodeFiles(dir))
	addr := serve(t, node.ServerConfig(RequireClientCert, tls.VersionTLS12))
	stranger := reloader(t, nodeFiles(other))
	if got, _, err := dial(addr, stranger.ClientConfig(tls.VersionTLS12)); err == nil {
		t.Fatalf("a peer of another CA was served: %q", got)
	}
	// The client side refuses a server of another CA.
	strangerAddr := serve(t, stranger.ServerConfig(NoClientCert, tls.VersionTLS12))
	if _, _, err := dial(strangerAddr, node.ClientConfig(tls.VersionTLS12)); err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("dialling a server of another CA: %v, want not trusted", err)
	}
	// No client certificate.
	pool := x509.NewCertPool()
	pool.AddCert(node.Leaf())
	caPEM, _ := os.ReadFile(filepath.Join(dir, CACert))
	pool.AppendCertsFromPEM(caPEM)
	bare := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if got, _, err := dial(addr, bare); err == nil {
		t.Fatalf("a client without a certificate was served where one is required: %q", got)
	}
	open := serve(t, node.ServerConfig(NoClientCert, tls.VersionTLS12))
	if got, _, err := dial(open, bare); err != nil || got != "-" {
		t.Fatalf("a client without a certificate where none is required: %q, %v", got, err)
	}
}

// New files are served without a restart; files that do not load leave the
// last good ones in service.
func TestReloadOnChange(t *testing.T) {
	dir := certs(t)
	f := nodeFiles(dir)
	node := reloader(t, f)
	now := time.Now()
	node.now = func() time.Time { return now }
	addr := serve(t, node.ServerConfig(NoClientCert, tls.VersionTLS12))
	client := reloader(t, clientFiles(dir, "alice"))
	_, serial1, err := dial(addr, client.ClientConfig(tls.VersionTLS12))
	if err != nil {
		t.Fatal(err)
	}
	// Rotate: a new node certificate from the same CA.
	for _, p := range []string{f.Cert, f.Key} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := CreateNode(dir, filepath.Join(dir, CAKey), []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Within a second of the last look the old one is still served...
	if _, serial, err := dial(addr, client.ClientConfig(tls.VersionTLS12)); err != nil || serial != serial1 {
		t.Fatalf("before the reload interval: serial %s, %v; want the old %s", serial, err, serial1)
	}
	// ...and after it the new one.
	now = now.Add(2 * reloadEvery)
	_, serial2, err := dial(addr, client.ClientConfig(tls.VersionTLS12))
	if err != nil || serial2 == serial1 {
		t.Fatalf("after rotation: serial %s, %v; want a new one (old %s)", serial2, err, serial1)
	}
	// A half-written key: the reload fails, the last good pair stays.
	if err := os.WriteFile(f.Key, []byte("-----BEGIN EC PRIVATE KEY-----\ntrunc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := node.Reload(); err == nil {
		t.Fatal("Reload of a broken key succeeded")
	}
	now = now.Add(2 * reloadEvery)
	if _, serial, err := dial(addr, client.ClientConfig(tls.VersionTLS12)); err != nil || serial != serial2 {
		t.Fatalf("with broken files: serial %s, %v; want the last good %s", serial, err, serial2)
	}
}

func TestMinVersion(t *testing.T) {
	dir := certs(t)
	node := reloader(t, nodeFiles(dir))
	addr := serve(t, node.ServerConfig(NoClientCert, tls.VersionTLS13))
	cfg := reloader(t, clientFiles(dir, "alice")).ClientConfig(tls.VersionTLS12)
	cfg.MaxVersion = tls.VersionTLS12
	if _, _, err := dial(addr, cfg); err == nil {
		t.Fatal("a TLS 1.2 client was served by a --tls-min-version 1.3 server")
	}
	for in, want := range map[string]uint16{"1.2": tls.VersionTLS12, "TLS1.3": tls.VersionTLS13, " 1.3 ": tls.VersionTLS13} {
		if got, err := ParseMinVersion(in); err != nil || got != want {
			t.Errorf("ParseMinVersion(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMinVersion("1.1"); err == nil {
		t.Error("ParseMinVersion(1.1) succeeded")
	}
}

// The files made are what cockroach cert makes: keys 0600, nothing
// overwritten, the expiry readable, a CA key that does not match refused.
func TestCreate(t *testing.T) {
	dir := certs(t)
	for _, k := range []string{CAKey, NodeKey, ClientKey("alice")} {
		st, err := os.Stat(filepath.Join(dir, k))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", k, st.Mode().Perm(), err)
		}
	}
	if err := CreateClient(dir, filepath.Join(dir, CAKey), "alice", time.Hour); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("CreateClient over an existing one: %v", err)
	}
	if err := CreateNode(dir, filepath.Join(dir, CAKey), nil, time.Hour); err == nil {
		t.Error("CreateNode without hosts succeeded")
	}
	other := certs(t)
	if err := CreateClient(dir, filepath.Join(other, CAKey), "bob", time.Hour); err == nil || !strings.Contains(err.Error(), "is not the key of") {
		t.Errorf("CreateClient with another CA's key: %v", err)
	}
	r := reloader(t, nodeFiles(dir))
	if left := time.Until(r.NotAfter()); left <= 0 || left > time.Hour {
		t.Errorf("NotAfter in %v, want within the hour made", left)
	}
	if _, err := NewReloader(Files{Cert: filepath.Join(dir, NodeCert), Key: filepath.Join(dir, ClientKey("alice"))}, nil); err == nil {
		t.Error("a certificate with another's key loaded")
	}
	if _, err := NewReloader(Files{Cert: filepath.Join(dir, "missing.crt"), Key: filepath.Join(dir, NodeKey)}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want not exist", err)
	}
}

func TestExpiryGauge(t *testing.T) {
	r := reloader(t, nodeFiles(certs(t)))
	reg := prometheus.NewRegistry()
	reg.MustRegister(ExpiryGauge(r, "peer"))
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "cairn_tls_cert_expiry_seconds" {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
	m := mfs[0].GetMetric()[0]
	if v := m.GetGauge().GetValue(); v <= 0 || v > 3600 {
		t.Errorf("expiry %v s, want within the hour the certificate was made for", v)
	}
	if l := m.GetLabel(); len(l) != 1 || l[0].GetValue() != "peer" {
		t.Errorf("labels %v, want cert=peer", l)
	}
}
