package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cairnkv/cairn/client"

	"github.com/cairnkv/cairn/internal/tlsconf"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// addClientFlags adds the TLS and login flags of every command that
// talks to a cluster (kv, admin, bench), with redis-cli's and curl's
// names.
func addClientFlags(fs *pflag.FlagSet) {
	addClientLoginFlags(fs)
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

// grpcDialOptions are the gRPC options the client flags ask for: TLS,
// and a login with --user.
func grpcDialOptions(fs *pflag.FlagSet) ([]grpc.DialOption, error) {
	c, err := clientTLS(fs)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if c != nil {
		creds = credentials.NewTLS(c)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	user, password, err := clientLogin(fs)
	if err != nil {
		return nil, err
	}
	if user != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(client.BasicAuth(user, password)))
	}
	return opts, nil
}

// addClientLoginFlags adds --user and --password-file (also CAIRN_USER,
// CAIRN_PASSWORD_FILE, and CAIRN_PASSWORD for the password itself).
func addClientLoginFlags(fs *pflag.FlagSet) {
	fs.String("user", "", "user to log in as, on a cluster with users (or CAIRN_USER)")
	fs.String("password-file", "", "file holding --user's password (its first line; or CAIRN_PASSWORD holding the password itself)")
}

// clientLogin is the user and password the flags give; "" user: none.
func clientLogin(fs *pflag.FlagSet) (user, password string, err error) {
	user, _ = fs.GetString("user")
	file, _ := fs.GetString("password-file")
	if user == "" {
		if file != "" {
			return "", "", usageError{errors.New("--password-file needs --user")}
		}
		return "", "", nil
	}
	switch {
	case file != "":
		if password, err = readPasswordFile(file); err != nil {
			return "", "", usageError{fmt.Errorf("--password-file: %w", err)}
		}
	case os.Getenv("CAIRN_PASSWORD") != "":
		password = os.Getenv("CAIRN_PASSWORD")
	default:
		return "", "", usageError{errors.New("--user needs --password-file (or CAIRN_PASSWORD)")}
	}
	return user, password, nil
}

// readPasswordFile reads a password: the file's first line, without its
// line ending.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s holds no password", path)
	}
	return line, nil
}
