package tlsconf

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
)

func TestOptionsResolve(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, ""},
		{Options{TrustedCAFile: "ca"}, "need --cert-file"},
		{Options{CertFile: "c"}, "--cert-file and --key-file go together"},
		{Options{CertFile: "c", KeyFile: "k", PeerCertFile: "p"}, "--peer-cert-file and --peer-key-file"},
		{Options{CertFile: "c", KeyFile: "k", ClientCertAuth: true}, "--client-cert-auth needs --trusted-ca-file"},
		{Options{CertFile: "c", KeyFile: "k"}, "--peer-trusted-ca-file"},
		{Options{CertFile: "c", KeyFile: "k", TrustedCAFile: "ca"}, ""},
	} {
		o := c.o
		err := o.Resolve()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Fatalf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	o := Options{CertFile: "c", KeyFile: "k", TrustedCAFile: "ca"}
	if err := o.Resolve(); err != nil {
		t.Fatal(err)
	}
	if o.PeerCertFile != "c" || o.PeerKeyFile != "k" || o.PeerTrustedCAFile != "ca" || o.MinVersion != tls.VersionTLS12 {
		t.Fatalf("defaults: %+v", o)
	}
}

func TestLoad(t *testing.T) {
	if s, err := Load(Options{}, nil); s != nil || err != nil {
		t.Fatalf("no TLS: %v %v", s, err)
	}
	var none *State
	if none.DoorConfig() != nil || none.PeerClientConfig() != nil || none.PortConfig() != nil {
		t.Fatal("a nil State has a TLS config")
	}
	dir := certs(t)
	o := Options{CertFile: filepath.Join(dir, NodeCert), KeyFile: filepath.Join(dir, NodeKey), TrustedCAFile: filepath.Join(dir, CACert), ClientCertAuth: true}
	if err := o.Resolve(); err != nil {
		t.Fatal(err)
	}
	s, err := Load(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.client != s.peer {
		t.Fatal("the same files loaded twice")
	}
	// The reloader verifies in VerifyConnection (the CA can change).
	if c := s.DoorConfig(); c == nil || c.ClientAuth != tls.RequireAnyClientCert || c.VerifyConnection == nil || c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("door config: %+v", c)
	}
	if s.PeerClientConfig() == nil || s.PortConfig() == nil {
		t.Fatal("no peer or port config")
	}
	if _, err := Load(Options{CertFile: "/nonexistent", KeyFile: "/nonexistent", TrustedCAFile: "/nonexistent"}, nil); err == nil {
		t.Fatal("loaded missing files")
	}
}
