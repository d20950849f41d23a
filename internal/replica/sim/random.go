package sim

import (
	cryptorand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"
)

// SeedCryptoRand replaces crypto/rand.Reader, for the whole process, with a
// stream drawn from seed, and returns what puts the real one back. An
// engine may draw from crypto/rand.Reader (raft draws its randomized
// election timeouts there), so a run replays exactly only with it seeded. Tests use
// testing/cryptotest.SetGlobalRandom instead; this is for a process that
// runs simulations and nothing that needs real randomness (a soak command).
func SeedCryptoRand(seed uint64) (restore func()) {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:8], seed)
	prev := cryptorand.Reader
	cryptorand.Reader = &lockedReader{r: rand.NewChaCha8(s)}
	return func() { cryptorand.Reader = prev }
}

type lockedReader struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func (l *lockedReader) Read(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(b)
}
