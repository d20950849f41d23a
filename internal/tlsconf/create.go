package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names in a certificates directory (cockroach cert's layout).
const (
	CACert   = "ca.crt"
	CAKey    = "ca.key"
	NodeCert = "node.crt"
	NodeKey  = "node.key"
)

// ClientCert and ClientKey are user's files in a certificates directory.
func ClientCert(user string) string { return "client." + user + ".crt" }
func ClientKey(user string) string  { return "client." + user + ".key" }

// DefaultCAValidity and DefaultCertValidity are how long made certificates
// last: ten years for the CA, five for the others (cockroach cert's
// defaults).
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 5 * 365 * 24 * time.Hour
)

// CreateCA makes a CA key at caKey and its self-signed certificate at
// dir/ca.crt. Refuses to overwrite either.
func CreateCA(dir, caKey string, validity time.Duration) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certPath := filepath.Join(dir, CACert)
	if err := absent(certPath, caKey); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl, err := template("Cairn CA", validity)
	if err != nil {
		return err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if err := writeKey(caKey, key); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der, 0o644)
}

// CreateNode makes dir/node.crt and node.key, signed by the CA (dir/ca.crt,
// caKey), for every host (IP addresses and DNS names) in its SANs. A node
// certificate serves clients and peers and dials peers, so it is good for
// both server and client authentication; its common name is "node".
func CreateNode(dir, caKey string, hosts []string, validity time.Duration) error {
	if len(hosts) == 0 {
		return errors.New("tls: a node certificate needs at least one host (IP address or DNS name)")
	}
	return create(dir, caKey, NodeCert, NodeKey, "node", hosts, validity)
}

// CreateClient makes dir/client.<user>.crt and .key, signed by the CA, with
// user as the common name, for client authentication.
func CreateClient(dir, caKey, user string, validity time.Duration) error {
	if user == "" || strings.ContainsAny(user, "/\\ ") {
		return fmt.Errorf("tls: user %q: want a name without spaces or slashes", user)
	}
	return create(dir, caKey, ClientCert(user), ClientKey(user), user, nil, validity)
}

func create(dir, caKey, certName, keyName, cn string, hosts []string, validity time.Duration) error {
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	if err := absent(certPath, keyPath); err != nil {
		return err
	}
	ca, signer, err := loadCA(dir, caKey)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl, err := template(cn, validity)
	if err != nil {
		return err
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if hosts != nil {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, signer)
	if err != nil {
		return err
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der, 0o644)
}

func loadCA(dir, caKey string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACert))
	if err != nil {
		return nil, nil, fmt.Errorf("tls: the CA certificate: %w (make one with cairn cert create-ca)", err)
	}
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return nil, nil, fmt.Errorf("tls: %s holds no PEM certificate", filepath.Join(dir, CACert))
	}
	ca, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: the CA key: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("tls: %s holds no PEM key", caKey)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %s: %w", caKey, err)
	}
	if !key.PublicKey.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("tls: %s is not the key of %s", caKey, filepath.Join(dir, CACert))
	}
	return ca, key, nil
}

func template(cn string, validity time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Cairn"}},
		// NB: an hour back, so a peer whose clock is a little behind
		// does not see a certificate from the future.
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(validity),
	}, nil
}

func absent(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("tls: %s exists; not overwriting it (remove it first)", p)
		}
	}
	return nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
