package client

import (
	"context"
	"encoding/base64"

	"google.golang.org/grpc/credentials"
)

// BasicAuth returns per-RPC credentials that log in as user with
// password on every call (metadata "authorization: Basic …", as HTTP basic
// auth), for a cluster created with --initial-admin-password-file. The
// node remembers a verified login, so the password is hashed once, not
// per call. NB: without TLS the password travels in clear; they are
// allowed then only because a loopback or --insecure cluster may have
// users too.
func BasicAuth(user, password string) credentials.PerRPCCredentials {
	return basicAuth{"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}
}

type basicAuth struct{ header string }

func (b basicAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

func (basicAuth) RequireTransportSecurity() bool { return false }
