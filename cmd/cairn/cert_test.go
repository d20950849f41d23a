package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnkv/cairn/internal/tlsconf"
)

// cairn cert's three subcommands make the files they name, and the CA is
// not made twice.
func TestCertCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	run := func(args ...string) error {
		cmd := certCmd()
		cmd.SetArgs(append(args, "--certs-dir", dir))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		return cmd.Execute()
	}
	for _, args := range [][]string{{"create-ca"}, {"create-node", "127.0.0.1", "localhost"}, {"create-client", "admin"}} {
		if err := run(args...); err != nil {
			t.Fatalf("cairn cert %v: %v", args, err)
		}
	}
	for _, f := range []string{tlsconf.CACert, tlsconf.CAKey, tlsconf.NodeCert, tlsconf.NodeKey, tlsconf.ClientCert("admin"), tlsconf.ClientKey("admin")} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := tlsconf.NewReloader(tlsconf.Files{Cert: filepath.Join(dir, tlsconf.NodeCert), Key: filepath.Join(dir, tlsconf.NodeKey), CA: filepath.Join(dir, tlsconf.CACert)}, nil); err != nil {
		t.Errorf("the node's files do not load: %v", err)
	}
	if err := run("create-ca"); err == nil {
		t.Error("a second create-ca overwrote the CA")
	}
	if err := run("create-node"); err == nil {
		t.Error("create-node without a host succeeded")
	}
}
