package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Files names a certificate, its private key and the CA bundle that
// verifies the other side of a connection. CA may be empty where the other
// side is not verified by this bundle (a door without client certificates
// verifies nobody; a client then uses the system's roots).
type Files struct {
	Cert, Key, CA string
}

// ClientAuth says whether a server asks for a client certificate.
type ClientAuth int

const (
	// NoClientCert: any client may connect (it authenticates otherwise).
	NoClientCert ClientAuth = iota
	// RequireClientCert: a client must present a certificate the CA
	// bundle verifies (--client-cert-auth; always for peers).
	RequireClientCert
	// VerifyClientCertIfGiven: a client may present a certificate, and
	// one it presents must be one the CA bundle verifies (a door with a
	// --trusted-ca-file but without --client-cert-auth: clients log in
	// with a certificate or a password).
	VerifyClientCertIfGiven
)

// ParseMinVersion reads --tls-min-version: "1.2" or "1.3" (also "TLS1.2",
// "TLS1.3", as etcd spells them).
func ParseMinVersion(s string) (uint16, error) {
	switch strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "TLS") {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version %q: want 1.2 or 1.3", s)
}

// reloadEvery is how often at most a handshake looks at the files.
const reloadEvery = time.Second

// material is one loaded set of files.
type material struct {
	cert     *tls.Certificate
	leaf     *x509.Certificate
	pool     *x509.CertPool // nil without a CA file
	stamp    string         // the files' sizes and modification times
	notAfter time.Time
}

// Reloader serves the current certificate and CA pool of its Files,
// reloading them when they change (doc.go). Safe for concurrent use.
type Reloader struct {
	files Files
	log   *slog.Logger
	now   func() time.Time

	cur       atomic.Pointer[material]
	mu        sync.Mutex // one reload at a time
	lastCheck atomic.Int64
	lastErr   string // guarded by mu: logged once per distinct error
}

// NewReloader loads f, or says which file is missing or wrong.
func NewReloader(f Files, log *slog.Logger) (*Reloader, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("tls: a certificate and its key are both needed")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{files: f, log: log, now: time.Now}
	m, err := load(f)
	if err != nil {
		return nil, err
	}
	r.cur.Store(m)
	r.lastCheck.Store(r.now().UnixNano())
	return r, nil
}

// NotAfter is when the current certificate expires.
func (r *Reloader) NotAfter() time.Time { return r.current().notAfter }

// Leaf is the current certificate.
func (r *Reloader) Leaf() *x509.Certificate { return r.current().leaf }

// current returns the material to use now, reloading first when the files
// changed (looked at no more than once per reloadEvery).
func (r *Reloader) current() *material {
	now := r.now().UnixNano()
	last := r.lastCheck.Load()
	if now-last >= int64(reloadEvery) && r.lastCheck.CompareAndSwap(last, now) {
		_ = r.reload() // NB: logged there; the last good material stays
	}
	return r.cur.Load()
}

// Reload looks at the files now (a SIGHUP; tests), and says why new
// files do not load.
func (r *Reloader) Reload() error {
	r.lastCheck.Store(r.now().UnixNano())
	return r.reload()
}

// reload swaps in the files' material when they changed since it was
// loaded; an error when they changed and do not load.
func (r *Reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	if stamp, err := stampOf(r.files); err == nil && stamp == old.stamp {
		return nil
	}
	m, err := load(r.files)
	if err != nil {
		if msg := err.Error(); msg != r.lastErr {
			r.lastErr = msg
			r.log.Error("tls: certificate files changed but do not load; still serving the last good ones", "err", err)
		}
		return err
	}
	r.lastErr = ""
	r.cur.Store(m)
	r.log.Info("tls: certificate reloaded", "cert", r.files.Cert, "subject", m.leaf.Subject.String(), "not_after", m.notAfter)
	return nil
}

// ServerConfig is the configuration of a listener: the current certificate
// at every handshake and, with RequireClientCert, a client certificate
// verified against the current CA pool.
func (r *Reloader) ServerConfig(auth ClientAuth, minVersion uint16) *tls.Config {
	c := &tls.Config{
		MinVersion: minVersion,
		// NB: Certificates stays empty so that every handshake, with SNI
		// or without (IP addresses), asks GetCertificate: the reload.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.current().cert, nil },
	}
	switch auth {
	case RequireClientCert:
		// Verified in VerifyConnection against the pool of now, not a
		// ClientCAs fixed at start (and VerifyConnection also runs on a
		// resumed session, unlike VerifyPeerCertificate).
		c.ClientAuth = tls.RequireAnyClientCert
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			return r.verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, "")
		}
	case VerifyClientCertIfGiven:
		c.ClientAuth = tls.RequestClientCert
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			return r.verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, "")
		}
	}
	return c
}

// ClientConfig is the configuration of a dialler: it presents the current
// certificate and verifies the server's against the current CA pool and
// the name dialled.
func (r *Reloader) ClientConfig(minVersion uint16) *tls.Config {
	return &tls.Config{
		MinVersion:           minVersion,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.current().cert, nil },
		// NB: not skipped: done in VerifyConnection against the pool of
		// now (the standard check would use a RootCAs fixed here).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return r.verify(cs.PeerCertificates, x509.ExtKeyUsageServerAuth, cs.ServerName)
		},
	}
}

// verify checks a peer's chain against the current pool (the system's
// roots when there is no CA file), for usage, and for name when set.
func (r *Reloader) verify(chain []*x509.Certificate, usage x509.ExtKeyUsage, name string) error {
	if len(chain) == 0 {
		return errors.New("tls: the other side presented no certificate")
	}
	opts := x509.VerifyOptions{Roots: r.current().pool, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: name}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(opts); err != nil {
		return fmt.Errorf("tls: certificate of %q not trusted: %w", chain[0].Subject.CommonName, err)
	}
	return nil
}

func stampOf(f Files) (string, error) {
	var b strings.Builder
	for _, p := range []string{f.Cert, f.Key, f.CA} {
		if p == "" {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), nil
}

// load reads and checks f: the pair matches, the CA bundle holds at least
// one certificate.
func load(f Files) (*material, error) {
	stamp, err := stampOf(f)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %s and %s: %w", f.Cert, f.Key, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls: %s: %w", f.Cert, err)
		}
	}
	m := &material{cert: &pair, leaf: leaf, stamp: stamp, notAfter: leaf.NotAfter}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: %s holds no PEM certificate", f.CA)
		}
	}
	return m, nil
}
