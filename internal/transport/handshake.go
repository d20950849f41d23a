package transport

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/grpc/metadata"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// Errors callers may branch on.
var (
	// ErrClosed is returned by SendSnapshot after Close.
	ErrClosed = errors.New("transport: closed")
	// ErrChunkTooLarge fails a snapshot whose header or a chunk exceeds
	// MaxChunkSize.
	ErrChunkTooLarge = errors.New("transport: snapshot chunk larger than MaxChunkSize (1 MiB); send smaller chunks")
	// ErrUnreachable is returned by SendSnapshot when the node has no
	// address, or (LocalNetwork) when the link to it drops.
	ErrUnreachable = errors.New("transport: node unreachable")
	// ErrRefused wraps every handshake refusal found on this side; a refusal
	// by the peer arrives as a gRPC FailedPrecondition status with the same
	// text.
	ErrRefused = errors.New("transport: handshake refused")
)

// Snapshot response-header keys carrying the callee's hello.
const (
	mdClusterID   = "cairn-cluster-id"
	mdName        = "cairn-name"
	mdIncarnation = "cairn-incarnation"
)

// hello is what this node says first on a stream to target.
func (t *GRPC) hello(target string) *cairnv1.PeerHello {
	return &cairnv1.PeerHello{
		ClusterId:   t.cfg.ClusterID[:],
		Name:        t.cfg.Name,
		Incarnation: t.cfg.Incarnation,
		Target:      target,
		Settings:    t.cfg.Settings,
	}
}

// checkHello accepts or refuses a peer's hello. want is the name we dialled
// (the caller checking the callee's answer), or "" for the callee, which
// checks that the caller meant to reach it. A name seen for the first time
// has its incarnation remembered.
func (t *GRPC) checkHello(h *cairnv1.PeerHello, want string) error {
	if h == nil || h.GetName() == "" {
		return fmt.Errorf("%w: the peer's first message carries no hello", ErrRefused)
	}
	if !bytes.Equal(h.GetClusterId(), t.cfg.ClusterID[:]) {
		return fmt.Errorf("%w: node %q belongs to cluster %x, node %q to cluster %x; check --initial-cluster-token and the peer addresses",
			ErrRefused, h.GetName(), h.GetClusterId(), t.cfg.Name, t.cfg.ClusterID[:])
	}
	if h.GetSettings() != "" && t.cfg.Settings != "" && h.GetSettings() != t.cfg.Settings {
		return fmt.Errorf("%w: node %q holds cluster settings %s, node %q holds %s; every founder must be started with the same --partitions, --replicas, --engine, --vnodes and --load-factor",
			ErrRefused, h.GetName(), h.GetSettings(), t.cfg.Name, t.cfg.Settings)
	}
	if want != "" && h.GetName() != want {
		return fmt.Errorf("%w: dialled node %q but reached node %q; check the peer addresses", ErrRefused, want, h.GetName())
	}
	if want == "" && h.GetTarget() != t.cfg.Name {
		return fmt.Errorf("%w: node %q meant to reach node %q but reached node %q; check the peer addresses",
			ErrRefused, h.GetName(), h.GetTarget(), t.cfg.Name)
	}
	// NB: one lock around check-and-remember, so two first contacts with
	// different incarnations cannot both be accepted.
	t.handshakeMu.Lock()
	defer t.handshakeMu.Unlock()
	known, ok := t.cfg.Peers.Incarnation(h.GetName())
	switch {
	case !ok:
		if err := t.cfg.Peers.Remember(h.GetName(), h.GetIncarnation()); err != nil {
			return fmt.Errorf("transport: remembering the incarnation of node %q: %w", h.GetName(), err)
		}
	case known != h.GetIncarnation():
		return fmt.Errorf("%w: node %q lost its data (incarnation %d, known %d); add it back with --join",
			ErrRefused, h.GetName(), h.GetIncarnation(), known)
	}
	t.markKnown(h.GetName(), h.GetIncarnation())
	return nil
}

// helloMD is the callee's hello on a snapshot stream, as response headers.
func (t *GRPC) helloMD() metadata.MD {
	return metadata.Pairs(
		mdClusterID, hex.EncodeToString(t.cfg.ClusterID[:]),
		mdName, t.cfg.Name,
		mdIncarnation, strconv.FormatUint(t.cfg.Incarnation, 10),
	)
}

// helloFromMD reads helloMD back; ok is false when the headers carry no
// hello (the callee failed before answering it).
func helloFromMD(md metadata.MD, target string) (h *cairnv1.PeerHello, ok bool) {
	get := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	name := get(mdName)
	if name == "" {
		return nil, false
	}
	id, _ := hex.DecodeString(get(mdClusterID))
	inc, _ := strconv.ParseUint(get(mdIncarnation), 10, 64)
	return &cairnv1.PeerHello{ClusterId: id, Name: name, Incarnation: inc, Target: target}, true
}
