package keyspace

import "github.com/cespare/xxhash/v2"

// PartitionOf is the partition of key among p: xxhash64 of the key, or of
// the part between the first '{' and the next '}' when that part is
// non-empty (Redis hash tags), mod p.
func PartitionOf(key []byte, p int) int {
	k := key
	for i, c := range key {
		if c != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					k = key[i+1 : j]
				}
				break
			}
		}
		break
	}
	return int(xxhash.Sum64(k) % uint64(p))
}
