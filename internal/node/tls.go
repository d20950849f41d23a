package node

import (
	"crypto/tls"
	"errors"
	"log/slog"

	"github.com/cairnkv/cairn/internal/tlsconf"
	"github.com/cairnkv/cairn/internal/transport"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLS is the TLS of a node's doors and of its links to peers, with etcd's
// flag names. The zero value is no TLS anywhere.
//
// One certificate serves the three doors (RESP, HTTP and the gRPC port's
// client services); the peer certificate serves and dials node-to-node
// calls on the same gRPC port (tlsconf.SharedPort tells them apart by the
// dialler's ALPN). Certificates reload when their files change.
type TLS struct {
	// CertFile and KeyFile (--cert-file, --key-file) are the doors'
	// certificate and key; both or neither.
	CertFile, KeyFile string
	// TrustedCAFile (--trusted-ca-file) verifies clients' certificates:
	// a client may log in with one (a certificate it presents must verify).
	TrustedCAFile string
	// ClientCertAuth (--client-cert-auth) makes a client certificate
	// that TrustedCAFile verifies required on every door. NB: unlike
	// etcd, a trusted CA alone does not require one (etcd#11124).
	ClientCertAuth bool
	// PeerCertFile, PeerKeyFile and PeerTrustedCAFile (--peer-*) are the
	// certificate a node serves peers and dials them with, and the CA its
	// peers' certificates must verify against. Default: the doors' files
	// (and --trusted-ca-file): one CA, as cairn cert makes.
	PeerCertFile, PeerKeyFile, PeerTrustedCAFile string
	// MinVersion (--tls-min-version) is the oldest TLS accepted, on every
	// door and between peers. Default TLS 1.2 (etcd's and Go's).
	MinVersion uint16
}

// Enabled says whether any certificate is configured.
func (t TLS) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.PeerCertFile != "" || t.PeerKeyFile != ""
}

// resolve fills the peer files from the doors' and checks the
// combination, naming the flags.
func (t *TLS) resolve() error {
	if !t.Enabled() {
		if t.TrustedCAFile != "" || t.ClientCertAuth || t.PeerTrustedCAFile != "" {
			return errors.New("--trusted-ca-file, --client-cert-auth and --peer-trusted-ca-file need --cert-file and --key-file (the certificate this node serves)")
		}
		return nil
	}
	switch {
	case t.CertFile == "" || t.KeyFile == "":
		return errors.New("--cert-file and --key-file go together, and --peer-cert-file needs them too: the gRPC port serves clients and peers")
	case (t.PeerCertFile == "") != (t.PeerKeyFile == ""):
		return errors.New("--peer-cert-file and --peer-key-file go together: give both or neither (default: --cert-file and --key-file)")
	case t.ClientCertAuth && t.TrustedCAFile == "":
		return errors.New("--client-cert-auth needs --trusted-ca-file: the CA that signs the clients' certificates")
	}
	if t.PeerCertFile == "" {
		t.PeerCertFile, t.PeerKeyFile = t.CertFile, t.KeyFile
	}
	if t.PeerTrustedCAFile == "" {
		t.PeerTrustedCAFile = t.TrustedCAFile
	}
	if t.PeerTrustedCAFile == "" {
		return errors.New("TLS between nodes needs the CA that signs their certificates: set --peer-trusted-ca-file (or --trusted-ca-file)")
	}
	if t.MinVersion == 0 {
		t.MinVersion = tls.VersionTLS12
	}
	return nil
}

// tlsState is a node's loaded TLS: nil without TLS.
type tlsState struct {
	cfg          TLS
	client, peer *tlsconf.Reloader
}

// newTLSState loads t (resolved), or is nil without TLS.
func newTLSState(t TLS, log *slog.Logger) (*tlsState, error) {
	if !t.Enabled() {
		return nil, nil
	}
	s := &tlsState{cfg: t}
	var err error
	if s.client, err = tlsconf.NewReloader(tlsconf.Files{Cert: t.CertFile, Key: t.KeyFile, CA: t.TrustedCAFile}, log); err != nil {
		return nil, err
	}
	peerFiles := tlsconf.Files{Cert: t.PeerCertFile, Key: t.PeerKeyFile, CA: t.PeerTrustedCAFile}
	if peerFiles == (tlsconf.Files{Cert: t.CertFile, Key: t.KeyFile, CA: t.TrustedCAFile}) {
		s.peer = s.client
	} else if s.peer, err = tlsconf.NewReloader(peerFiles, log); err != nil {
		return nil, err
	}
	return s, nil
}

// clientAuth is what the doors ask of a client's certificate.
func (s *tlsState) clientAuth() tlsconf.ClientAuth {
	switch {
	case s.cfg.ClientCertAuth:
		return tlsconf.RequireClientCert
	case s.cfg.TrustedCAFile != "":
		return tlsconf.VerifyClientCertIfGiven
	}
	return tlsconf.NoClientCert
}

// doorConfig is the TLS of the RESP and HTTP doors; nil without TLS.
func (s *tlsState) doorConfig() *tls.Config {
	if s == nil {
		return nil
	}
	return s.client.ServerConfig(s.clientAuth(), s.cfg.MinVersion)
}

// peerDialOptions are the options of every connection to a peer: the
// transport's, with the peer certificate when TLS is on.
func (s *tlsState) peerDialOptions() []grpc.DialOption {
	opts := transport.DialOptions()
	if s == nil {
		return opts
	}
	return append(opts, grpc.WithTransportCredentials(credentials.NewTLS(s.peer.PeerClientConfig(s.cfg.MinVersion))))
}

// serverOptions are the gRPC port's TLS (the gate checks that
// node-to-node calls come from a peer): none without TLS.
func (s *tlsState) serverOptions() []grpc.ServerOption {
	if s == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(tlsconf.SharedPort(s.client, s.peer, s.clientAuth(), s.cfg.MinVersion)))}
}

// register exports cairn_tls_cert_expiry_seconds for both certificates.
func (s *tlsState) register(reg prometheus.Registerer) {
	if s == nil {
		return
	}
	reg.MustRegister(tlsconf.ExpiryGauge(s.client, "client"), tlsconf.ExpiryGauge(s.peer, "peer"))
}

// PeerDialOptions are the options a node with t dials a peer with
// (cairn server --join --dry-run asks a member as a joining node would).
func PeerDialOptions(t TLS) ([]grpc.DialOption, error) {
	if err := t.resolve(); err != nil {
		return nil, err
	}
	s, err := newTLSState(t, nil)
	if err != nil {
		return nil, err
	}
	return s.peerDialOptions(), nil
}
