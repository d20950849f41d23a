package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
)

// PeerALPN is the protocol name a node offers, beside "h2", when it dials
// a peer's gRPC port. The port serves clients and peers (DESIGN.md: one
// gRPC port), and a handshake offering PeerALPN is served the peer
// certificate and must present a client certificate the peer CA signed;
// any other is served the client certificate. NB: the protocol agreed on
// is still "h2" (the server never selects PeerALPN), so gRPC is unaffected.
const PeerALPN = "cairn-peer"

// SharedPort is the configuration of a listener that serves clients with
// client's certificate (and, per auth, their certificates verified against
// client's CA) and peers with peer's (their certificates always required
// and verified against peer's CA). peer may be client itself. A handshake
// is a peer's when it offers PeerALPN; what a peer may call is decided
// after the handshake (VerifyPeer), so a client that offers PeerALPN
// without a peer certificate is refused at the handshake, and one that
// does not is served as a client.
func SharedPort(client, peer *Reloader, auth ClientAuth, minVersion uint16) *tls.Config {
	forClients := client.ServerConfig(auth, minVersion)
	forPeers := peer.ServerConfig(RequireClientCert, minVersion)
	forClients.NextProtos = []string{"h2"}
	forPeers.NextProtos = []string{"h2"}
	forPeers.VerifyConnection = func(cs tls.ConnectionState) error { return peer.VerifyPeer(cs.PeerCertificates) }
	return &tls.Config{
		MinVersion: minVersion,
		NextProtos: []string{"h2"},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if slices.Contains(hello.SupportedProtos, PeerALPN) {
				return forPeers, nil
			}
			return forClients, nil
		},
	}
}

// PeerClientConfig is ClientConfig for dialling a peer's shared port: it
// offers PeerALPN so the peer serves its peer certificate and asks for
// ours.
func (r *Reloader) PeerClientConfig(minVersion uint16) *tls.Config {
	c := r.ClientConfig(minVersion)
	c.NextProtos = []string{"h2", PeerALPN}
	return c
}

// VerifyPeer checks that chain (a connection's peer certificates) is a
// node's certificate that r's current CA pool verifies: a node-to-node
// call checks its caller with it, whichever way the handshake went. A
// node's certificate is good for client and server authentication both
// (CreateNode's are), so a client's certificate from the same CA (client
// authentication only, as CreateClient's) is not taken for a node's.
func (r *Reloader) VerifyPeer(chain []*x509.Certificate) error {
	if err := r.verify(chain, x509.ExtKeyUsageClientAuth, ""); err != nil {
		return err
	}
	if err := r.verify(chain, x509.ExtKeyUsageServerAuth, ""); err != nil {
		return fmt.Errorf("tls: %q is not a node certificate (it cannot serve: no server authentication): %w", chain[0].Subject.CommonName, err)
	}
	return nil
}

// ClientFiles are a client's --cacert, --cert and --key (redis-cli's and
// curl's names). All may be empty: the system's roots verify the server
// and no certificate is presented.
type ClientFiles struct {
	CA, Cert, Key string
}

// Enabled says whether any file is given: the client then speaks TLS.
func (f ClientFiles) Enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// Config is the configuration of a client with these files: the server's
// certificate verified against CA (or the system's roots) and the name
// dialled, and Cert presented when the server asks. Loaded once: a
// client's files are read when it starts.
func (f ClientFiles) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("tls: --cert and --key go together: give both or neither")
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("tls: --cert %s and --key %s: %w", f.Cert, f.Key, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("tls: --cacert: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: --cacert %s holds no PEM certificate", f.CA)
		}
	}
	return c, nil
}
