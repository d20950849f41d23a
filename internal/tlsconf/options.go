package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Options is the TLS of a node's doors and of its links to peers, with etcd's
// flag names. The zero value is no TLS anywhere.
//
// One certificate serves the three doors (RESP, HTTP and the gRPC port's
// client services); the peer certificate serves and dials node-to-node
// calls on the same gRPC port (SharedPort tells them apart by the
// dialler's ALPN). Certificates reload when their files change.
type Options struct {
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
func (t Options) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.PeerCertFile != "" || t.PeerKeyFile != ""
}

// Resolve fills the peer files from the doors' and checks the
// combination, naming the flags.
func (t *Options) Resolve() error {
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

// State is a node's loaded TLS: nil without TLS.
type State struct {
	cfg          Options
	client, peer *Reloader
}

// Load loads t (resolved), or is nil without TLS.
func Load(t Options, log *slog.Logger) (*State, error) {
	if !t.Enabled() {
		return nil, nil
	}
	s := &State{cfg: t}
	var err error
	if s.client, err = NewReloader(Files{Cert: t.CertFile, Key: t.KeyFile, CA: t.TrustedCAFile}, log); err != nil {
		return nil, err
	}
	peerFiles := Files{Cert: t.PeerCertFile, Key: t.PeerKeyFile, CA: t.PeerTrustedCAFile}
	if peerFiles == (Files{Cert: t.CertFile, Key: t.KeyFile, CA: t.TrustedCAFile}) {
		s.peer = s.client
	} else if s.peer, err = NewReloader(peerFiles, log); err != nil {
		return nil, err
	}
	return s, nil
}

// clientAuth is what the doors ask of a client's certificate.
func (s *State) clientAuth() ClientAuth {
	switch {
	case s.cfg.ClientCertAuth:
		return RequireClientCert
	case s.cfg.TrustedCAFile != "":
		return VerifyClientCertIfGiven
	}
	return NoClientCert
}

// DoorConfig is the TLS of the RESP and HTTP doors; nil without TLS.
func (s *State) DoorConfig() *tls.Config {
	if s == nil {
		return nil
	}
	return s.client.ServerConfig(s.clientAuth(), s.cfg.MinVersion)
}

// DoorClientConfig is what a node dials another node's RESP or HTTP door
// with (its --cert-file certificate, the server verified against
// --trusted-ca-file): nil without TLS.
func (s *State) DoorClientConfig() *tls.Config {
	if s == nil {
		return nil
	}
	return s.client.ClientConfig(s.cfg.MinVersion)
}

// PeerClientConfig is what a node dials its peers with: nil without TLS.
func (s *State) PeerClientConfig() *tls.Config {
	if s == nil {
		return nil
	}
	return s.peer.PeerClientConfig(s.cfg.MinVersion)
}

// PortConfig is the gRPC port's TLS, which serves clients the doors'
// certificate and peers the peer certificate (SharedPort): nil without TLS.
func (s *State) PortConfig() *tls.Config {
	if s == nil {
		return nil
	}
	return SharedPort(s.client, s.peer, s.clientAuth(), s.cfg.MinVersion)
}

// VerifyPeer checks a node certificate chain against the peer CA.
func (s *State) VerifyPeer(chain []*x509.Certificate) error { return s.peer.VerifyPeer(chain) }

// Register exports cairn_tls_cert_expiry_seconds for both certificates.
func (s *State) Register(reg prometheus.Registerer) {
	if s == nil {
		return
	}
	reg.MustRegister(ExpiryGauge(s.client, "client"), ExpiryGauge(s.peer, "peer"))
}
