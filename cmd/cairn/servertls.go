package main

import (
	"fmt"
	"os"

	"github.com/cairnkv/cairn/internal/node"
	"github.com/cairnkv/cairn/internal/tlsconf"
	"github.com/spf13/pflag"
)

// addServerTLSFlags adds cairn server's TLS flags, with etcd's names.
func addServerTLSFlags(f *pflag.FlagSet) {
	f.String("cert-file", "", "certificate served on every door (RESP, HTTP, gRPC) to clients; reloaded when the file changes (cairn cert create-node makes one)")
	f.String("key-file", "", "key of --cert-file (unencrypted)")
	f.String("trusted-ca-file", "", "CA that verifies clients' certificates: a client may present one, and must with --client-cert-auth (also the peers' CA unless --peer-trusted-ca-file)")
	f.Bool("client-cert-auth", false, "require a client certificate that --trusted-ca-file verifies on every door")
	f.String("peer-cert-file", "", "certificate this node serves peers and dials them with (default: --cert-file)")
	f.String("peer-key-file", "", "key of --peer-cert-file (default: --key-file)")
	f.String("peer-trusted-ca-file", "", "CA that peers' certificates must verify against: node-to-node calls without one are refused (default: --trusted-ca-file)")
	f.String("tls-min-version", "1.2", "oldest TLS version accepted, on every door and between peers: 1.2 or 1.3")
	f.String("initial-admin-password-file", "", "file holding (first line) the password of user admin, made with role admin when the cluster is created; "+
		"from then on every client must log in (or CAIRN_INITIAL_ADMIN_PASSWORD holding the password itself). Default: a cluster without users")
}

// initialAdminPassword reads --initial-admin-password-file, else
// CAIRN_INITIAL_ADMIN_PASSWORD.
func initialAdminPassword(f *pflag.FlagSet) (string, error) {
	if file, _ := f.GetString("initial-admin-password-file"); file != "" {
		p, err := readPasswordFile(file)
		if err != nil {
			return "", usageError{fmt.Errorf("--initial-admin-password-file: %w", err)}
		}
		return p, nil
	}
	return os.Getenv("CAIRN_INITIAL_ADMIN_PASSWORD"), nil
}

// serverTLS reads the TLS flags; node checks their combination.
func serverTLS(f *pflag.FlagSet) (node.TLS, error) {
	str := func(n string) string { v, _ := f.GetString(n); return v }
	t := node.TLS{
		CertFile: str("cert-file"), KeyFile: str("key-file"), TrustedCAFile: str("trusted-ca-file"),
		PeerCertFile: str("peer-cert-file"), PeerKeyFile: str("peer-key-file"), PeerTrustedCAFile: str("peer-trusted-ca-file"),
	}
	t.ClientCertAuth, _ = f.GetBool("client-cert-auth")
	v, err := tlsconf.ParseMinVersion(str("tls-min-version"))
	if err != nil {
		return t, usageError{err}
	}
	t.MinVersion = v
	return t, nil
}
