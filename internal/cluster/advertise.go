package cluster

import "encoding/json"

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
