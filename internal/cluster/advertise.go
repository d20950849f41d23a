package cluster

import (
	"encoding/json"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/storage"
)

// Advertised are the addresses a node publishes into the meta group when
// its doors serve (DESIGN.md, Front doors: --advertise-*-addr).
type Advertised struct {
	GRPC  string `json:"grpc"`
	HTTP  string `json:"http"`
	Redis string `json:"redis"`
}

// MetaKeyNodePrefix prefixes the meta group's per-node records.
const MetaKeyNodePrefix = "nodes/"

// AdvertiseKey is the meta group key of node's advertised addresses.
func AdvertiseKey(node string) []byte { return []byte(MetaKeyNodePrefix + node + "/advertise") }

// Encode is the record's JSON.
func (a Advertised) Encode() []byte {
	b, _ := json.Marshal(a)
	return b
}

// DecodeAdvertised parses what Encode wrote.
func DecodeAdvertised(b []byte) (Advertised, error) {
	var a Advertised
	err := json.Unmarshal(b, &a)
	return a, err
}

// ReadAdvertised reads what members published (AdvertiseKey) from a view
// of the meta group's state; a member with no readable record is left out.
func ReadAdvertised(view storage.View, members []Member) map[string]Advertised {
	adv := map[string]Advertised{}
	for _, m := range members {
		if it, ok, err := kv.Get(view, metaSeedGroup, AdvertiseKey(m.Name)); err == nil && ok {
			if a, err := DecodeAdvertised(it.Value); err == nil {
				adv[m.Name] = a
			}
		}
	}
	return adv
}
