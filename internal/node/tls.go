package node

import (
	"github.com/cairnkv/cairn/internal/tlsconf"
	"github.com/cairnkv/cairn/internal/transport"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLS is the TLS of a node's doors and of its links to peers, with etcd's
// flag names (tlsconf.Options). The zero value is no TLS anywhere.
type TLS = tlsconf.Options

// peerDialOptions are the options of every connection to a peer: the
// transport's, with the peer certificate when TLS is on.
func peerDialOptions(s *tlsconf.State) []grpc.DialOption {
	opts := transport.DialOptions()
	if c := s.PeerClientConfig(); c != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(c)))
	}
	return opts
}

// PeerDialOptions are the options a node with t dials a peer with
// (cairn server --join --dry-run asks a member as a joining node would).
func PeerDialOptions(t TLS) ([]grpc.DialOption, error) {
	if err := t.Resolve(); err != nil {
		return nil, err
	}
	s, err := tlsconf.Load(t, nil)
	if err != nil {
		return nil, err
	}
	return peerDialOptions(s), nil
}
