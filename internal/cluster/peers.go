package cluster

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/cairnkv/cairn/internal/storage"
)

// peersPrefix holds one key per peer this node has talked to:
// /n/peers/<name> → its incarnation, 8 bytes big-endian. It lives under /n/
// with the node's identity: it is node-local and never replicated.
const peersPrefix = "/n/peers/"

// PeerKey is the key under which name's incarnation is kept.
func PeerKey(name string) []byte { return []byte(peersPrefix + name) }

// PeerSpan is [start, end) of every PeerKey.
func PeerSpan() (start, end []byte) { return []byte(peersPrefix), []byte("/n/peers0") } // '0' follows '/'

// PeerBook is a transport.PeerBook backed by the store, so a node still
// refuses a wiped peer (one that comes back with a new incarnation) after
// it has restarted itself. Safe for concurrent use.
type PeerBook struct {
	store storage.Store
	mu    struct {
		sync.Mutex
		inc map[string]uint64
	}
}

// NewPeerBook loads every incarnation remembered in store.
func NewPeerBook(store storage.Store) (*PeerBook, error) {
	b := &PeerBook{store: store}
	b.mu.inc = make(map[string]uint64)
	start, end := PeerSpan()
	it, err := store.NewIter(start, end)
	if err != nil {
		return nil, fmt.Errorf("cluster: load peers: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		name := strings.TrimPrefix(string(it.Key()), peersPrefix)
		if len(it.Value()) != 8 {
			return nil, fmt.Errorf("%w: %s%s: %d bytes, want 8", ErrCorrupt, peersPrefix, name, len(it.Value()))
		}
		b.mu.inc[name] = binary.BigEndian.Uint64(it.Value())
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("cluster: load peers: %w", err)
	}
	return b, nil
}

// Incarnation returns the incarnation remembered for name.
func (b *PeerBook) Incarnation(name string) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inc, ok := b.mu.inc[name]
	return inc, ok
}

// Remember stores name's incarnation, synced before it returns. Remembering
// the incarnation already known writes nothing.
//
// NB: the lock is held across the synced write so that two Remembers of the
// same name cannot land on disk in the other order than in memory; peers are
// remembered once per connection, not per request.
func (b *PeerBook) Remember(name string, inc uint64) error {
	if err := ValidName(name); err != nil {
		return fmt.Errorf("cluster: remember peer: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.mu.inc[name]; ok && old == inc {
		return nil
	}
	batch := b.store.NewBatch()
	defer batch.Close()
	if err := batch.Set(PeerKey(name), binary.BigEndian.AppendUint64(nil, inc)); err != nil {
		return fmt.Errorf("cluster: remember peer %s: %w", name, err)
	}
	if err := batch.Commit(true); err != nil {
		return fmt.Errorf("cluster: remember peer %s: %w", name, err)
	}
	b.mu.inc[name] = inc
	return nil
}
