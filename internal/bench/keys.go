package bench

import (
	"math/rand/v2"
	"strconv"
)

// keyDigits is the number of decimal digits of the largest key index.
func keyDigits(keys int) int {
	return len(strconv.Itoa(max(keys-1, 0)))
}

// AppendKey appends key i: i in decimal, zero-padded to exactly size bytes.
// The caller checks that size holds i (Config.Validate does).
func AppendKey(dst []byte, i, size int) []byte {
	var buf [20]byte
	d := strconv.AppendInt(buf[:0], int64(i), 10)
	for range size - len(d) {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}

// chooser draws a client's next request: read or write, and which key.
// One per client; not safe for concurrent use.
type chooser struct {
	rng       *rand.Rand
	keys      int
	keySize   int
	readRatio float64
	key       []byte // reused: the request does not keep it
}

func newChooser(seed uint64, client int, c *Config) *chooser {
	return &chooser{rng: rand.New(rand.NewPCG(seed, uint64(client))), keys: c.Keys, keySize: c.KeySize,
		readRatio: c.ReadRatio, key: make([]byte, 0, c.KeySize)}
}

// next returns whether to read, and the key (valid until the next call).
func (ch *chooser) next() (read bool, key []byte) {
	// NB: compare only when reads are possible, so that 0 and 1 are exact.
	read = ch.readRatio > 0 && (ch.readRatio >= 1 || ch.rng.Float64() < ch.readRatio)
	ch.key = AppendKey(ch.key[:0], ch.rng.IntN(ch.keys), ch.keySize)
	return read, ch.key
}
