//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// makeCerts runs cairn cert: a CA, a node certificate for loopback and a
// client certificate for admin, in a fresh directory.
func makeCerts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	for _, args := range [][]string{
		{"cert", "create-ca", "--certs-dir", dir},
		{"cert", "create-node", "--certs-dir", dir, "127.0.0.1", "localhost"},
		{"cert", "create-client", "--certs-dir", dir, "admin"},
	} {
		if out, err := exec.Command(binary, args...).CombinedOutput(); err != nil {
			t.Fatalf("cairn %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatal("ca.crt holds no certificate")
	}
	return p
}

// Three processes with TLS on every door and between them (certificates
// from cairn cert): cairn kv, go-redis, redis-cli --tls and HTTPS are
// served; plaintext and a client trusting another CA are refused; a node
// with another CA's certificate cannot join.
func TestTLSCluster(t *testing.T) {
	certs, other := makeCerts(t), makeCerts(t)
	tlsArgs := func(dir string) []string {
		return []string{"--cert-file", filepath.Join(dir, "node.crt"), "--key-file", filepath.Join(dir, "node.key"),
			"--trusted-ca-file", filepath.Join(dir, "ca.crt")}
	}
	web := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, certs)}}}
	c := startClusterWeb(t, 3, web, "https", append([]string{"--partitions", "8"}, tlsArgs(certs)...)...)
	n1 := c.procs[0]
	ca := filepath.Join(certs, "ca.crt")

	if out, err := cairn(t, "kv", "put", "color", "blue", "--endpoints", n1.grpc, "--cacert", ca); err != nil {
		t.Fatalf("cairn kv put over TLS: %v %s", err, out)
	}
	if out, err := cairn(t, "kv", "get", "color", "--endpoints", c.procs[2].grpc, "--cacert", ca); err != nil || strings.TrimSpace(out) != "blue" {
		t.Fatalf("cairn kv get over TLS: %q %v", out, err)
	}
	if out, err := cairn(t, "kv", "get", "color", "--endpoints", n1.grpc, "--timeout", "2s"); err == nil {
		t.Fatalf("plaintext cairn kv get answered %q", out)
	}
	if out, err := cairn(t, "kv", "get", "color", "--endpoints", n1.grpc, "--timeout", "2s", "--cacert", filepath.Join(other, "ca.crt")); err == nil {
		t.Fatalf("cairn kv get trusting another CA answered %q", out)
	}
	if out, err := cairn(t, "admin", "status", "--endpoints", n1.grpc, "--cacert", ca, "--cert", filepath.Join(certs, "client.admin.crt"),
		"--key", filepath.Join(certs, "client.admin.key")); err != nil || !strings.Contains(out, "n3") {
		t.Fatalf("cairn admin status over TLS with a client certificate: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: c.procs[1].redis, TLSConfig: &tls.Config{RootCAs: caPool(t, certs)}})
	defer rdb.Close()
	if v, err := rdb.Get(ctx, "color").Result(); err != nil || v != "blue" {
		t.Fatalf("go-redis GET over TLS: %q %v", v, err)
	}
	plain := redis.NewClient(&redis.Options{Addr: c.procs[1].redis, MaxRetries: -1, ReadTimeout: 2 * time.Second})
	defer plain.Close()
	if v, err := plain.Get(ctx, "color").Result(); err == nil {
		t.Fatalf("plaintext GET answered %q", v)
	}
	if cli, err := exec.LookPath("redis-cli"); err != nil {
		t.Log("redis-cli not found (Debian package redis-tools): its TLS check is skipped")
	} else {
		host, port, _ := strings.Cut(n1.redis, ":")
		out, err := exec.CommandContext(ctx, cli, "-h", host, "-p", port, "--tls", "--cacert", ca, "GET", "color").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "blue" {
			t.Fatalf("redis-cli --tls GET color: %v %q", err, out)
		}
	}

	resp, err := web.Get("https://" + n1.http + "/v1/kv/color")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HTTPS GET /v1/kv/color: %d", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + n1.http + "/v1/kv/color"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plaintext HTTP answered 200 on a TLS door")
		}
	}

	// "evil" with a node certificate from another CA (trusting the
	// cluster's, so it is the member that refuses it).
	evil := []string{"server", "--name", "evil", "--data-dir", filepath.Join(t.TempDir(), "evil"),
		"--grpc-addr", freePort(t), "--http-addr", freePort(t), "--redis-addr", freePort(t), "--join", n1.grpc,
		"--cert-file", filepath.Join(other, "node.crt"), "--key-file", filepath.Join(other, "node.key"), "--trusted-ca-file", ca}
	ectx, ecancel := context.WithTimeout(ctx, 15*time.Second)
	defer ecancel()
	out, err := exec.CommandContext(ectx, binary, evil...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "TLS handshake failed") {
		t.Fatalf("a node with another CA's certificate: %v\n%s", err, out)
	}
	st, err := cairn(t, "admin", "status", "--endpoints", n1.grpc, "--cacert", ca, "-o", "json")
	if err != nil || strings.Contains(st, "evil") {
		t.Fatalf("status after the refused join: %v\n%s", err, st)
	}
}
