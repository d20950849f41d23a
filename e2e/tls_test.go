//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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
	pw := filepath.Join(t.TempDir(), "admin.pw")
	if err := os.WriteFile(pw, []byte("admin-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startClusterWeb(t, 3, web, "https", append([]string{"--partitions", "8", "--initial-admin-password-file", pw}, tlsArgs(certs)...)...)
	n1 := c.procs[0]
	ca := filepath.Join(certs, "ca.crt")
	login := []string{"--user", "admin", "--password-file", pw}

	if out, err := cairn(t, append([]string{"kv", "put", "color", "blue", "--endpoints", n1.grpc, "--cacert", ca}, login...)...); err != nil {
		t.Fatalf("cairn kv put over TLS: %v %s", err, out)
	}
	if out, err := cairn(t, append([]string{"kv", "get", "color", "--endpoints", c.procs[2].grpc, "--cacert", ca}, login...)...); err != nil || strings.TrimSpace(out) != "blue" {
		t.Fatalf("cairn kv get over TLS: %q %v", out, err)
	}
	if out, err := cairn(t, append([]string{"kv", "get", "color", "--endpoints", n1.grpc, "--timeout", "2s"}, login...)...); err == nil {
		t.Fatalf("plaintext cairn kv get answered %q", out)
	}
	if out, err := cairn(t, append([]string{"kv", "get", "color", "--endpoints", n1.grpc, "--timeout", "2s", "--cacert", filepath.Join(other, "ca.crt")}, login...)...); err == nil {
		t.Fatalf("cairn kv get trusting another CA answered %q", out)
	}
	if out, err := cairn(t, "admin", "status", "--endpoints", n1.grpc, "--cacert", ca, "--cert", filepath.Join(certs, "client.admin.crt"),
		"--key", filepath.Join(certs, "client.admin.key"), "--user", "admin", "--password-file", pw); err != nil || !strings.Contains(out, "n3") {
		t.Fatalf("cairn admin status over TLS with a client certificate: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: c.procs[1].redis, TLSConfig: &tls.Config{RootCAs: caPool(t, certs)}, Username: "admin", Password: "admin-secret"})
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
		out, err := exec.CommandContext(ctx, cli, "-h", host, "-p", port, "--tls", "--cacert", ca, "--no-auth-warning", "--user", "admin", "--pass", "admin-secret", "GET", "color").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "blue" {
			t.Fatalf("redis-cli --tls GET color: %v %q", err, out)
		}
	}

	req, _ := http.NewRequest("GET", "https://"+n1.http+"/v1/kv/color", nil)
	req.SetBasicAuth("admin", "admin-secret")
	resp, err := web.Do(req)
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
	st, err := cairn(t, append([]string{"admin", "status", "--endpoints", n1.grpc, "--cacert", ca, "-o", "json"}, login...)...)
	if err != nil || strings.Contains(st, "evil") {
		t.Fatalf("status after the refused join: %v\n%s", err, st)
	}
}

// A secure cluster as the README starts it (TLS and an initial admin
// password): every door refuses a client without a login and serves one
// with it; a read user made with cairn admin user cannot write; redis-cli
// logs in over TLS.
func TestSecureCluster(t *testing.T) {
	certs := makeCerts(t)
	ca := filepath.Join(certs, "ca.crt")
	pw := filepath.Join(t.TempDir(), "admin.pw")
	if err := os.WriteFile(pw, []byte("admin-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	web := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, certs)}}}
	c := startClusterWeb(t, 3, web, "https", "--partitions", "8",
		"--cert-file", filepath.Join(certs, "node.crt"), "--key-file", filepath.Join(certs, "node.key"), "--trusted-ca-file", ca,
		"--initial-admin-password-file", pw)
	n1 := c.procs[0]
	admin := []string{"--endpoints", n1.grpc, "--cacert", ca, "--user", "admin", "--password-file", pw}

	// A node with TLS requires logins from its start.
	if out, err := exec.Command(binary, "kv", "get", "x", "--endpoints", n1.grpc, "--cacert", ca, "--timeout", "2s").CombinedOutput(); err == nil || !strings.Contains(string(out), "login") {
		t.Fatalf("cairn kv get without a login: %v %s", err, out)
	}
	if out, err := cairn(t, append([]string{"kv", "put", "color", "blue"}, admin...)...); err != nil {
		t.Fatalf("cairn kv put as admin: %v %s", err, out)
	}
	rpw := filepath.Join(t.TempDir(), "reader.pw")
	if err := os.WriteFile(rpw, []byte("reader-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cairn(t, append([]string{"admin", "user", "add", "reader", "--role", "read", "--new-password-file", rpw}, admin...)...); err != nil {
		t.Fatalf("cairn admin user add: %v %s", err, out)
	}
	if out, err := cairn(t, append([]string{"admin", "user", "list", "-o", "json"}, admin...)...); err != nil || !strings.Contains(out, `"reader"`) {
		t.Fatalf("cairn admin user list: %v %s", err, out)
	}
	reader := []string{"--endpoints", c.procs[1].grpc, "--cacert", ca, "--user", "reader", "--password-file", rpw}
	c.waitFor(10*time.Second, "reader to log in on n2", func() bool {
		out, err := cairn(t, append([]string{"kv", "get", "color"}, reader...)...)
		return err == nil && strings.TrimSpace(out) == "blue"
	})
	out, err := exec.Command(binary, append([]string{"kv", "put", "color", "red"}, reader...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "may not") {
		t.Fatalf("cairn kv put as reader: %v %s", err, out)
	}
	if out, err := exec.Command(binary, append([]string{"admin", "status"}, reader...)...).CombinedOutput(); err == nil {
		t.Fatalf("cairn admin status as reader: %s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: c.procs[2].redis, TLSConfig: &tls.Config{RootCAs: caPool(t, certs)}, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Get(ctx, "color").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Fatalf("go-redis GET without a login: %v", err)
	}
	rr := redis.NewClient(&redis.Options{Addr: c.procs[2].redis, TLSConfig: &tls.Config{RootCAs: caPool(t, certs)}, Username: "reader", Password: "reader-secret"})
	defer rr.Close()
	if v, err := rr.Get(ctx, "color").Result(); err != nil || v != "blue" {
		t.Fatalf("go-redis GET as reader: %q %v", v, err)
	}
	if err := rr.Set(ctx, "color", "red", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("go-redis SET as reader: %v", err)
	}
	if cli, err := exec.LookPath("redis-cli"); err != nil {
		t.Log("redis-cli not found (Debian package redis-tools): its login check is skipped")
	} else {
		host, port, _ := strings.Cut(n1.redis, ":")
		base := []string{"-h", host, "-p", port, "--tls", "--cacert", ca, "--no-auth-warning"}
		out, _ := exec.CommandContext(ctx, cli, append(base, "GET", "color")...).CombinedOutput()
		if !strings.Contains(string(out), "NOAUTH") {
			t.Fatalf("redis-cli without a login: %q", out)
		}
		out, err := exec.CommandContext(ctx, cli, append(base, "--user", "admin", "--pass", "admin-secret", "GET", "color")...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "blue" {
			t.Fatalf("redis-cli --user admin GET: %v %q", err, out)
		}
	}

	for _, tc := range []struct {
		path, user, pass string
		want             int
	}{
		{"/readyz", "", "", 200},
		{"/v1/kv/color", "", "", 401},
		{"/v1/kv/color", "reader", "reader-secret", 200},
	} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+n1.http+tc.path, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := web.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s as %q: %d, want %d", tc.path, tc.user, resp.StatusCode, tc.want)
		}
	}

	// The dashboard behind the login: the answering node reaches every
	// peer's figures over HTTPS.
	var ov struct {
		Nodes []struct {
			Name      string `json:"name"`
			Reachable bool   `json:"reachable"`
			Error     string `json:"error"`
		} `json:"nodes"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+n1.http+"/ui/api/overview", nil)
		req.SetBasicAuth("reader", "reader-secret")
		resp, err := web.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&ov)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /ui/api/overview: %d %v", resp.StatusCode, err)
		}
		reachable := 0
		for _, n := range ov.Nodes {
			if n.Reachable {
				reachable++
			}
		}
		if reachable == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard reaches %d of 3 nodes over TLS: %+v", reachable, ov.Nodes)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
