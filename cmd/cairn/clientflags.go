package main

import (
	"crypto/tls"

	"github.com/cairnkv/cairn/internal/tlsconf"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// addClientTLSFlags adds the TLS flags of every command that talks to a
// cluster (kv, admin, bench), with redis-cli's and curl's names.
func addClientTLSFlags(fs *pflag.FlagSet) {
	fs.String("cacert", "", "CA certificate that verifies the nodes' certificates (cairn cert's ca.crt); any of --cacert/--cert/--key turns TLS on")
	fs.String("cert", "", "client certificate to present, for a cluster started with --client-cert-auth (with --key)")
	fs.String("key", "", "key of --cert")
}

// clientTLS is the TLS configuration the flags ask for: nil (plaintext)
// when none of --cacert, --cert and --key is given.
func clientTLS(fs *pflag.FlagSet) (*tls.Config, error) {
	var f tlsconf.ClientFiles
	f.CA, _ = fs.GetString("cacert")
	f.Cert, _ = fs.GetString("cert")
	f.Key, _ = fs.GetString("key")
	if !f.Enabled() {
		return nil, nil
	}
	c, err := f.Config()
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// grpcDialOptions are the gRPC options the client flags ask for.
func grpcDialOptions(fs *pflag.FlagSet) ([]grpc.DialOption, error) {
	c, err := clientTLS(fs)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if c != nil {
		creds = credentials.NewTLS(c)
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(creds)}, nil
}
